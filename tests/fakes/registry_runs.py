"""A minimal finished run directory, enough for the local registry (no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path


def fake_run(root: Path, name: str = "run", auc: float = 0.8) -> Path:
    run = root / name
    (run / "model").mkdir(parents=True)
    (run / "model" / "saved_model.pb").write_bytes(b"pb" * 1000)
    (run / "config.yaml").write_text("backend: local\n")
    metrics = {"threshold": 0.4, "test": {"keras": {"roc_auc": auc, "f1": 0.6}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "baseline_stats.json").write_text("{}")
    return run
