"""Load and validate Telco churn CSVs; split them the article's way.

The loader takes the public IBM/Kaggle file unchanged (TotalCharges blanks for new
customers, "Yes"/"No" labels, SeniorCitizen 0/1) as well as the generated sample. Every
problem is a DataError naming the file, column, rows and what was expected.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import DataConfig, SplitConfig
from pipeline.errors import DataError
from pipeline.training import schema

MAX_LISTED = 5  # rows or values quoted in one error message


@dataclass(frozen=True)
class Split:
    """Train/test split of a validated frame (label column included)."""

    train: pd.DataFrame
    test: pd.DataFrame


def load_dataset(path: Path, config: DataConfig | None = None, require_label: bool = True) -> pd.DataFrame:
    """Read and validate a whole CSV; numeric columns typed, label as 0/1 int in `Churn`."""
    return pd.concat(list(iter_batches(path, config, require_label)), ignore_index=True).pipe(
        _check_unique_ids, Path(path)
    )


def iter_batches(
    path: Path,
    config: DataConfig | None = None,
    require_label: bool = True,
    batch_rows: int = 1_000_000,
) -> Iterator[pd.DataFrame]:
    """Yield validated batches of at most `batch_rows` rows (bounded memory for big files)."""
    config = config or DataConfig()
    path = Path(path)
    header = _read_header(path)
    renames = _column_renames(header, config)
    expected = _expected_columns(require_label, label_present=schema.LABEL_COLUMN in renames.values())
    _check_columns(path, [renames.get(c, c) for c in header], expected)
    reader = pd.read_csv(
        path, dtype=str, keep_default_na=False, chunksize=batch_rows, encoding="utf-8",
        skipinitialspace=False,
    )
    offset = 0
    try:
        for chunk in reader:
            chunk = chunk.rename(columns=renames)
            yield validate_frame(chunk, path, first_line=offset + 2)
            offset += len(chunk)
    except UnicodeDecodeError:
        raise DataError(f"{path}: {_non_utf8_location(path)} is not valid UTF-8 "
                        "(re-save the file as UTF-8)") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if offset == 0:
        raise DataError(f"{path}: has a header but no data rows")


def validate_frame(frame: pd.DataFrame, path: Path | str, first_line: int = 2) -> pd.DataFrame:
    """Check values of a string-typed frame and return it typed for modelling."""
    out = pd.DataFrame(index=frame.index)
    if schema.ID_COLUMN in frame:
        out[schema.ID_COLUMN] = frame[schema.ID_COLUMN].astype(str)
    for feature in schema.FEATURES:
        column = frame[feature]
        if schema.is_numeric(feature):
            out[feature] = _numeric_column(column, feature, path, first_line)
        else:
            _check_categories(column, feature, path, first_line)
            out[feature] = column.astype(object)
    if schema.LABEL_COLUMN in frame:
        out[schema.LABEL_COLUMN] = _label_column(frame[schema.LABEL_COLUMN], path, first_line)
    return out.reset_index(drop=True)


def split_dataset(frame: pd.DataFrame, config: SplitConfig | None = None) -> Split:
    """The article's split: test_size 0.2, random_state 42, stratified on Churn."""
    from sklearn.model_selection import train_test_split  # heavy import, only needed here

    config = config or SplitConfig()
    stratify = frame[schema.LABEL_COLUMN] if config.stratify else None
    if stratify is not None and stratify.value_counts().min() < 2:
        raise DataError("Churn: each class needs at least 2 rows to stratify the split")
    train, test = train_test_split(
        frame, test_size=config.test_size, random_state=config.random_state, stratify=stratify
    )
    return Split(train=train.reset_index(drop=True), test=test.reset_index(drop=True))


def features_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """One array per raw feature, as the model and the SavedModel signature take them."""
    return {
        name: frame[name].to_numpy(dtype=np.float32) if schema.is_numeric(name)
        else frame[name].astype(str).to_numpy(dtype=object)
        for name in schema.FEATURES
    }


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """The 0/1 label vector."""
    return frame[schema.LABEL_COLUMN].to_numpy(dtype=np.int64)


def _read_header(path: Path) -> list[str]:
    if not path.exists():
        raise DataError(f"{path}: file not found (pass --data PATH or set data.path)")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a CSV file")
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    if not head.strip():
        raise DataError(f"{path}: file is empty (expected a CSV with a header row)")
    first = head.splitlines()[0]
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: line 1 is not valid UTF-8 (re-save the file as UTF-8)") from None
    header = next(csv.reader(io.StringIO(text)))
    return [name.strip() for name in header]


def _column_renames(header: list[str], config: DataConfig) -> dict[str, str]:
    """Map the file's label and id columns (case-insensitive label) to the schema's names."""
    renames = {}
    for name in header:
        if name.lower() == config.label_column.lower():
            renames[name] = schema.LABEL_COLUMN
        elif name == config.id_column:
            renames[name] = schema.ID_COLUMN
    if header and header[0].startswith("\ufeff"):
        renames[header[0]] = header[0].lstrip("\ufeff")
    return renames


