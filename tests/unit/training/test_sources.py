"""--data sources: local files, folders and globs of CSV/Parquet shards, gs:// on the
emulator, bq:// on the fake BigQuery; validation errors name the part, column and row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.config import Config, load_config
from pipeline.errors import DataError
from pipeline.tools import synth, synth_files
from pipeline.training import data, sources
from tests.fakes.bigquery_server import FakeBigQueryServer
from tests.fakes.fixtures import TEST_BUCKET, fake_bigquery, gcs_client, gcs_emulator_url  # noqa: F401

ROWS = 900


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shards") / "parquet"
    synth_files.write_parquet_shards(ROWS, 11, folder, shards=3)
    return folder


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    """The rows every format must read back to (validated, as from the CSV)."""
    return data.validate_frame(synth.generate_customers(ROWS, 11).astype(str).replace({"nan": " "}), "generated")


def config() -> Config:
    return load_config(None, [], environ={})


def read_all(spec: str | Path, cfg: Config | None = None) -> pd.DataFrame:
    source = sources.open_source(spec, cfg or config())
    return pd.concat([c.frame for c in source.chunks(250)], ignore_index=True)


def same_rows(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    key = "customerID"
    left = frame.sort_values(key).reset_index(drop=True)
    right = expected.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(left[list(right.columns)], right, check_dtype=False)


def test_data_path_keeps_local_paths_and_takes_urls() -> None:
    assert isinstance(config().data.path, Path)
    assert load_config(None, ["data.path=gs://b/x/*.parquet"], environ={}).data.path == "gs://b/x/*.parquet"
    assert isinstance(load_config(None, ["data.path=other.csv"], environ={}).data.path, Path)


def test_parquet_folder_and_glob_read_the_generated_rows(shards: Path, expected: pd.DataFrame) -> None:
    same_rows(read_all(shards), expected)
    same_rows(read_all(str(shards / "part-*.parquet")), expected)
    assert sources.open_source(shards, config()).estimated_rows() == ROWS


def test_chunked_csv_equals_parquet_shards(tmp_path: Path, shards: Path) -> None:
    path = synth_files.write_csv(3000, 4, tmp_path / "big.csv", chunk_rows=1000)
    frame = data.load_dataset(path)
    assert len(frame) == 3000 and frame["customerID"].is_unique
    folder = tmp_path / "pq"
    synth_files.write_parquet_shards(3000, 4, folder, shards=4, chunk_rows=1000)
    same_rows(read_all(folder), frame)


def test_a_bad_value_in_a_shard_names_shard_row_and_column(tmp_path: Path) -> None:
    table = synth_files.parquet_table(synth.generate_customers(50, 3))
    frame = table.to_pandas()
    frame.loc[36, "Contract"] = "Fortnightly"
    (tmp_path / "s").mkdir()
    pq.write_table(synth_files.parquet_table(synth.generate_customers(20, 2)), tmp_path / "s" / "a.parquet")
    pq.write_table(pd.DataFrame(frame).pipe(lambda f: __import__("pyarrow").Table.from_pandas(f)),
                   tmp_path / "s" / "b.parquet")
    with pytest.raises(DataError) as caught:
        read_all(tmp_path / "s")
    assert str(caught.value).startswith(f"{tmp_path / 's' / 'b.parquet'}: column Contract, row 37: unknown value "
                                        "'Fortnightly'")


def test_a_shard_missing_a_column_is_named(tmp_path: Path) -> None:
    table = synth_files.parquet_table(synth.generate_customers(10, 3)).drop(["tenure"])
    pq.write_table(table, tmp_path / "x.parquet")
    with pytest.raises(DataError, match=r"x\.parquet: missing column\(s\) tenure"):
        read_all(tmp_path / "x.parquet")


def test_local_csv_messages_are_unchanged(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        sources.load_frame(sources.open_source(tmp_path / "nope.csv", config()))
    with pytest.raises(DataError) as before:
        data.load_dataset(tmp_path / "nope.csv")
    assert str(caught.value) == str(before.value)
    with pytest.raises(DataError, match="no file matches"):
        sources.open_source(str(tmp_path / "*.parquet"), config())


def test_gcs_glob_of_parquet_shards(gcs_client, shards: Path, expected: pd.DataFrame) -> None:  # noqa: F811
    bucket = gcs_client.bucket(TEST_BUCKET)
    for path in sorted(shards.iterdir()):
        bucket.blob(f"churn/{path.name}").upload_from_filename(str(path))
    bucket.blob("churn/README.txt").upload_from_string("not data")
    spec = f"gs://{TEST_BUCKET}/churn/*.parquet"
    source = sources.open_source(spec, config())
    assert [p.name for p in source.parts] == [f"gs://{TEST_BUCKET}/churn/{p.name}" for p in sorted(shards.iterdir())]
    assert source.estimated_rows() == ROWS
    same_rows(read_all(spec), expected)
    same_rows(read_all(f"gs://{TEST_BUCKET}/churn/"), expected)  # a folder: its .csv/.parquet objects


def test_gcs_csv_error_names_the_object(gcs_client, tmp_path: Path) -> None:  # noqa: F811
    path = synth_files.write_csv(30, 1, tmp_path / "c.csv")
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(",Yes", ",Maybe", 1) if ",Yes" in lines[5] else lines[5].replace(",No", ",Maybe", 1)
    gcs_client.bucket(TEST_BUCKET).blob("c.csv").upload_from_string("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"^gs://{TEST_BUCKET}/c\.csv: column \w+, line 6: unknown value 'Maybe'"):
        read_all(f"gs://{TEST_BUCKET}/c.csv")
    with pytest.raises(DataError, match="no object matches"):
        sources.open_source(f"gs://{TEST_BUCKET}/none/*.parquet", config())


def bq_config(server: FakeBigQueryServer) -> Config:
    return load_config(None, [f"vertex.bigquery_api_endpoint={server.url}"], environ={})


def test_bigquery_table_and_query(fake_bigquery: FakeBigQueryServer, expected: pd.DataFrame) -> None:  # noqa: F811
    frame = synth_files.parquet_table(synth.generate_customers(ROWS, 11)).to_pandas()
    fake_bigquery.add_table("test-project.churn.customers", frame)
    cfg = bq_config(fake_bigquery)
    table = sources.open_source("bq://test-project.churn.customers", cfg)
    assert table.estimated_rows() == ROWS
    same_rows(pd.concat([c.frame for c in table.chunks(250)]), expected)
    assert sum(r.action == "listTableData" for r in fake_bigquery.requests) == 4  # 250 rows a page
    query = sources.open_source("bq://test-project?query=SELECT * FROM `test-project.churn.customers` LIMIT 300", cfg)
    assert query.estimated_rows() is None  # unknown until it runs: streams
    rows = pd.concat([c.frame for c in query.chunks(100)], ignore_index=True)
    same_rows(rows, expected.iloc[:300])
    assert any(r.action == "getQueryResults" for r in fake_bigquery.requests)


def test_bigquery_errors_name_the_table_row_and_column(fake_bigquery: FakeBigQueryServer) -> None:  # noqa: F811
    frame = synth_files.parquet_table(synth.generate_customers(40, 2)).to_pandas()
    frame.loc[31, "tenure"] = 400
    fake_bigquery.add_table("test-project.churn.bad", frame)
    cfg = bq_config(fake_bigquery)
    with pytest.raises(DataError, match=r"^bq://test-project\.churn\.bad: column tenure, row 32: 400 is out of range"):
        list(sources.open_source("bq://test-project.churn.bad", cfg).chunks(16))
    with pytest.raises(DataError, match=r"^bq://test-project\.churn\.missing: .*Not found"):
        sources.open_source("bq://test-project.churn.missing", cfg).estimated_rows()
    with pytest.raises(DataError, match="expected bq://PROJECT.DATASET.TABLE"):
        sources.open_source("bq://just-a-project", cfg)
