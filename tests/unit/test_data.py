"""The loader takes the public Telco file's quirks and names every problem precisely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import DataConfig, SplitConfig
from pipeline.errors import DataError
from pipeline.training import data, schema
from pipeline.training.fingerprint import data_fingerprint


@pytest.fixture(scope="module")
def raw(sample_csv: Path) -> pd.DataFrame:
    return pd.read_csv(sample_csv, dtype=str, keep_default_na=False).head(300)


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def expect_error(path: Path, *fragments: str, config: DataConfig | None = None) -> str:
    with pytest.raises(DataError) as caught:
        data.load_dataset(path, config)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_sample_loads_typed(sample_csv: Path) -> None:
    frame = data.load_dataset(sample_csv)
    assert len(frame) == 7043
    assert list(frame.columns) == list(schema.COLUMNS)
    assert frame["TotalCharges"].dtype == np.float64
    assert set(frame["Churn"].unique()) == {0, 1}


def test_public_file_quirks(tmp_path: Path, raw: pd.DataFrame) -> None:
    quirky = raw.copy()
    quirky.loc[0, ["tenure", "TotalCharges"]] = ["0", " "]
    quirky = quirky.rename(columns={"Churn": "churn"})  # the article's spelling
    frame = data.load_dataset(write(tmp_path, quirky))
    assert frame.loc[0, "TotalCharges"] == 0.0
    assert frame["Churn"].isin([0, 1]).all()


def test_configurable_label_column(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = write(tmp_path, raw.rename(columns={"Churn": "Exited"}))
    assert len(data.load_dataset(path, DataConfig(label_column="exited"))) == len(raw)


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.csv", "nope.csv", "not found")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    expect_error(path, "empty.csv", "empty")


def test_header_only(tmp_path: Path, raw: pd.DataFrame) -> None:
    expect_error(write(tmp_path, raw.head(0)), "no data rows")


def test_no_header(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = tmp_path / "noheader.csv"
    raw.to_csv(path, index=False, header=False)
    expect_error(path, "no header row")


def test_missing_column(tmp_path: Path, raw: pd.DataFrame) -> None:
    expect_error(write(tmp_path, raw.drop(columns=["Contract"])), "missing column(s) Contract")


def test_extra_column(tmp_path: Path, raw: pd.DataFrame) -> None:
    expect_error(write(tmp_path, raw.assign(Region="north")), "unexpected column(s) Region")


def test_wrong_type_names_column_line_and_value(tmp_path: Path, raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[4, "MonthlyCharges"] = "abc"
    expect_error(write(tmp_path, bad), "column MonthlyCharges", "line 6", "'abc'", "not a number")


def test_out_of_range_tenure(tmp_path: Path, raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[0, "tenure"] = "80"
    expect_error(write(tmp_path, bad), "column tenure", "line 2", "0 to 72")


def test_unknown_category(tmp_path: Path, raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[[1, 2], "Contract"] = "Weekly"
    expect_error(write(tmp_path, bad), "column Contract", "lines 3, 4", "'Weekly'", "Month-to-month")


def test_duplicated_customer_id(tmp_path: Path, raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[9, "customerID"] = bad.loc[2, "customerID"]
    expect_error(write(tmp_path, bad), "customerID", "lines 4, 11", "duplicated")


def test_label_not_yes_no(tmp_path: Path, raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[0, "Churn"] = "maybe"
    expect_error(write(tmp_path, bad), "column Churn", "line 2", "Yes or No")


def test_non_utf8(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = write(tmp_path, raw)
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"Male", b"M\xe4le", 1) if b"Male" in lines[3] else lines[3] + b"\xff"
    path.write_bytes(b"\n".join(lines))
    expect_error(path, "line 4", "UTF-8")


def test_unlabelled_allowed_when_not_required(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = write(tmp_path, raw.drop(columns=["Churn"]))
    frame = data.load_dataset(path, require_label=False)
    assert "Churn" not in frame
    expect_error(path, "missing column(s) Churn")


def test_batches_equal_whole(sample_csv: Path) -> None:
    whole = data.load_dataset(sample_csv)
    batched = pd.concat(list(data.iter_batches(sample_csv, batch_rows=1000)), ignore_index=True)
    pd.testing.assert_frame_equal(whole, batched)


def test_split_is_article_split(sample_csv: Path) -> None:
    frame = data.load_dataset(sample_csv)
    split = data.split_dataset(frame, SplitConfig())
    assert len(split.test) == int(np.ceil(0.2 * len(frame)))
    again = data.split_dataset(frame, SplitConfig())
    assert split.test["customerID"].tolist() == again.test["customerID"].tolist()
    assert abs(split.test["Churn"].mean() - split.train["Churn"].mean()) < 0.01


def test_fingerprint_changes_with_data(tmp_path: Path, raw: pd.DataFrame) -> None:
    first = write(tmp_path, raw, "a.csv")
    changed = raw.copy()
    changed.loc[0, "gender"] = "Female" if changed.loc[0, "gender"] == "Male" else "Male"
    second = write(tmp_path, changed, "b.csv")
    a = data_fingerprint(first, data.load_dataset(first))
    b = data_fingerprint(second, data.load_dataset(second))
    assert a["rows"] == b["rows"] == len(raw)
    assert a["sha256"] != b["sha256"]
    assert a["columns"]["gender"] != b["columns"]["gender"]
