"""A data fingerprint stored with each run: which data, exactly, trained this model."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.training import schema


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def frame_sha256(frame: pd.DataFrame) -> str:
    """Hex SHA-256 of a frame's values (rows in order), for rows that came from no one file."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


def data_fingerprint(source: Path | str, frame: pd.DataFrame) -> dict[str, Any]:
    """Row count, hash (of the file, or of the rows when they were assembled in memory), label
    rate and a per-column summary of a validated frame."""
    is_file = Path(source).is_file()
    return {
        "path": str(source),
        "sha256": file_sha256(Path(source)) if is_file else frame_sha256(frame),
        "hash_of": "file" if is_file else "rows",
        "rows": int(len(frame)),
        "churn_rate": float(frame[schema.LABEL_COLUMN].mean()) if schema.LABEL_COLUMN in frame else None,
        "columns": {name: _column_summary(frame[name]) for name in schema.FEATURES},
    }


def _column_summary(column: pd.Series) -> dict[str, Any]:
    if pd.api.types.is_numeric_dtype(column):
        return {
            "type": "numeric",
            "min": float(column.min()),
            "max": float(column.max()),
            "mean": round(float(column.mean()), 6),
            "std": round(float(column.std(ddof=0)), 6),
        }
    counts = column.value_counts().sort_index()
    return {"type": "categorical", "counts": {str(k): int(v) for k, v in counts.items()}}
