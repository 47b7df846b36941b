"""Serving-runtime compatibility: the newest prebuilt Vertex serving image runs TF 2.15, so
the SavedModel we export must load there and predict what we predict (max abs diff < 1e-5).

`make compat` builds a side environment with tensorflow-cpu 2.15.x and runs this check."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.tensorflow_setup import SETTINGS
from pipeline.errors import PipelineError
from pipeline.training import data
from pipeline.training.runs import check_run_dir, run_config
from pipeline.training.scoring import saved_model_scores

TOLERANCE = 1e-5
SIDE_SCRIPT = Path(__file__).with_name("compat_side.py")


class CompatError(PipelineError):
    """The side environment is missing or the exported model disagrees there."""


def test_split(run_dir: Path, data_path: Path | None) -> pd.DataFrame:
    """The run's test split, validated."""
    from pipeline.training.train import prepare_frames

    config = run_config(run_dir)
    frame = data.load_dataset(Path(data_path or config.data.path), config.data)
    return prepare_frames(frame, config).test


def check_compat(run_dir: Path, side_python: Path, data_path: Path | None = None) -> dict[str, Any]:
    """Score the test split here and under `side_python`; compare."""
    run_dir = check_run_dir(run_dir)
    if not Path(side_python).exists():
        raise CompatError(f"{side_python}: side environment missing (run `make compat` to build it)")
    test = test_split(run_dir, data_path)
    ours = saved_model_scores(run_dir / "model", test)
    theirs, version = _side_scores(run_dir / "model", data.features_of(test), Path(side_python))
    diff = float(np.max(np.abs(ours - theirs))) if len(ours) else 0.0
    result = {"rows": int(len(ours)), "side_tensorflow": version, "max_abs_diff": diff,
              "tolerance": TOLERANCE, "ok": diff < TOLERANCE}
    if not result["ok"]:
        raise CompatError(f"{run_dir}: TF {version} predicts differently (max abs diff {diff:.2e} >= {TOLERANCE})")
    return result


def _side_scores(model_dir: Path, features: dict[str, np.ndarray], side_python: Path) -> tuple[np.ndarray, str]:
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inputs.write_text(json.dumps({name: values.tolist() for name, values in features.items()}))
        env = {**SETTINGS, "PATH": "/usr/bin:/bin"}
        done = subprocess.run([str(side_python), str(SIDE_SCRIPT), str(model_dir), str(inputs), str(outputs)],
                              capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CompatError(f"{model_dir}: the side environment could not load the model: {last}")
        answer = json.loads(outputs.read_text())
    return np.asarray(answer["scores"], dtype=np.float64), answer["tensorflow"]
