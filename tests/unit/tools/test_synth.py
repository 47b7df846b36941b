"""The synthetic generator must look, parse and behave like the public Telco churn file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from pipeline.tools import synth
from pipeline.training import schema

SAMPLE_PATH = Path(__file__).resolve().parents[3] / "data" / "sample" / "customer_churn.csv"
SAMPLE_ROWS = 7_043
SAMPLE_SEED = 42
ADDONS = tuple(name for name, values in schema.CATEGORICAL_VALUES.items() if values == schema.INTERNET_ADDON)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return synth.generate_customers(SAMPLE_ROWS, SAMPLE_SEED)


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return synth.generate_customers(200_000, seed=7)


def churn_rate(frame: pd.DataFrame) -> float:
    return float((frame[schema.LABEL_COLUMN] == "Yes").mean())


def read_as_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_columns_follow_public_file_order(sample: pd.DataFrame) -> None:
    assert tuple(sample.columns) == schema.COLUMNS
    assert len(sample) == SAMPLE_ROWS


def test_column_types_match_reading_the_public_file(sample: pd.DataFrame) -> None:
    assert sample["SeniorCitizen"].dtype == np.int64
    assert sample["tenure"].dtype == np.int64
    assert sample["MonthlyCharges"].dtype == np.float64
    for column in (*schema.CATEGORICAL_FEATURES, "TotalCharges", schema.ID_COLUMN, "Churn"):
        assert pd.api.types.is_string_dtype(sample[column]), column
    assert not sample.isna().any().any()


@pytest.mark.parametrize("column", schema.CATEGORICAL_FEATURES)
def test_category_values_are_exactly_the_allowed_set(sample: pd.DataFrame, column: str) -> None:
    assert set(sample[column]) == set(schema.CATEGORICAL_VALUES[column])


def test_label_and_senior_values(sample: pd.DataFrame) -> None:
    assert set(sample[schema.LABEL_COLUMN]) == set(schema.LABEL_VALUES)
    assert set(sample["SeniorCitizen"]) == {0, 1}
    assert 0.13 < sample["SeniorCitizen"].mean() < 0.19


def test_no_phone_service_exactly_when_no_phone(large: pd.DataFrame) -> None:
    no_phone = large["PhoneService"] == "No"
    assert ((large["MultipleLines"] == "No phone service") == no_phone).all()
    assert 0.07 < no_phone.mean() < 0.13
    # As in the public file: every customer without phone service has DSL.
    assert (large.loc[no_phone, "InternetService"] == "DSL").all()


@pytest.mark.parametrize("addon", ADDONS)
def test_no_internet_service_exactly_when_no_internet(large: pd.DataFrame, addon: str) -> None:
    no_internet = large["InternetService"] == "No"
    assert ((large[addon] == "No internet service") == no_internet).all()


def test_tenure_is_whole_months_and_u_shaped(large: pd.DataFrame) -> None:
    tenure = large["tenure"]
    assert tenure.between(0, 72).all()
    counts = tenure.value_counts()
    middle = counts.loc[20:50].mean()
    assert counts[1] > 3 * middle
    assert counts[72] > 2 * middle
    assert 0 < counts.get(0, 0) < 0.005 * len(large)
    assert 28 < tenure.mean() < 36


def test_total_charges_blank_exactly_when_tenure_zero(large: pd.DataFrame) -> None:
    blank = large["TotalCharges"] == " "
    assert blank.any()
    assert (blank == (large["tenure"] == 0)).all()


def test_total_charges_text_is_formatted_like_public_file(large: pd.DataFrame) -> None:
    billed = large.loc[large["tenure"] > 0, "TotalCharges"]
    # "1889.5", "108.15", "20": no trailing zeros, at most two decimals.
    assert billed.str.fullmatch(r"[1-9]\d*(\.\d?[1-9])?").all()


def test_total_charges_close_to_tenure_times_monthly(large: pd.DataFrame) -> None:
    billed = large[large["tenure"] > 0]
    ratio = billed["TotalCharges"].astype(float) / (billed["tenure"] * billed["MonthlyCharges"])
    assert ratio.between(0.84, 1.16).all()
    assert 0.02 < ratio.std() < 0.06
    first_month = billed[billed["tenure"] == 1]
    assert (first_month["TotalCharges"].astype(float) == first_month["MonthlyCharges"]).all()


def test_monthly_charges_range_and_consistency_with_services(large: pd.DataFrame) -> None:
    monthly = large["MonthlyCharges"]
    assert monthly.between(18.0, 119.0).all()
    assert np.allclose(monthly * 20, np.round(monthly * 20))  # steps of 0.05
    by_internet = large.groupby("InternetService")["MonthlyCharges"].mean()
    assert by_internet["No"] < 30 < by_internet["DSL"] < by_internet["Fiber optic"]
    addons_taken = (large[list(ADDONS)] == "Yes").sum(axis=1)
    fiber = large["InternetService"] == "Fiber optic"
    assert monthly[fiber & (addons_taken == 6)].min() > monthly[fiber & (addons_taken == 0)].max()


def test_customer_ids_have_public_format_and_are_unique(large: pd.DataFrame) -> None:
    ids = large[schema.ID_COLUMN]
    assert ids.str.fullmatch(r"\d{4}-[A-Z]{5}").all()
    assert ids.is_unique


def test_customer_ids_do_not_repeat_across_sizes() -> None:
    # A small frame is not just a prefix pattern; its IDs are unique on their own too.
    ids = synth.generate_customers(50, seed=3)[schema.ID_COLUMN]
    assert ids.is_unique and ids.str.fullmatch(r"\d{4}-[A-Z]{5}").all()


def test_same_seed_gives_identical_frame() -> None:
    pd.testing.assert_frame_equal(synth.generate_customers(2_000, seed=11), synth.generate_customers(2_000, seed=11))


def test_different_seed_gives_different_frame() -> None:
    first = synth.generate_customers(2_000, seed=11)
    second = synth.generate_customers(2_000, seed=12)
    assert not first[schema.ID_COLUMN].equals(second[schema.ID_COLUMN])
    assert not first["tenure"].equals(second["tenure"])
    assert not first["Churn"].equals(second["Churn"])


def test_zero_rows_gives_empty_frame_with_schema() -> None:
    empty = synth.generate_customers(0)
    assert empty.empty and tuple(empty.columns) == schema.COLUMNS


def test_negative_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="rows"):
        synth.generate_customers(-1)


def test_churn_rate_like_public_file(sample: pd.DataFrame, large: pd.DataFrame) -> None:
    assert 0.22 <= churn_rate(sample) <= 0.31
    assert 0.24 <= churn_rate(large) <= 0.29


@pytest.mark.parametrize(
    ("column", "more_churn", "less_churn"),
    [
        ("Contract", "Month-to-month", "One year"),
        ("Contract", "One year", "Two year"),
        ("InternetService", "Fiber optic", "DSL"),
        ("InternetService", "DSL", "No"),
        ("PaymentMethod", "Electronic check", "Credit card (automatic)"),
        ("PaymentMethod", "Electronic check", "Mailed check"),
        ("PaperlessBilling", "Yes", "No"),
        ("SeniorCitizen", 1, 0),
        ("OnlineSecurity", "No", "Yes"),
        ("TechSupport", "No", "Yes"),
        ("Dependents", "No", "Yes"),
    ],
)
def test_churn_effects_point_the_public_file_way(
    large: pd.DataFrame, column: str, more_churn: object, less_churn: object
) -> None:
    more = churn_rate(large[large[column] == more_churn])
    less = churn_rate(large[large[column] == less_churn])
    assert more > less + 0.05, (column, more, less)


def test_month_to_month_churns_far_more_than_two_year(large: pd.DataFrame) -> None:
    by_contract = large.groupby("Contract")["Churn"].apply(lambda churn: (churn == "Yes").mean())
    assert by_contract["Month-to-month"] > 0.35
    assert by_contract["Two year"] < 0.06


def test_short_tenure_churns_more(large: pd.DataFrame) -> None:
    churned = large["Churn"] == "Yes"
    assert large.loc[churned, "tenure"].mean() < large.loc[~churned, "tenure"].mean() - 15
    assert churn_rate(large[large["tenure"].between(1, 6)]) > 0.4
    assert churn_rate(large[large["tenure"] >= 60]) < 0.12


def test_logistic_regression_separates_sample_like_public_file(sample: pd.DataFrame) -> None:
    features = sample.drop(columns=[schema.ID_COLUMN, schema.LABEL_COLUMN])
    features["TotalCharges"] = pd.to_numeric(features["TotalCharges"], errors="coerce").fillna(0)
    features = pd.get_dummies(features, columns=list(schema.CATEGORICAL_FEATURES), dtype=float)
    labels = (sample[schema.LABEL_COLUMN] == "Yes").astype(int)
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.2, random_state=42)
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=1_000).fit(scaler.transform(x_train), y_train)
    auc = roc_auc_score(y_test, model.predict_proba(scaler.transform(x_test))[:, 1])
    assert 0.78 <= auc <= 0.90


def test_written_csv_is_formatted_like_public_file(tmp_path: Path) -> None:
    frame = synth.generate_customers(3_000, seed=5)
    path = synth.write_customers(frame, tmp_path / "nested" / "customers.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(schema.COLUMNS)
    assert len(lines) == 3_001
    assert '"' not in "".join(lines)
    assert all(line.count(",") == len(schema.COLUMNS) - 1 for line in lines)
    blank_rows = [line for line in lines[1:] if line.split(",")[5] == "0"]
    assert blank_rows and all(line.split(",")[19] == " " for line in blank_rows)
    assert not list(path.parent.glob("*.tmp"))


def test_written_csv_reads_back_to_the_same_values(tmp_path: Path) -> None:
    frame = synth.generate_customers(3_000, seed=5)
    back = pd.read_csv(synth.write_customers(frame, tmp_path / "customers.csv"))
    assert list(back.columns) == list(schema.COLUMNS)
    assert back["tenure"].tolist() == frame["tenure"].tolist()
    assert back["SeniorCitizen"].tolist() == frame["SeniorCitizen"].tolist()
    assert np.array_equal(back["MonthlyCharges"].to_numpy(), frame["MonthlyCharges"].to_numpy())
    assert back["TotalCharges"].tolist() == frame["TotalCharges"].tolist()
    assert back["PaymentMethod"].tolist() == frame["PaymentMethod"].tolist()


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("old\n", encoding="utf-8")

    def broken_write_csv(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(synth.pa_csv, "write_csv", broken_write_csv)
    with pytest.raises(OSError, match="disk full"):
        synth.write_customers(synth.generate_customers(10), path)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["customers.csv"]


def test_committed_sample_is_the_seeded_generator_output(tmp_path: Path) -> None:
    expected = synth.write_customers(synth.generate_customers(SAMPLE_ROWS, SAMPLE_SEED), tmp_path / "expected.csv")
    pd.testing.assert_frame_equal(read_as_text(SAMPLE_PATH), read_as_text(expected))
