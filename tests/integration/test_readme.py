"""Every README shell block marked `bash runnable` works as written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipeline.tools.docs import readme_runnable_blocks

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = readme_runnable_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_runnable_blocks() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(block: str, tmp_path: Path) -> None:
    env = {**os.environ, "CHURN__PATHS__ARTIFACTS": str(tmp_path / "artifacts"), "CHURN__SERVE__PORT": "18931"}
    env.pop("CHURN_CONFIG", None)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"README block failed:\n{block}\n--- stderr ---\n{done.stderr[-3000:]}"
