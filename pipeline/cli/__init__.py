"""The `churn` command line: parses arguments and calls step functions, nothing more.

Each group of commands lives in its own module and registers itself on `app`.
User mistakes (PipelineError) are printed as one line and exit with code 2.
"""

from __future__ import annotations

import logging
import os
import sys

from rich.markup import escape

from pipeline.cli.common import app, console_err
from pipeline.errors import PipelineError


def _register_commands() -> None:
    # Imported for their side effect of adding commands to `app`.
    from pipeline.cli import steps  # noqa: F401
    for optional in ("registry", "serving", "cloud", "monitoring", "docs"):
        try:
            __import__(f"pipeline.cli.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pipeline.cli.{optional}":
                raise


def main() -> None:
    """Entry point of the `churn` console script and `python -m pipeline`."""
    logging.basicConfig(level=os.environ.get("CHURN_LOG_LEVEL", "WARNING"),
                        format="%(levelname)s %(name)s: %(message)s")
    _register_commands()
    try:
        app()
    except PipelineError as exc:
        # Messages quote the user's values: escape them ("[/]" is rich markup) and keep one line.
        message = escape(" ".join(str(exc).splitlines()))
        console_err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(2)
