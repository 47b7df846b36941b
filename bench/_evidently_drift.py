"""Time Evidently's DataDriftPreset on two Parquet files; print the result as one JSON line.

Runs inside the side environment made by bench_drift.py (Evidently 0.7 needs pandas<3), so
it imports nothing from the pipeline package. Only Evidently's own work is timed: reading
the Parquet and turning text columns into numbers (which Evidently needs and does not do)
happen before the clock starts.

    python bench/_evidently_drift.py REF.parquet CUR.parquet --numeric a,b --categorical c,d
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main() -> None:
    args = _parse_args()
    numeric, categorical = args.numeric.split(","), args.categorical.split(",")
    reference = _typed(pd.read_parquet(args.reference, columns=numeric + categorical), numeric)
    current = _typed(pd.read_parquet(args.current, columns=numeric + categorical), numeric)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    started, cpu_started = time.perf_counter(), time.process_time()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": peak_mb,
                      "drifted_columns": _drifted_columns(snapshot.dict())}))


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--numeric", required=True, help="comma-separated numeric columns")
    parser.add_argument("--categorical", required=True, help="comma-separated categorical columns")
    return parser.parse_args()


def _typed(frame: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    for name in numeric:
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    return frame


def _drifted_columns(report: dict) -> list[str]:
    drifted = []
    for metric in report["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        value, threshold = metric["value"], config["threshold"]
        # small samples get statistical tests (drift when p < threshold), large ones distances
        is_drift = value < threshold if "p_value" in config["method"] else value >= threshold
        if is_drift:
            drifted.append(config["column"])
    return sorted(drifted)


if __name__ == "__main__":
    main()
