"""Serving-runtime compatibility: the newest prebuilt Vertex serving image runs TF 2.15, so
the SavedModel we export must load there and answer what we answer: every output of
`serving_default` (floats within 1e-5, the decision exactly) and of `with_customer_id`
(the same outputs, customerID echoed).

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
from pipeline.training import data, export, schema
from pipeline.training.runs import check_run_dir, run_config
from pipeline.training.scoring import offline_outputs

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


def compare_outputs(ours: dict[str, np.ndarray], theirs: dict[str, list]) -> dict[str, Any]:
    """Per output: max abs diff (floats) or rows that differ (decision, echoed IDs)."""
    found: dict[str, Any] = {}
    for name, values in ours.items():
        if name not in theirs:
            found[name] = "missing"
        elif values.dtype.kind in "fc":
            other = np.asarray(theirs[name], dtype=np.float64)
            found[name] = float(np.max(np.abs(values.astype(np.float64) - other))) if values.size else 0.0
        else:
            found[name] = int(np.sum(np.asarray(values).astype(str) != np.asarray(theirs[name]).astype(str)))
    return found


def agrees(differences: dict[str, Any], ours: dict[str, np.ndarray]) -> bool:
    """Floats within TOLERANCE, the others identical, nothing missing."""
    for name, value in differences.items():
        if value == "missing":
            return False
        if (ours[name].dtype.kind in "fc" and not value < TOLERANCE) or (ours[name].dtype.kind not in "fc" and value):
            return False
    return True


def check_compat(run_dir: Path, side_python: Path, data_path: Path | None = None) -> dict[str, Any]:
    """Answer the test split here and under `side_python` through both signatures; compare all outputs."""
    run_dir = check_run_dir(run_dir)
    if not Path(side_python).exists():
        raise CompatError(f"{side_python}: side environment missing (run `make compat` to build it)")
    test = test_split(run_dir, data_path)
    ours = offline_outputs(run_dir / "model")(test)
    ids = test[schema.ID_COLUMN].astype(str).to_numpy()
    expected = {export.SIGNATURE: ours, export.ID_SIGNATURE: {**ours, schema.ID_COLUMN: ids}}
    theirs, version = _side_outputs(run_dir / "model", {**data.features_of(test), schema.ID_COLUMN: ids},
                                    Path(side_python))
    differences = {name: compare_outputs(answer, theirs.get(name, {})) for name, answer in expected.items()}
    floats = [v for by_output in differences.values() for v in by_output.values() if isinstance(v, float)]
    result = {"rows": int(len(test)), "side_tensorflow": version, "differences": differences,
              "max_abs_diff": max(floats, default=0.0), "tolerance": TOLERANCE,
              "ok": all(agrees(differences[name], answer) for name, answer in expected.items())}
    if not result["ok"]:
        raise CompatError(f"{run_dir}: TF {version} answers differently: {json.dumps(differences)[:200]}")
    return result


def _side_outputs(model_dir: Path, features: dict[str, np.ndarray], side_python: Path
                  ) -> tuple[dict[str, dict[str, list]], str]:
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inputs.write_text(json.dumps({name: values.tolist() for name, values in features.items()}))
        env = {**SETTINGS, "PATH": "/usr/bin:/bin"}
        done = subprocess.run([str(side_python), str(SIDE_SCRIPT), str(model_dir), str(inputs), str(outputs)],
                              capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CompatError(f"{model_dir}: the side environment could not load the model: {last[:200]}")
        answer = json.loads(outputs.read_text())
    return answer["signatures"], answer["tensorflow"]
