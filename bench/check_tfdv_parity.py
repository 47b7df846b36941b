"""`churn monitor`'s skew statistics against TensorFlow Data Validation's, on constructed data.

Vertex AI Model Monitoring v1 computes skew and drift with TFDV. This script builds pairs of
data sets (range shifts, contractions into a sub-range, tenure x 0.5 near the 0.3
threshold, constant and disjoint columns, the sample data against itself shifted), writes
them as CSV, and prints for every feature the value `churn monitor --reference A --current B`
computes next to the value TFDV 1.16 computes (drift_comparator: jensen_shannon_divergence
for numeric features, infinity_norm for categorical ones), and the largest difference.

TFDV does not install next to pandas 3, so it runs in a side environment:
    python3.11 -m venv .venv-tfdv
    uv pip install --python .venv-tfdv/bin/python tensorflow-data-validation dill
    .venv/bin/python bench/check_tfdv_parity.py [--tfdv-python .venv-tfdv/bin/python]
Not part of the test suite (it needs that environment and takes a minute).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NUMERIC = ("SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges")


def tfdv_values(pairs: list[tuple[str, str, str]]) -> dict[str, dict[str, float]]:
    """Run inside the TFDV environment: TFDV's drift measurements of each (name, ref, cur)."""
    import pandas as pd
    import tensorflow_data_validation as tfdv

    results = {}
    for name, reference_path, current_path in pairs:
        frames = [_typed(pd.read_csv(path, dtype=str, keep_default_na=False))
                  for path in (reference_path, current_path)]
        reference, current = (tfdv.generate_statistics_from_dataframe(f) for f in frames)
        schema = tfdv.infer_schema(reference)
        for feature in schema.feature:
            comparator = feature.drift_comparator
            if feature.name in NUMERIC:
                comparator.jensen_shannon_divergence.threshold = 1e-9
            else:
                comparator.infinity_norm.threshold = 1e-9
        anomalies = tfdv.validate_statistics(current, schema, previous_statistics=reference)
        results[name] = {info.path.step[0]: info.drift_measurements[0].value
                         for info in anomalies.drift_skew_info}
    return results


def _typed(frame):
    """Numbers as numbers; blanks dropped from numeric columns (TFDV counts neither)."""
    import pandas as pd

    columns = [c for c in frame.columns if c not in ("customerID", "Churn")]
    frame = frame[columns].copy()
    for name in NUMERIC:
        if name in frame:
            frame[name] = pd.to_numeric(frame[name].str.strip(), errors="coerce")
    return frame.dropna(subset=[n for n in NUMERIC if n in frame]).reset_index(drop=True)


def our_values(pairs: list[tuple[str, str, str]]) -> dict[str, dict[str, float | None]]:
    """What `churn monitor --reference REF --current CUR` reports, per pair and feature."""
    from pipeline.config import Config
    from pipeline.monitoring.monitor import ScoreCollector, csv_chunks, reference_baseline, skew_result

    config = Config()
    results = {}
    for name, reference_path, current_path in pairs:
        baseline = reference_baseline(config, Path(reference_path))
        skew = skew_result(config, baseline, ScoreCollector(csv_chunks(Path(current_path))), False)
        results[name] = {feature: drift.value for feature, drift in skew.features.items()}
    return results


