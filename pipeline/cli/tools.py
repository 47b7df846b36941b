"""Tool commands: `churn doctor`, `churn docs config-reference`, `churn compat`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pipeline.cli.common import ConfigOpt, SetOpt, console, console_err

if TYPE_CHECKING:
    from pipeline.tools.doctor import CheckResult

docs_app = typer.Typer(help="Documentation generated from the code (the tests keep README.md in sync).",
                       no_args_is_help=True)

_EXISTING_FILE = {"exists": True, "dir_okay": False, "readable": True}
_STATUS_STYLES = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}


def config_reference_command(
    check: Annotated[Path | None, typer.Option(
        "--check", help="Exit 1 when this file's marked reference is out of date.", **_EXISTING_FILE)] = None,
    write: Annotated[Path | None, typer.Option(
        "--write", help="Replace this file's marked reference (atomically).", **_EXISTING_FILE)] = None,
) -> None:
    """Print the configuration reference (markdown) generated from the pydantic models.

    README.md holds it between <!-- config-reference:start --> and <!-- config-reference:end -->.
    Example: [bold]churn docs config-reference --check README.md[/]
    """
    from pipeline.tools import docs

    if check and write:
        raise typer.BadParameter("give --check or --write, not both")
    if write:
        _write_reference(write)
    elif check:
        _check_reference(check)
    else:
        print(docs.config_reference_markdown(), end="")


def _write_reference(path: Path) -> None:
    from pipeline.core import atomic
    from pipeline.tools import docs

    text = path.read_text(encoding="utf-8")
    updated = docs.replace_marked_section(text, docs.config_reference_markdown(), str(path))
    if updated == text:
        console.print(f"{path}: configuration reference already up to date", highlight=False)
        return
    atomic.write_text(path, updated)
    console.print(f"{path}: configuration reference updated", highlight=False)


def _check_reference(path: Path) -> None:
    from pipeline.tools import docs

    if not docs.config_reference_is_current(path.read_text(encoding="utf-8"), str(path)):
        console_err.print(f"{path}: the configuration reference is out of date: run "
                          f"`churn docs config-reference --write {path}`", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"{path}: configuration reference is up to date", highlight=False)


def doctor_command(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Check the environment and the config, and say what to fix: Python, TensorFlow, Keras,
    disk, data, artifacts, the serve port, prometheus; in vertex mode also the project,
    region, bucket, credentials, APIs and bucket access. Exit 1 when a check FAILs.

    Example: [bold]churn doctor --config configs/vertex.yaml --set vertex.project=my-project[/]
    """
    from pipeline.tools import doctor

    with console.status("Checking the environment"):
        results = doctor.run_checks(config, set_ or ())
    console.print(_results_table(results))
    console.print(_summary(results), highlight=False)
    raise typer.Exit(doctor.exit_code(results))


def _results_table(results: list[CheckResult]) -> Table:
    table = Table(title="churn doctor")
    for column in ("check", "status", "detail", "how to fix"):
        table.add_column(column, overflow="fold")
    for result in results:
        style = _STATUS_STYLES[result.status]
        table.add_row(escape(result.name), f"[{style}]{result.status}[/]", escape(result.detail), escape(result.fix))
    return table


def _summary(results: list[CheckResult]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in _STATUS_STYLES}
    return ", ".join(f"{count} {status}" for status, count in counts.items())


def compat_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `churn train`.")],
    side_python: Annotated[Path, typer.Option(help="Python of the TF 2.15 side environment.")] = Path(
        ".venv-tf215/bin/python"),
    data: Annotated[Path | None, typer.Option("--data", help="Data whose test split is compared.")] = None,
) -> None:
    """Check the SavedModel predicts the same under TensorFlow 2.15 (Vertex's serving image).

    `make compat` builds the side environment first.
    Example: [bold]churn compat artifacts/runs/20261125-190000-abc123[/]
    """
    from pipeline.tools.compat import check_compat

    with console.status("Scoring the test split here and under the serving runtime"):
        result = check_compat(run_dir, side_python, data)
    console.print(f"[green]compatible[/]: TF {result['side_tensorflow']} max abs diff "
                  f"{result['max_abs_diff']:.2e} < {result['tolerance']:.0e} on {result['rows']:,} test rows")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
    app.command("compat")(compat_command)
    docs_app.command("config-reference")(config_reference_command)
    app.add_typer(docs_app, name="docs")
