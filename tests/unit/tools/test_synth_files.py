"""`churn data` at any size: chunked CSV and Parquet shards, the same rows either way."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.errors import OutputError
from pipeline.tools import synth, synth_files


def test_small_files_are_the_unchunked_generator(tmp_path: Path) -> None:
    path = synth_files.write_csv(300, 7, tmp_path / "a.csv")
    synth.write_customers(synth.generate_customers(300, 7), tmp_path / "b.csv")
    assert path.read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_chunks_keep_ids_unique_and_shards_hold_every_row(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    paths = synth_files.write_parquet_shards(2500, 3, folder, shards=3, chunk_rows=1000)
    tables = [pq.read_table(p) for p in paths]
    assert [t.num_rows for t in tables] == [833, 834, 833]
    ids = [i for t in tables for i in t.column("customerID").to_pylist()]
    assert len(set(ids)) == 2500
    chunked_csv = synth_files.write_csv(2500, 3, tmp_path / "c.csv", chunk_rows=1000).read_text().splitlines()
    assert [line.split(",")[0] for line in chunked_csv[1:]] == ids  # same rows, same order


def test_churn_data_writes_parquet_shards_and_refuses_a_used_folder(tmp_path: Path) -> None:
    out = tmp_path / "pq"
    result = CliRunner().invoke(app, ["data", "--rows", "200", "--format", "parquet", "--shards", "2",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]
    again = CliRunner().invoke(app, ["data", "--rows", "200", "--format", "parquet", "--out", str(out)])
    assert isinstance(again.exception, OutputError) and "not an empty folder" in str(again.exception)
