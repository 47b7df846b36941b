"""Load and validate Telco churn CSVs; split them the article's way.

The loader takes the public IBM/Kaggle file unchanged (TotalCharges blanks for new
customers, "Yes"/"No" labels, SeniorCitizen 0/1) as well as the generated sample. Every
problem is a DataError naming the file, column, rows and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import DataConfig, SplitConfig
from pipeline.core.csvfile import CsvOptions, iter_text_frames, list_names, read_header, read_text_frame
from pipeline.errors import DataError, quote
from pipeline.training import schema

MAX_LISTED = 5  # rows or values quoted in one error message
VALUE_ECHO = 60  # characters of one listed value
DATA_HINT = "pass --data PATH or set data.path"


@dataclass(frozen=True)
class Split:
    """Train/test split of a validated frame (label column included)."""

    train: pd.DataFrame
    test: pd.DataFrame


def load_dataset(path: Path, config: DataConfig | None = None, require_label: bool = True) -> pd.DataFrame:
    """Read and validate a whole CSV; numeric columns typed, label as 0/1 int in `Churn`.

    With labels required this is training or evaluation data, so both classes must be
    present: a one-class file would train, then fail in the metrics."""
    config = config or DataConfig()
    path = Path(path)
    frame = pd.concat(list(iter_batches(path, config, require_label)), ignore_index=True)
    _check_unique_ids(frame, path)
    if require_label:
        _check_both_classes(frame, path, config)
    return frame


def iter_batches(
    path: Path,
    config: DataConfig | None = None,
    require_label: bool = True,
    batch_rows: int = 1_000_000,
    hint: str = DATA_HINT,
) -> Iterator[pd.DataFrame]:
    """Yield validated batches of at most `batch_rows` rows (bounded memory for big files).
    `hint` says how to name another file in the "not found" message."""
    config = config or DataConfig()
    path = Path(path)
    options = csv_options(hint)
    header = read_header(path, options)
    renames = _column_renames(header, config)
    expected = _expected_columns(require_label, label_present=schema.LABEL_COLUMN in renames.values())
    _check_columns(path, [renames.get(c, c) for c in header], expected)
    for first_line, chunk in iter_text_frames(path, options, batch_rows):
        yield validate_frame(chunk.rename(columns=renames), path, first_line=first_line)


def csv_options(hint: str = DATA_HINT) -> CsvOptions:
    """How the CSV reader reports data files: DataError, with `hint` in "not found"."""
    return CsvOptions(DataError, "CSV file", hint)


def check_data_file(path: Path, hint: str = DATA_HINT) -> None:
    """Fail fast (before loading a model) when `path` cannot be a data CSV at all:
    missing, not a regular file, empty, or a header that is not UTF-8 CSV."""
    read_header(Path(path), csv_options(hint))


def validate_frame(frame: pd.DataFrame, path: Path | str, first_line: int = 2, unit: str = "line") -> pd.DataFrame:
    """Check values of a string-typed frame and return it typed for modelling. Messages count
    `unit`s from `first_line`: CSV lines, or rows of a Parquet file or BigQuery table."""
    first_line = _Position(first_line, unit)  # type: ignore[assignment]
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


def category_codes(frame: pd.DataFrame) -> np.ndarray:
    """(n, categoricals) position of each row's value in its feature's schema vocabulary,
    CATEGORICAL_FEATURES order; -1 for a value outside it."""
    return np.stack([pd.Categorical(frame[name], categories=list(schema.CATEGORICAL_VALUES[name])).codes
                     for name in schema.CATEGORICAL_FEATURES], axis=1)


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """The 0/1 label vector."""
    return frame[schema.LABEL_COLUMN].to_numpy(dtype=np.int64)


def _column_renames(header: list[str], config: DataConfig) -> dict[str, str]:
    """Map the file's label and id columns (case-insensitive label) to the schema's names."""
    renames = {}
    for name in header:
        if name.lower() == config.label_column.lower():
            renames[name] = schema.LABEL_COLUMN
        elif name == config.id_column:
            renames[name] = schema.ID_COLUMN
    return renames


def _expected_columns(require_label: bool, label_present: bool) -> list[str]:
    columns = list(schema.COLUMNS)
    if not require_label and not label_present:
        columns.remove(schema.LABEL_COLUMN)
    return columns


def _check_columns(path: Path, header: list[str], expected: list[str]) -> None:
    if len(header) == 1 and any(mark in header[0] for mark in ";\t|"):
        raise DataError(f"{path}: line 1 has one column {list_names(header)}; the file looks "
                        "separated by ';', tab or '|' (expected comma-separated values)")
    if not set(header) & set(expected):
        raise DataError(
            f"{path}: no header row found (first line is {list_names(header, 4)}...; "
            f"expected column names such as {', '.join(expected[:4])}...)"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:  # two spellings of the label column, e.g. Churn and churn
        raise DataError(f"{path}: duplicated column(s) {list_names(duplicated)}")
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {list_names(extra)}")
    if problems:
        raise DataError(f"{path}: {'; '.join(problems)} (expected the Telco churn schema: "
                        f"{', '.join(expected)})")


class _Position(int):
    """The first line (or row) number of a frame, and what is counted ("line" or "row")."""

    unit: str

    def __new__(cls, first: int, unit: str = "line") -> _Position:
        position = super().__new__(cls, int(first))
        position.unit = unit
        return position


def _lines(mask: np.ndarray | pd.Series, first_line: int) -> str:
    positions = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(p + first_line) for p in positions[:MAX_LISTED])
    more = f" and {len(positions) - MAX_LISTED} more" if len(positions) > MAX_LISTED else ""
    unit = getattr(first_line, "unit", "line")
    return f"{unit}{'s' if len(positions) > 1 else ''} {shown}{more}"


def _values(column: pd.Series, mask: np.ndarray | pd.Series) -> str:
    seen = list(dict.fromkeys(column[np.asarray(mask)].tolist()))
    return ", ".join(quote(v, VALUE_ECHO) for v in seen[:MAX_LISTED])


def _numeric_column(column: pd.Series, feature: str, path: Path | str, first_line: int) -> pd.Series:
    stripped = column.str.strip()
    blank = stripped == ""
    if feature == "TotalCharges":
        stripped = stripped.mask(blank, "0")  # the public file leaves it blank for tenure 0
    elif blank.any():
        raise DataError(f"{path}: column {feature}, {_lines(blank, first_line)}: empty value, "
                        "expected a number")
    # The server's rule too (schema.parse_number): plain ASCII decimals, so "1_000" and
    # "٣" are refused by both, and a value that trains also predicts.
    bad = ~stripped.str.fullmatch(schema.PLAIN_NUMBER.pattern).astype(bool)
    if not bad.any():
        values = pd.to_numeric(stripped)
        bad = ~np.isfinite(values.to_numpy(dtype=float))  # 1e999
    if bad.any():
        raise DataError(f"{path}: column {feature}, {_lines(bad, first_line)}: "
                        f"{_values(column, bad)} is not a number (expected plain decimal digits "
                        "like 42 or 29.85)")
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


def _check_unique_ids(frame: pd.DataFrame, path: Path) -> None:
    if schema.ID_COLUMN not in frame:
        return
    ids = frame[schema.ID_COLUMN]
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        raise DataError(f"{path}: column {schema.ID_COLUMN}, {_lines(duplicated, 2)}: duplicated "
                        f"customerID {_values(ids, duplicated)} (each customer must appear once)")


def _check_both_classes(frame: pd.DataFrame, path: Path, config: DataConfig) -> None:
    if schema.LABEL_COLUMN not in frame:
        return
    present = set(frame[schema.LABEL_COLUMN].unique().tolist())
    if len(present) < 2:
        only = "Yes" if present == {1} else "No"
        raise DataError(f"{path}: label column {quote(config.label_column)} is {only!r} on every "
                        f"row ({len(frame):,} rows); training and evaluation need both Yes and No")


def load_labels(path: Path, config: DataConfig | None = None) -> pd.Series:
    """customerID -> 0/1 churn label, from a file with (at least) those two columns."""
    config = config or DataConfig()
    path = Path(path)
    options = csv_options("pass --labels PATH to a CSV of customerID and Churn")
    header = read_header(path, options)
    renames = _column_renames(header, config)
    named = [renames.get(c, c) for c in header]
    missing = [c for c in (schema.ID_COLUMN, schema.LABEL_COLUMN) if c not in named]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (labels need customerID and Churn)")
    frame = read_text_frame(path, options).rename(columns=renames)
    labels = _label_column(frame[schema.LABEL_COLUMN], path, first_line=2)
    return pd.Series(labels.to_numpy(), index=frame[schema.ID_COLUMN].astype(str).to_numpy(), name="label")
