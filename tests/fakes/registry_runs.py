"""A minimal finished run directory, enough for the local registry (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.fixtures import write_run_files


def fake_run(root: Path, name: str = "run", auc: float = 0.8) -> Path:
    """The run files training writes, with a stand-in SavedModel."""
    run = root / name
    (run / "model").mkdir(parents=True)
    (run / "model" / "saved_model.pb").write_bytes(b"pb" * 1000)
    write_run_files(run, roc_auc=auc)
    return run
