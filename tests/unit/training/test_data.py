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


def test_trailing_comma_on_first_data_row_names_the_line(tmp_path: Path, raw: pd.DataFrame) -> None:
    # pandas took the extra field as an index column and blamed gender for the shifted values.
    path = write(tmp_path, raw)
    lines = path.read_text().splitlines()
    lines[1] += ","
    path.write_text("\n".join(lines) + "\n")
    message = expect_error(path, "line 2 has 22 fields but the header has 21", "trailing comma")
    assert "gender" not in message


def test_short_row_names_the_line(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = write(tmp_path, raw)
    lines = path.read_text().splitlines()
    lines[40] = lines[40].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    expect_error(path, "line 41 has 20 fields but the header has 21")


def test_ragged_row_in_a_later_batch(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = write(tmp_path, raw)
    lines = path.read_text().splitlines()
    lines[250] += ",extra"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 251 has 22 fields"):
        list(data.iter_batches(path, batch_rows=100))


@pytest.mark.parametrize("make", ["fifo", "directory", "socket"])
def test_not_a_regular_file_is_refused_without_blocking(tmp_path: Path, make: str) -> None:
    import os
    import socket
    import threading

    path = tmp_path / "input.csv"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "directory":
        path.mkdir()
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    caught: list[BaseException] = []
    worker = threading.Thread(target=lambda: caught.append(pytest.raises(DataError, data.load_dataset, path).value),
                              daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive() and make == "fifo":  # unblock the reader the bug left waiting
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    assert not worker.is_alive(), "load_dataset blocked on a non-regular file"
    assert caught and "\n" not in str(caught[0])
    assert str(caught[0]).startswith(f"{path}: is a") and "expected a CSV file" in str(caught[0])


def test_one_class_is_refused_naming_the_label_column(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = write(tmp_path, raw.assign(Churn="No").rename(columns={"Churn": "churn"}))
    expect_error(path, str(path), "label column 'Churn'", "'No' on every row", "both Yes and No",
                 config=DataConfig(label_column="Churn"))
    assert len(data.load_dataset(path, require_label=False)) == len(raw)  # predict needs no classes


def test_a_huge_value_is_cut_in_the_message(tmp_path: Path, raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[3, "gender"] = "x" * 5_000_000
    message = expect_error(write(tmp_path, bad), "column gender, line 5", "5,000,000 characters")
    assert len(message) < 500


def test_a_huge_column_name_is_cut_in_the_message(tmp_path: Path, raw: pd.DataFrame) -> None:
    message = expect_error(write(tmp_path, raw.rename(columns={"gender": "g" * 500_000})),
                           "missing column(s) gender", "500,000 characters")
    assert len(message) < 1000


@pytest.mark.parametrize("separator, name", [(";", "semicolon"), ("\t", "tab")])
def test_wrong_delimiter_is_named(tmp_path: Path, raw: pd.DataFrame, separator: str, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    raw.to_csv(path, index=False, sep=separator)
    expect_error(path, "expected comma-separated values")


def test_byte_order_mark_is_accepted(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = tmp_path / "bom.csv"
    raw.to_csv(path, index=False, encoding="utf-8-sig")
    assert list(data.load_dataset(path).columns) == list(schema.COLUMNS)


def test_binary_file(tmp_path: Path) -> None:
    import random

    path = tmp_path / "junk.csv"
    path.write_bytes(random.Random(5).randbytes(4096))
    expect_error(path, str(path), "not valid UTF-8")


def test_duplicated_column(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = tmp_path / "dup.csv"
    raw.assign(Extra=raw["Contract"]).rename(columns={"Extra": "Contract"}).to_csv(path, index=False)
    expect_error(path, "duplicated column(s) Contract")


def test_quoted_line_breaks_and_commas_are_values(tmp_path: Path, raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[0, "PaymentMethod"] = "Mailed,\ncheck"
    message = expect_error(write(tmp_path, bad), "column PaymentMethod", "'Mailed,\\ncheck'")
    assert "\n" not in message


def test_iter_batches_are_exactly_batch_rows(sample_csv: Path) -> None:
    sizes = [len(batch) for batch in data.iter_batches(sample_csv, batch_rows=1000)]
    assert sizes == [1000] * 7 + [43]