def build_pairs(directory: Path) -> list[tuple[str, str, str]]:
    """Constructed (name, reference CSV, current CSV) pairs."""
    import numpy as np
    import pandas as pd

    from pipeline.tools.synth import generate_customers

    sample = pd.read_csv(ROOT / "data" / "sample" / "customer_churn.csv", dtype=str, keep_default_na=False)
    sample = sample[sample["TotalCharges"].str.strip() != ""].reset_index(drop=True)
    numbers = {n: pd.to_numeric(sample[n]) for n in NUMERIC}
    big = generate_customers(50_000, seed=11)
    big = big[big["TotalCharges"].str.strip() != ""].reset_index(drop=True)
    big_numbers = {n: pd.to_numeric(big[n], errors="coerce").fillna(0) for n in NUMERIC}
    rng = np.random.default_rng(5)
    half = (numbers["tenure"] * 0.5).round()
    currents = {
        "sample_vs_itself": sample,
        "tenure_x0.5": sample.assign(tenure=half.astype(int).astype(str)),
        "tenure_x0.5_floor": sample.assign(tenure=(numbers["tenure"] // 2).astype(int).astype(str)),
        "monthly_plus_20": sample.assign(MonthlyCharges=(numbers["MonthlyCharges"] + 20).round(2).astype(str)),
        "monthly_contracted": sample.assign(
            MonthlyCharges=numbers["MonthlyCharges"].clip(40, 80).round(2).astype(str)),
        "tenure_12_to_48": sample[(numbers["tenure"] >= 12) & (numbers["tenure"] <= 48)],
        "all_numeric_shifted": sample.assign(
            tenure=(numbers["tenure"] + 12).clip(upper=72).astype(int).astype(str),
            MonthlyCharges=(numbers["MonthlyCharges"] * 1.1).round(2).astype(str),
            TotalCharges=(numbers["TotalCharges"] * 1.3).round(2).astype(str),
            SeniorCitizen=rng.choice(["0", "1"], len(sample), p=[0.6, 0.4])),
        "senior_all_one": sample.assign(SeniorCitizen="1"),
    }
    sample_path = directory / "sample.csv"
    sample.to_csv(sample_path, index=False)
    pairs = []
    for name, frame in currents.items():
        path = directory / f"{name}.csv"
        frame.to_csv(path, index=False)
        pairs.append((name, str(sample_path), str(path)))
    big_path = directory / "synth50k.csv"
    big.to_csv(big_path, index=False)
    shifted = big.assign(MonthlyCharges=(big_numbers["MonthlyCharges"] * 1.35).round(2).astype(str),
                         TotalCharges=(big_numbers["TotalCharges"] * 0.8).round(2).astype(str))
    shifted_path = directory / "synth50k_shifted.csv"
    shifted.to_csv(shifted_path, index=False)
    pairs.append(("synth50k_charges_shifted", str(big_path), str(shifted_path)))
    full = pd.read_csv(ROOT / "data" / "sample" / "customer_churn.csv", dtype=str, keep_default_na=False)
    full["TotalCharges"] = full["TotalCharges"].mask(full["TotalCharges"].str.strip() == "", "0")  # as training
    full_path, halved_path = directory / "sample_full.csv", directory / "sample_full_tenure_half.csv"
    full.to_csv(full_path, index=False)
    full.assign(tenure=(full["tenure"].astype(int) // 2).astype(str)).to_csv(halved_path, index=False)
    pairs.append(("full_tenure_x0.5_floor", str(full_path), str(halved_path)))  # 0.301: near 0.3
    constant = sample.assign(tenure="5")
    constant_path = directory / "tenure_constant.csv"
    constant.to_csv(constant_path, index=False)
    pairs.append(("constant_vs_constant", str(constant_path), str(constant_path)))
    pairs.append(("constant_vs_spread", str(constant_path), str(sample_path)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tfdv-python", default=str(ROOT / ".venv-tfdv" / "bin" / "python"))
    parser.add_argument("--tfdv-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tfdv_worker:
        print(json.dumps(tfdv_values(json.loads(Path(args.tfdv_worker).read_text()))))
        return
    if not Path(args.tfdv_python).exists():
        sys.exit(f"{args.tfdv_python}: no TFDV environment (see this script's docstring)")
    with tempfile.TemporaryDirectory(prefix="tfdv-parity-") as tmp:
        pairs = build_pairs(Path(tmp))
        listing = Path(tmp) / "pairs.json"
        listing.write_text(json.dumps(pairs))
        worker = subprocess.run([args.tfdv_python, __file__, "--tfdv-worker", str(listing)],
                                capture_output=True, text=True)
        if worker.returncode != 0:
            sys.exit(f"TFDV run failed:\n{worker.stderr[-3000:]}")
        theirs = json.loads(worker.stdout.strip().splitlines()[-1])
        ours = our_values(pairs)
    report(ours, theirs)


def report(ours: dict, theirs: dict) -> None:
    worst = {"numeric": 0.0, "categorical": 0.0}
    print(f"{'pair':28} {'feature':17} {'churn monitor':>14} {'TFDV 1.16':>12} {'|diff|':>10}")
    for pair, features in ours.items():
        for feature, value in features.items():
            tfdv_value = theirs[pair].get(feature)
            if value is None or tfdv_value is None:
                print(f"{pair:28} {feature:17} {value!s:>14} {tfdv_value!s:>12}")
                continue
            diff = abs(value - tfdv_value)
            kind = "numeric" if feature in NUMERIC else "categorical"
            worst[kind] = max(worst[kind], diff)
            if kind == "numeric" or diff > 1e-9:
                print(f"{pair:28} {feature:17} {value:14.6f} {tfdv_value:12.6f} {diff:10.2e}")
    print(f"max |diff|: numeric JS {worst['numeric']:.2e}, categorical L-infinity {worst['categorical']:.2e}")
    print(json.dumps({"max_abs_diff": worst}))


if __name__ == "__main__":
    main()