def _expected_columns(require_label: bool, label_present: bool) -> list[str]:
    columns = list(schema.COLUMNS)
    if not require_label and not label_present:
        columns.remove(schema.LABEL_COLUMN)
    return columns


def _check_columns(path: Path, header: list[str], expected: list[str]) -> None:
    if not set(header) & set(expected):
        raise DataError(
            f"{path}: no header row found (first line is {', '.join(header[:4])}...; "
            f"expected column names such as {', '.join(expected[:4])}...)"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise DataError(f"{path}: duplicated column(s) {', '.join(duplicated)}")
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    if problems:
        raise DataError(f"{path}: {'; '.join(problems)} (expected the Telco churn schema: "
                        f"{', '.join(expected)})")


def _lines(mask: np.ndarray | pd.Series, first_line: int) -> str:
    positions = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(p + first_line) for p in positions[:MAX_LISTED])
    more = f" and {len(positions) - MAX_LISTED} more" if len(positions) > MAX_LISTED else ""
    return f"line{'s' if len(positions) > 1 else ''} {shown}{more}"


def _values(column: pd.Series, mask: np.ndarray | pd.Series) -> str:
    seen = list(dict.fromkeys(column[np.asarray(mask)].tolist()))
    return ", ".join(repr(v) for v in seen[:MAX_LISTED])


def _numeric_column(column: pd.Series, feature: str, path: Path | str, first_line: int) -> pd.Series:
    stripped = column.str.strip()
    blank = stripped == ""
    if feature == "TotalCharges":
        stripped = stripped.mask(blank, "0")  # the public file leaves it blank for tenure 0
    elif blank.any():
        raise DataError(f"{path}: column {feature}, {_lines(blank, first_line)}: empty value, "
                        "expected a number")
    values = pd.to_numeric(stripped, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        raise DataError(f"{path}: column {feature}, {_lines(bad, first_line)}: "
                        f"{_values(column, bad)} is not a number")
    _check_range(values, feature, path, first_line)
    return values.astype(np.float64)


def _check_range(values: pd.Series, feature: str, path: Path | str, first_line: int) -> None:
    bounds = schema.NUMERIC_RANGES[feature]
    outside = (values < bounds.low) | (values > bounds.high)
    if bounds.integer:
        outside |= values != np.round(values)
    if outside.any():
        kind = "whole number" if bounds.integer else "number"
        raise DataError(
            f"{path}: column {feature}, {_lines(outside, first_line)}: {_values(values, outside)} "
            f"is out of range (expected a {kind} from {bounds.low:g} to {bounds.high:g})"
        )


def _check_categories(column: pd.Series, feature: str, path: Path | str, first_line: int) -> None:
    allowed = schema.CATEGORICAL_VALUES[feature]
    unknown = ~column.isin(allowed)
    if unknown.any():
        raise DataError(
            f"{path}: column {feature}, {_lines(unknown, first_line)}: unknown value "
            f"{_values(column, unknown)} (expected one of {', '.join(allowed)})"
        )


def _label_column(column: pd.Series, path: Path | str, first_line: int) -> pd.Series:
    stripped = column.str.strip()
    bad = ~stripped.isin(schema.LABEL_VALUES)
    if bad.any():
        raise DataError(f"{path}: column {schema.LABEL_COLUMN}, {_lines(bad, first_line)}: "
                        f"{_values(column, bad)} is not a label (expected Yes or No)")
    return (stripped == "Yes").astype(np.int64)


def _check_unique_ids(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    if schema.ID_COLUMN not in frame:
        return frame
    ids = frame[schema.ID_COLUMN]
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        raise DataError(f"{path}: column {schema.ID_COLUMN}, {_lines(duplicated, 2)}: duplicated "
                        f"customerID {_values(ids, duplicated)} (each customer must appear once)")
    return frame


def _non_utf8_location(path: Path) -> str:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte {exc.start + 1}"
    return "the file"


def load_labels(path: Path, config: DataConfig | None = None) -> pd.Series:
    """customerID -> 0/1 churn label, from a file with (at least) those two columns."""
    config = config or DataConfig()
    path = Path(path)
    header = _read_header(path)
    renames = _column_renames(header, config)
    named = [renames.get(c, c) for c in header]
    missing = [c for c in (schema.ID_COLUMN, schema.LABEL_COLUMN) if c not in named]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (labels need customerID and Churn)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).rename(columns=renames)
    labels = _label_column(frame[schema.LABEL_COLUMN], path, first_line=2)
    return pd.Series(labels.to_numpy(), index=frame[schema.ID_COLUMN].astype(str).to_numpy(), name="label")
