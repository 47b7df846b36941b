"""The shape the architecture promises: one place picks the backend, nothing happens at
import, commands are registered explicitly."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"
BRANCH = re.compile(r"\bbackend\s*(==|!=|in\s*[\(\[{])|\bbackend\.kind\s*(==|!=)")


def test_no_backend_branch_outside_the_backends() -> None:
    found = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in PACKAGE.rglob("*.py") if "backends" not in path.relative_to(PACKAGE).parts
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if BRANCH.search(line)]
    assert not found, found


def test_importing_the_package_sets_no_environment() -> None:
    code = ("import os; before = dict(os.environ); import pipeline, pipeline.cli.app, pipeline.backends; "
            "changed = {k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k)}; "
            "print(sorted(changed))")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("TF_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_command_is_registered_without_side_effects() -> None:
    from typer.main import get_command

    from pipeline.cli.app import app

    names = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert {"data", "train", "evaluate", "export", "upload", "models", "deploy", "undeploy", "cleanup",
            "serve", "predict", "logs", "monitor", "simulate", "monitoring", "alerts", "retrain",
            "doctor", "docs", "compat"} <= names


def test_no_module_is_too_long() -> None:
    long = [f"{p.relative_to(PACKAGE)}: {n} lines" for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420]
    assert not long, long


def modules_loaded_by(commands: str, modules: tuple[str, ...], tmp_path: Path) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after running `commands` (a Python
    literal list of argument lists; `sets` points them at an empty artifacts folder)."""
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom pipeline.cli.app import app\n"
            f"sets = ['--set', 'paths.artifacts={tmp_path}']\n"
            f"for args in {commands}:\n"
            "    CliRunner().invoke(app, args)\n"
            f"print(sorted(m for m in {modules!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_commands_that_need_no_model_do_not_import_tensorflow(tmp_path: Path) -> None:
    commands = ("[['--help'], ['models', 'list', *sets], ['docs', 'config-reference'], ['doctor', *sets], "
                "['logs', 'export', '--out', 'x.csv', *sets], ['monitoring', 'status', *sets], "
                "['simulate', '--rows', '1', '--url', 'http://127.0.0.1:9', *sets]]")
    assert modules_loaded_by(commands, ("tensorflow", "keras", "sklearn"), tmp_path) == []


def test_commands_that_read_no_data_do_not_import_pandas(tmp_path: Path) -> None:
    commands = ("[['--help'], ['models', 'list', *sets], ['models', 'show', 'churn@1', *sets], "
                "['docs', 'config-reference'], ['doctor', *sets], ['monitoring', 'status', *sets]]")
    assert modules_loaded_by(commands, ("pandas", "pyarrow"), tmp_path) == []
