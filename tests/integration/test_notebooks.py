"""The notebooks run top to bottom in a fresh kernel and are committed without outputs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
WALKTHROUGH = NOTEBOOKS / "churn_walkthrough.ipynb"
VERTEX_DRY_RUN = NOTEBOOKS / "vertex_dry_run.ipynb"
CELL_TIMEOUT_S = 300
# The walkthrough takes about 55 s on a loaded 2-core machine (the issue asks for about a minute);
# the margin is for slower CI runners, a regression past it is a bug.
WALKTHROUGH_BUDGET_S = 90.0


def jupyter() -> Any:
    """nbformat, once nbclient and ipykernel are known to be there (skip otherwise). Imported
    here, not with the module: nbformat's schema validator takes about 2 s to import, which
    every test worker would pay at collection."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    return nbformat


def run_notebook(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[nbformat.NotebookNode, float]:
    """Execute `path` with cwd notebooks/ in a kernel of this interpreter; return it and the seconds taken."""
    nbformat = jupyter()
    import nbclient
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable, end='')"))
    # The notebook's temporary directories (tempfile.mkdtemp) land in pytest's tmp_path.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    # No kernel directories: "python3" is ipykernel's native spec, i.e. this very interpreter
    # (the project's .venv), whatever kernelspecs the user has installed elsewhere.
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    client = nbclient.NotebookClient(notebook, km=manager, timeout=CELL_TIMEOUT_S, allow_errors=False,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    started = time.monotonic()
    try:
        client.execute()  # raises CellExecutionError, with the cell and traceback, on the first error
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=False)
    elapsed = time.monotonic() - started
    assert notebook.cells[0].outputs[0]["text"] == sys.executable, "the kernel ran another Python"
    return notebook, elapsed


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.slow
def test_walkthrough_runs_top_to_bottom_in_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook, elapsed = run_notebook(WALKTHROUGH, tmp_path, monkeypatch)

    text = outputs_text(notebook)
    assert "registered churn version 1" in text
    assert "endpoint stopped" in text
    assert "promoted:" in text
    assert not list(tmp_path.glob("churn-walkthrough-*")), "the last cell should remove the temporary artifacts"
    assert elapsed < WALKTHROUGH_BUDGET_S, f"walkthrough took {elapsed:.0f}s (budget {WALKTHROUGH_BUDGET_S:.0f}s)"


def test_vertex_dry_run_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook, _ = run_notebook(VERTEX_DRY_RUN, tmp_path, monkeypatch)

    text = outputs_text(notebook)
    assert "gcloud ai models upload" in text
    assert "gcloud ai endpoints deploy-model" in text
    assert "gcloud ai model-monitoring-jobs create" in text
    assert not list(tmp_path.glob("churn-vertex-dry-run-*"))


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nbformat = jupyter()
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts (clear them before committing)"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


def test_both_notebooks_exist() -> None:
    assert WALKTHROUGH.is_file() and VERTEX_DRY_RUN.is_file()
