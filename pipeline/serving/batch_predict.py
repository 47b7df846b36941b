"""Batch scoring: a customer CSV in, one prediction per customer out, in bounded memory.

The input is read in chunks by the training loader (pipeline.training.data.iter_batches, label column
optional), so every rule of the server's validation applies and a bad row stops the run
with one line naming the file, line and column. Scores come from the same Scorer the server
uses (its `serving_default` outputs). The output appears only when complete (written under a
temporary name, then renamed), readable by its owner only (it holds customer IDs), and never
replaces an existing file unless asked (`overwrite`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.config import Config
from pipeline.core import atomic, progress
from pipeline.errors import DataError
from pipeline.serving.instances import encode_frame
from pipeline.serving.scorer import Scorer, load_scorer
from pipeline.training import data, schema

OUTPUT_COLUMNS = (schema.ID_COLUMN, "churn_probability", "interval_lower", "interval_upper", "churn")
CHUNK_ROWS = 50_000
INPUT_HINT = "pass --input PATH to a customer CSV"


@dataclass(frozen=True)
class PredictSummary:
    rows: int
    output: Path
    model: str


def predict_file(config: Config, input_path: Path, output_path: Path, ref: str,
                 chunk_rows: int = CHUNK_ROWS, engine: str = "auto", overwrite: bool = False) -> PredictSummary:
    """Score every row of `input_path` with model REF into `output_path` (CSV)."""
    input_path, output_path = Path(input_path), Path(output_path)
    data.check_data_file(input_path, INPUT_HINT)  # before the model is loaded
    if output_path.resolve() == input_path.resolve():
        raise DataError(f"{output_path}: the output would overwrite the input; choose another --output")
    rows = 0
    # Opened first: an unwritable --output is refused before the model loads.
    with atomic.writer(output_path, private=True, replace=overwrite) as out:
        scorer = load_scorer(config, ref, engine)
        total = count_data_rows(input_path)
        with progress.make_progress() as bar:
            task = bar.add_task(f"Scoring {input_path.name}", total=total, status="")
            batches = data.iter_batches(input_path, config.data, require_label=False, batch_rows=chunk_rows,
                                        hint=INPUT_HINT)
            for frame in batches:
                out.write(score_frame(scorer, frame).to_csv(header=rows == 0, index=False).encode("utf-8"))
                rows += len(frame)
                bar.update(task, completed=rows, status=f"{rows:,} rows")
    return PredictSummary(rows=rows, output=output_path, model=f"{scorer.name}@{scorer.version_id}")


def score_frame(scorer: Scorer, frame: pd.DataFrame) -> pd.DataFrame:
    """Predictions for a frame validated by pipeline.training.data.validate_frame."""
    answer = scorer.outputs(encode_frame(frame))  # float32, as the SavedModel answers: written as such
    return pd.DataFrame({
        schema.ID_COLUMN: frame[schema.ID_COLUMN].to_numpy(),
        "churn_probability": answer["churn_probability"],
        "interval_lower": answer["interval"][:, 0],
        "interval_upper": answer["interval"][:, 1],
        "churn": pd.Series(answer["churn"]).map({True: "Yes", False: "No"}).to_numpy(),
    }, columns=list(OUTPUT_COLUMNS))


def count_data_rows(path: Path, block: int = 1 << 20) -> int | None:
    """Lines after the header (for the progress bar); None when the file is unreadable,
    leaving the loader to say why."""
    try:
        with Path(path).open("rb") as handle:
            lines, last = 0, b"\n"
            while chunk := handle.read(block):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:
        return None
    return max(lines + (last != b"\n") - 1, 0)
