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
    assert result["max_abs_diff"] < 1e-5 and result["rows"] == 240


def test_missing_side_environment_is_a_clear_error(trained_run: Path, tmp_path: Path) -> None:
    with pytest.raises(CompatError, match="make compat"):
        check_compat(trained_run, tmp_path / "nowhere" / "python")
