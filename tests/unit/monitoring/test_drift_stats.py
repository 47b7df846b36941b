"""Statistics core of skew/drift monitoring: baseline, distances, comparison, persistence."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from pipeline.errors import MonitoringError
from pipeline.monitoring.columns import THREADED_ROWS, numeric_column
from pipeline.monitoring.compare import compare, drift_between
from pipeline.monitoring.distance import js_divergence, l_infinity
from pipeline.monitoring.histogram import ValueSketch
from pipeline.monitoring.stats import BaselineStats, NumericStats, compute_baseline
from pipeline.tools.synth import generate_customers
from pipeline.training.schema import FEATURES, NUMERIC_FEATURES

counts_vectors = st.integers(min_value=1, max_value=12).flatmap(
    lambda size: st.tuples(
        st.lists(st.integers(0, 1000), min_size=size, max_size=size).filter(any),
        st.lists(st.integers(0, 1000), min_size=size, max_size=size).filter(any),
    )
)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_customers(4000, seed=1)


@pytest.fixture(scope="module")
def current() -> pd.DataFrame:
    return generate_customers(3000, seed=2)


@pytest.fixture(scope="module")
def baseline(reference: pd.DataFrame) -> BaselineStats:
    scores = np.random.default_rng(0).beta(2, 5, len(reference))
    return compute_baseline(reference, scores)


def _as_log_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(str)


def _feature(result, name: str) -> dict:
    return result.to_dict()["features"][name]


# --- distances -----------------------------------------------------------------------


def test_js_divergence_matches_scipy_squared_distance() -> None:
    p, q = np.array([10, 0, 5, 85]), np.array([40, 30, 0, 30])
    expected = jensenshannon(p, q, base=2) ** 2
    assert js_divergence(p, q) == pytest.approx(expected, abs=1e-12)
    assert js_divergence(p, q) != pytest.approx(jensenshannon(p, q, base=2))


def test_js_divergence_of_disjoint_distributions_is_one() -> None:
    assert js_divergence(np.array([3, 0]), np.array([0, 7])) == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(counts_vectors)
def test_js_divergence_properties(vectors: tuple[list[int], list[int]]) -> None:
    p, q = (np.array(v) for v in vectors)
    value = js_divergence(p, q)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-9)
    assert value == pytest.approx(js_divergence(q, p), abs=1e-12)
    assert js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)


def test_l_infinity_by_hand() -> None:
    # frequencies a: .5 vs .8, b: .5 vs .1, c: 0 vs .1  ->  max |diff| = .4
    assert l_infinity(np.array([50, 50, 0]), np.array([80, 10, 10])) == pytest.approx(0.4)


@settings(max_examples=200, deadline=None)
@given(counts_vectors)
def test_l_infinity_properties(vectors: tuple[list[int], list[int]]) -> None:
    p, q = (np.array(v) for v in vectors)
    value = l_infinity(p, q)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(l_infinity(q, p))
    assert l_infinity(p, p) == 0.0
    assert value == pytest.approx(np.max(np.abs(p / p.sum() - q / q.sum())))


# --- baseline --------------------------------------------------------------------------


def test_numeric_histogram_is_tfdvs_standard_histogram(reference: pd.DataFrame,
                                                       baseline: BaselineStats) -> None:
    values = pd.to_numeric(reference["MonthlyCharges"], errors="coerce").to_numpy()
    edges = np.linspace(values.min(), values.max(), 11)
    # TFDV: first bucket [e0, e1], the others (low, high]: an edge value counts below it
    counts = [int(np.sum((values >= edges[0]) & (values <= edges[1])))]
    counts += [int(np.sum((values > low) & (values <= high)))
               for low, high in zip(edges[1:-1], edges[2:], strict=True)]
    stats = baseline.features["MonthlyCharges"]
    assert isinstance(stats, NumericStats)
    assert list(stats.counts) == counts
    assert np.allclose(stats.edges, edges)
    assert stats.mean == pytest.approx(values.mean())
    assert stats.std == pytest.approx(values.std())


def test_text_numbers_are_coerced_and_blanks_counted_missing(reference: pd.DataFrame) -> None:
    typed = compute_baseline(reference, None, 20)
    text = compute_baseline(_as_log_text(reference), None, 20)
    for name, stats in typed.features.items():
        parsed = text.features[name]
        if isinstance(stats, NumericStats):  # weighted and plain moments differ in the last bits
            assert isinstance(parsed, NumericStats)
            assert (parsed.edges, parsed.counts, parsed.missing) == (
                stats.edges, stats.counts, stats.missing)
            assert (parsed.mean, parsed.std) == pytest.approx((stats.mean, stats.std))
        else:
            assert parsed == stats
    blanks = int((reference["TotalCharges"].str.strip() == "").sum())
    assert blanks > 0
    assert text.features["TotalCharges"].missing == blanks


def test_categorical_counts(reference: pd.DataFrame, baseline: BaselineStats) -> None:
    expected = reference["Contract"].value_counts().to_dict()
    assert baseline.features["Contract"].counts == expected
    assert baseline.score is not None and baseline.score.rows == len(reference)


@pytest.mark.parametrize(
    "raw",
    [
        ["1", " ", "", None, "x", "2.5", " 3 ", "inf"],
        [f"{i}.25" for i in range(6000)] + [" ", "", None],  # many distinct: Arrow parse
        [f"{i}.25" for i in range(6000)] + ["abc", " 7 "],  # Arrow parse falls back
    ],
)
def test_numeric_coercion_matches_pandas_to_numeric(raw: list) -> None:
    series = pd.Series(raw, dtype="str")
    column = numeric_column(series)
    expected = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    expected = expected[np.isfinite(expected)]
    weights = column.weights if column.weights is not None else np.ones(column.values.size, int)
    assert np.array_equal(np.sort(np.repeat(column.values, weights)), np.sort(expected))
    assert column.missing == len(raw) - expected.size


# --- comparison ------------------------------------------------------------------------


def test_shifted_contract_drifts_and_gender_does_not(
    baseline: BaselineStats, current: pd.DataFrame
) -> None:
    shifted = current.copy()
    rng = np.random.default_rng(3)
    shifted["Contract"] = rng.choice(["Month-to-month", "One year", "Two year"],
                                     size=len(shifted), p=[0.95, 0.03, 0.02])
    result = compare(baseline, _as_log_text(shifted), {}, 0.3, 30)
    assert _feature(result, "Contract")["drifted"] is True
    assert _feature(result, "Contract")["value"] > 0.3
    assert _feature(result, "gender")["drifted"] is False
    assert _feature(result, "gender")["value"] < 0.05
    assert result.to_dict()["drifted_features"] == ["Contract"]


def test_same_population_does_not_drift(baseline: BaselineStats, current: pd.DataFrame) -> None:
    result = compare(baseline, current, {}, 0.3, 30)
    assert result.status == "ok"
    assert result.drifted_features == []
    assert all(0 <= f["value"] < 0.3 for f in result.to_dict()["features"].values())


def test_identical_data_gives_zero(reference: pd.DataFrame, baseline: BaselineStats) -> None:
    result = compare(baseline, reference, {}, 0.3, 30)
    assert {f["value"] for f in result.to_dict()["features"].values()} == {0.0}


def test_per_feature_threshold(baseline: BaselineStats, current: pd.DataFrame) -> None:
    shifted = current.assign(Contract="Two year")
    result = compare(baseline, shifted, {"Contract": 0.99}, 0.3, 30)
    assert _feature(result, "Contract")["threshold"] == 0.99
    assert _feature(result, "Contract")["drifted"] is False
    assert _feature(result, "gender")["threshold"] == 0.3


def test_out_of_range_values_are_counted_and_part_of_the_distance() -> None:
    reference = pd.DataFrame({"tenure": np.tile(np.arange(0, 73), 10)})
    base = compute_baseline(reference, None, 4, features=["tenure"])
    current_values = [-5.0] * 3 + [100.0] * 7 + [float(v) for v in range(0, 73)]
    current = pd.DataFrame({"tenure": [f"{v:g}" for v in current_values]})
    drift = _feature(compare(base, current, {}, 0.3, 30, bins=4), "tenure")
    assert (drift["below_range"], drift["above_range"], drift["out_of_range"]) == (3, 7, 10)
    expected = reference_js(np.tile(np.arange(0.0, 73), 10), np.array(current_values), 4)
    assert drift["value"] == pytest.approx(expected, abs=1e-12)
    assert drift["value"] > 0


def test_unseen_categories_are_counted_named_and_part_of_the_distance() -> None:
    reference = pd.DataFrame({"gender": ["Female"] * 50 + ["Male"] * 50})
    base = compute_baseline(reference, None, 20, features=["gender"])
    current = pd.DataFrame({"gender": ["Female"] * 40 + ["Male"] * 40 + ["Other"] * 15
                            + ["X"] * 5 + [None] * 3 + [" "] * 2})
    drift = _feature(compare(base, current, {}, 0.3, 30), "gender")
    assert drift["unseen"] == 20
    assert drift["unseen_categories"] == {"Other": 15, "X": 5}
    assert drift["missing"] == 5
    # frequencies over the 100 labelled rows: Female .5/.4, Male .5/.4, Other 0/.15, X 0/.05
    assert drift["value"] == pytest.approx(0.15)


def test_missing_values_are_reported(baseline: BaselineStats, current: pd.DataFrame) -> None:
    holes = current.copy()
    holes.loc[holes.index[:100], "MonthlyCharges"] = np.nan
    holes["PaymentMethod"] = holes["PaymentMethod"].where(holes.index >= 40, None)
    result = compare(baseline, holes, {}, 0.3, 30)
    assert _feature(result, "MonthlyCharges")["missing"] == 100
    assert _feature(result, "MonthlyCharges")["current_rows"] == len(holes) - 100
    assert _feature(result, "PaymentMethod")["missing"] == 40


def test_chunked_equals_one_shot() -> None:
    reference = generate_customers(THREADED_ROWS + 5000, seed=4)
    current = _as_log_text(generate_customers(THREADED_ROWS + 1000, seed=5))
    scores = np.random.default_rng(6).random(len(current))
    base = compute_baseline(reference, np.random.default_rng(7).random(len(reference)), 20)
    whole = compare(base, current, {}, 0.3, 30, current_scores=scores)
    step = 7919
    chunks = (current.iloc[i:i + step] for i in range(0, len(current), step))
    score_chunks = (scores[i:i + step] for i in range(0, len(scores), step))
    chunked = compare(base, chunks, {}, 0.3, 30, current_scores=score_chunks)
    assert chunked.to_dict() == whole.to_dict()
    assert whole.score is not None and whole.rows == len(current)


def test_not_enough_data(baseline: BaselineStats, current: pd.DataFrame) -> None:
    result = compare(baseline, current.head(10), {}, 0.3, 30).to_dict()
    assert result["status"] == "not_enough_data"
    assert result["rows"] == 10
    assert result["drifted_features"] == []
    for drift in result["features"].values():
        assert (drift["value"], drift["drifted"], drift["status"]) == (None, False, "not_enough_data")


def test_empty_chunk_stream_is_not_enough_data(baseline: BaselineStats) -> None:
    result = compare(baseline, iter([]), {}, 0.3, 30)
    assert (result.status, result.rows) == ("not_enough_data", 0)


def test_missing_features_are_named(baseline: BaselineStats, current: pd.DataFrame) -> None:
    with pytest.raises(MonitoringError, match="Contract, TotalCharges"):
        compare(baseline, current.drop(columns=["Contract", "TotalCharges"]), {}, 0.3, 30)


def test_another_models_data_is_refused(baseline: BaselineStats) -> None:
    other = pd.DataFrame({"age": [30] * 50, "income": [1.0] * 50})
    with pytest.raises(MonitoringError, match="another model"):
        compare(baseline, other, {}, 0.3, 30)


def test_score_drift(baseline: BaselineStats, current: pd.DataFrame) -> None:
    high = np.random.default_rng(8).beta(8, 2, len(current))
    result = compare(baseline, current, {}, 0.3, 30, current_scores=high).to_dict()
    assert result["score"]["statistic"] == "jensen_shannon"
    assert result["score"]["drifted"] is True
    same = np.random.default_rng(9).beta(2, 5, len(current))
    unshifted = compare(baseline, current, {}, 0.3, 30, current_scores=same).score
    assert unshifted is not None and unshifted.drifted is False


def test_scores_must_match_rows(baseline: BaselineStats, current: pd.DataFrame) -> None:
    with pytest.raises(MonitoringError, match="rows"):
        compare(baseline, current, {}, 0.3, 30, current_scores=np.full(5, 0.5))


def test_result_contract_shape(baseline: BaselineStats, current: pd.DataFrame) -> None:
    result = compare(baseline, current, {}, 0.3, 30).to_dict()
    assert set(result) == {"features", "score", "rows", "status", "drifted_features"}
    assert list(result["features"]) == list(FEATURES)
    for name, drift in result["features"].items():
        assert {"statistic", "value", "threshold", "drifted"} <= set(drift)
        expected = "jensen_shannon" if name in NUMERIC_FEATURES else "l_infinity"
        assert drift["statistic"] == expected
    json.dumps(result, allow_nan=False)


def test_score_histogram_is_over_the_scores_own_range(baseline: BaselineStats) -> None:
    assert baseline.score is not None
    assert (baseline.score.edges[0], baseline.score.edges[-1]) == (baseline.score.min, baseline.score.max)
    assert len(baseline.score.counts) == 10


def test_drift_between_windows(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    later = current.assign(MonthlyCharges=current["MonthlyCharges"] + 60)
    result = drift_between(reference, later)
    assert result.drifted_features == ["MonthlyCharges"]
    assert _feature(result, "MonthlyCharges")["above_range"] > 0
    assert drift_between(reference, reference).drifted_features == []


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-5, 80), st.floats(-1e6, 1e6),
                      st.sampled_from(["", " ", "12", "abc"])),
            st.one_of(st.none(), st.sampled_from(["Female", "Male", "", "Other"])),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_any_window_compared_with_itself_gives_zero(rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["tenure", "gender"], dtype=object)
    result = drift_between(frame, frame, min_rows=1, features=["tenure", "gender"])
    for drift in result.to_dict()["features"].values():
        assert drift["value"] in (None, 0.0)
        assert drift.get("out_of_range", 0) == 0 and drift.get("unseen", 0) == 0


# --- TFDV's numeric Jensen-Shannon divergence --------------------------------------------
# A plain, loop-by-loop transcription of TFDV 1.16 (utils/quantiles_util.py builds the
# STANDARD histogram, anomalies/metrics.cc aligns and compares), with exact counts, to check
# the vectorised code against.


def reference_histogram(values: list[float], buckets: int) -> list[tuple[float, float, float]]:
    """(low, high, count) buckets: equal width over [min, max]; [e0, e1] then (low, high]."""
    low, high = min(values), max(values)
    if low == high:
        return [(low, high, float(len(values)))]
    edges = np.linspace(low, high, buckets + 1).tolist()
    result = []
    for index in range(buckets):
        a, b = edges[index], edges[index + 1]
        count = sum(1 for v in values if (a <= v if index == 0 else a < v) and v <= b)
        result.append((a, b, float(count)))
    return result


def reference_align(first: list[tuple], second: list[tuple]) -> tuple[list[float], list[float]]:
    """metrics.cc AlignHistograms: strip point buckets, re-cut on the union of boundaries
    (count spread by width), then one bucket per point value."""
    def strip(histogram):
        return ([b for b in histogram if b[0] != b[1]],
                {b[0]: b[2] for b in histogram if b[0] == b[1]})

    (one, one_points), (two, two_points) = strip(first), strip(second)
    boundaries = sorted({v for b in one + two for v in b[:2]})

    def rebucket(histogram):
        out = []
        for a, b in zip(boundaries, boundaries[1:], strict=False):
            count = 0.0
            for low, high, total in histogram:
                if low <= a and b <= high:
                    count = (b - a) / (high - low) * total
            out.append(count)
        return out

    points = sorted(set(one_points) | set(two_points))
    return (rebucket(one) + [one_points.get(p, 0.0) for p in points],
            rebucket(two) + [two_points.get(p, 0.0) for p in points])


def reference_js(reference: np.ndarray, current: np.ndarray, buckets: int = 10) -> float:
    p, q = reference_align(reference_histogram(list(reference), buckets),
                           reference_histogram(list(current), buckets))
    p = [v / sum(p) for v in p]
    q = [v / sum(q) for v in q]
    m = [(a + b) / 2 for a, b in zip(p, q, strict=False)]
    kl = lambda x: sum(a * math.log2(a / c) for a, c in zip(x, m, strict=False) if a > 0)  # noqa: E731
    return min((kl(p) + kl(q)) / 2, 1.0)


def _numeric_js(reference: list[float], current: list[float], buckets: int = 10) -> float | None:
    base = compute_baseline(pd.DataFrame({"tenure": reference}), None, buckets, features=["tenure"])
    drift = compare(base, pd.DataFrame({"tenure": current}), {}, 0.3, 1, bins=buckets)
    return drift.features["tenure"].value


def test_tfdv_contraction_into_a_sub_range_by_hand() -> None:
    # reference 0,1,3,4: edges 0,2,4, counts [2, 2]; current 1,2: edges 1,1.5,2, counts [1, 1].
    # Union of edges 0,1,1.5,2,4. Reference's [0,2] bucket spreads by width: 1, .5, .5; then 2.
    #   P = [.25, .125, .125, .5]   Q = [0, .5, .5, 0]   M = [.125, .3125, .3125, .25]
    #   KL(P||M) = .25*1 + 2*.125*log2(.4) + .5*1 = .75 + .25*log2(.4) = 0.419518
    #   KL(Q||M) = 2*.5*log2(1.6) = 0.678072            JS = (0.419518 + 0.678072) / 2 = 0.548795
    expected = (0.75 + 0.25 * math.log2(0.4) + math.log2(1.6)) / 2
    assert expected == pytest.approx(0.548795, abs=1e-6)
    assert _numeric_js([0, 1, 3, 4], [1, 2], buckets=2) == pytest.approx(expected, abs=1e-12)


def test_tfdv_range_shift_by_hand() -> None:
    # reference 0..100 (101 integers): edges 0,10,..,100, counts [11, 10 x 9] (0..10 in the
    # closed first bucket); current 50..150: edges 50,60,..,150, counts [11, 10 x 9].
    # The union of edges is 0,10,..,150: nothing to split. Buckets 0-50: reference only
    # (51/101 of P, each term p*log2(2) = p); 100-150: current only (50/101 of Q);
    # 50-60: p = 10/101, q = 11/101, m = 10.5/101; 60-100 equal.
    #   JS = (51/101 + 10/101*log2(10/10.5) + 50/101 + 11/101*log2(11/10.5)) / 2 = 0.500170
    expected = (51 / 101 + 10 / 101 * math.log2(10 / 10.5) + 50 / 101 + 11 / 101 * math.log2(11 / 10.5)) / 2
    assert expected == pytest.approx(0.500170, abs=1e-6)
    assert _numeric_js(list(range(0, 101)), list(range(50, 151))) == pytest.approx(expected, abs=1e-12)


def test_tfdv_edge_values_count_in_the_bucket_below() -> None:
    # edges 0,2,4: 0 -> [0,2]; 2 -> [0,2] (not [2,4] as np.histogram would put it); 4 -> (2,4]
    base = compute_baseline(pd.DataFrame({"tenure": [0, 2, 2, 4]}), None, 2, features=["tenure"])
    assert base.features["tenure"].edges == (0.0, 2.0, 4.0)
    assert base.features["tenure"].counts == (3, 1)


def test_tfdv_constant_columns() -> None:
    # min == max: one point bucket [5, 5]. Two point buckets at the same value: JS 0.
    base = compute_baseline(pd.DataFrame({"tenure": [5] * 4}), None, 10, features=["tenure"])
    assert (base.features["tenure"].edges, base.features["tenure"].counts) == ((5.0, 5.0), (4,))
    assert _numeric_js([5] * 4, [5] * 2) == 0.0
    # TFDV keeps a point bucket apart from interval buckets, even one that covers it:
    # P = [0, 0, 1] (point 5), Q = [2/3, 1/3, 0] (buckets [4,5], (5,6]) -> disjoint -> 1.0
    assert _numeric_js([5] * 4, [4, 5, 6], buckets=2) == 1.0
    assert _numeric_js([5] * 4, [7] * 3) == 1.0


def test_tfdv_disjoint_ranges_give_one_and_identical_data_zero() -> None:
    assert _numeric_js([0, 1, 2, 3], [10, 11, 12, 13]) == pytest.approx(1.0)
    assert _numeric_js([0, 1, 2, 3, 3.5], [0, 1, 2, 3, 3.5]) == 0.0


def test_tfdv_split_buckets_match_the_reference_implementation() -> None:
    # edges that do not line up: reference 0..9 in 3 buckets, current 2..14 in 3 buckets
    reference, current = [float(v) for v in range(10)], [2.0, 3.5, 6, 8, 8, 11, 14]
    assert _numeric_js(reference, current, 3) == pytest.approx(reference_js(
        np.array(reference), np.array(current), 3), abs=1e-12)


tfdv_samples = st.lists(st.one_of(st.integers(-20, 20).map(float), st.floats(-50, 50)),
                        min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(tfdv_samples, tfdv_samples, st.integers(1, 12))
def test_numeric_js_equals_the_reference_implementation(reference: list[float], current: list[float],
                                                        buckets: int) -> None:
    expected = reference_js(np.array(reference), np.array(current), buckets)
    assert _numeric_js(reference, current, buckets) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(tfdv_samples, st.integers(1, 12))
def test_baseline_histogram_equals_the_reference_implementation(values: list[float],
                                                                buckets: int) -> None:
    base = compute_baseline(pd.DataFrame({"tenure": values}), None, buckets, features=["tenure"])
    stats = base.features["tenure"]
    expected = reference_histogram(values, buckets)
    assert list(stats.edges) == [expected[0][0]] + [bucket[1] for bucket in expected]
    assert list(stats.counts) == [int(bucket[2]) for bucket in expected]


# --- the bounded value sketch -------------------------------------------------------------


def test_sketch_is_exact_over_chunks_while_distinct_values_fit() -> None:
    rng = np.random.default_rng(11)
    values = rng.integers(0, 73, 5000).astype(float)
    sketch = ValueSketch(buffer_values=100, max_distinct=128)
    for start in range(0, values.size, 37):
        chunk = values[start:start + 37]
        unique, counts = np.unique(chunk, return_counts=True)
        sketch.add(unique, counts.astype(float)) if start % 2 else sketch.add(chunk)
    edges, counts = sketch.histogram(10)
    assert sketch.resolution == 0
    assert counts.tolist() == [bucket[2] for bucket in reference_histogram(list(values), 10)]
    assert edges.tolist() == np.linspace(0, 72, 11).tolist()


def test_sketch_past_its_distinct_limit_stays_bounded_and_close() -> None:
    values = np.random.default_rng(12).normal(50, 10, 20_000)
    sketch = ValueSketch(buffer_values=1000, max_distinct=512)
    for start in range(0, values.size, 1000):
        sketch.add(values[start:start + 1000])
    edges, counts = sketch.histogram(10)
    assert sketch.resolution > 0
    assert sketch._table[0].size <= 512
    assert (sketch.min, sketch.max) == (values.min(), values.max())
    exact = [bucket[2] for bucket in reference_histogram(list(values), 10)]
    assert counts.sum() == pytest.approx(values.size)
    # only the cells that straddle one of the 9 inner edges can move mass
    cell_mass = values.size * sketch.resolution / (values.max() - values.min()) * 4
    assert np.max(np.abs(counts - exact)) <= 2 * cell_mass


# --- persistence ---------------------------------------------------------------------


def test_round_trip(tmp_path, baseline: BaselineStats, current: pd.DataFrame) -> None:
    path = baseline.save(tmp_path / "baseline_stats.json")
    loaded = BaselineStats.load(path)
    assert loaded == baseline
    assert BaselineStats.from_dict(json.loads(path.read_text())) == baseline
    assert compare(loaded, current, {}, 0.3, 30).to_dict() == compare(
        baseline, current, {}, 0.3, 30).to_dict()


def _corrupt(document: dict, how: str) -> dict | str:
    broken = json.loads(json.dumps(document))
    if how == "truncated":
        return json.dumps(document)[:200]
    if how == "no_features":
        del broken["features"]
    elif how == "other_version":
        broken["schema_version"] = 99
    elif how == "other_kind":
        broken["kind"] = "evaluation-metrics"
    elif how == "short_counts":
        broken["features"]["tenure"]["counts"].pop()
    elif how == "bad_type":
        broken["features"]["gender"]["type"] = "text"
    elif how == "negative_count":
        broken["features"]["gender"]["counts"]["Male"] = -1
    return broken


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "corrupt JSON"),
        ("no_features", "features must be an object"),
        ("other_version", "schema version 99"),
        ("other_kind", "not a baseline statistics file"),
        ("short_counts", "tenure"),
        ("bad_type", "unknown type 'text'"),
        ("negative_count", "non-negative"),
    ],
)
def test_load_rejects_bad_files(tmp_path, baseline: BaselineStats, how: str, message: str) -> None:
    path = tmp_path / "baseline_stats.json"
    broken = _corrupt(baseline.to_dict(), how)
    path.write_text(broken if isinstance(broken, str) else json.dumps(broken))
    with pytest.raises(MonitoringError, match=message) as caught:
        BaselineStats.load(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    children = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, list) else [])
    found = [prefix]
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_damage_to_the_file_is_a_monitoring_error_or_a_valid_baseline(data) -> None:
    small = compute_baseline(pd.DataFrame({"tenure": [1, 5, 9], "gender": ["Male"] * 3}), None, 2,
                             features=["tenure", "gender"])
    document = small.to_dict()
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(json_values)
    try:
        BaselineStats.from_dict(json.loads(json.dumps(document)))
    except MonitoringError as exc:
        assert "\n" not in str(exc)


def test_load_missing_file(tmp_path) -> None:
    with pytest.raises(MonitoringError, match="not found"):
        BaselineStats.load(tmp_path / "nope.json")
