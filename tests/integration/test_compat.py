"""The exported SavedModel predicts the same under TensorFlow 2.15 (Vertex's serving image)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.tools.compat import CompatError, check_compat

ROOT = Path(__file__).resolve().parents[2]
SIDE = ROOT / ".venv-tf215"


@pytest.mark.slow
def test_saved_model_matches_under_tf215(trained_run: Path, small_csv: Path) -> None:
    subprocess.run(["make", "-s", f"{SIDE.name}/.installed"], cwd=ROOT, check=True, timeout=900)
    result = check_compat(trained_run, SIDE / "bin" / "python", small_csv)
    assert result["side_tensorflow"].startswith("2.15")
    assert result["max_abs_diff"] < 1e-5 and result["rows"] == 240 and result["ok"]
    outputs = ["churn_probability", "raw_probability", "interval", "churn"]
    assert list(result["differences"]["serving_default"]) == outputs  # every output compared
    assert list(result["differences"]["with_customer_id"]) == [*outputs, "customerID"]
    assert result["differences"]["serving_default"]["churn"] == 0
    assert result["differences"]["with_customer_id"]["customerID"] == 0


def test_disagreeing_outputs_are_caught() -> None:
    import numpy as np

    from pipeline.tools.compat import agrees, compare_outputs

    ours = {"churn_probability": np.array([0.25, 0.5], np.float32), "churn": np.array([False, True]),
            "customerID": np.array(["a", "b"])}
    same = {"churn_probability": [0.25, 0.5], "churn": [False, True], "customerID": ["a", "b"]}
    assert agrees(compare_outputs(ours, same), ours)
    for changed in ({"churn_probability": [0.25, 0.501]}, {"churn": [True, True]}, {"customerID": ["a", "c"]}):
        assert not agrees(compare_outputs(ours, {**same, **changed}), ours), changed
    missing = dict(same)
    del missing["churn"]
    assert compare_outputs(ours, missing)["churn"] == "missing" and not agrees(compare_outputs(ours, missing), ours)


def test_missing_side_environment_is_a_clear_error(trained_run: Path, tmp_path: Path) -> None:
    with pytest.raises(CompatError, match="make compat"):
        check_compat(trained_run, tmp_path / "nowhere" / "python")
