"""The `churn` command line: parses arguments and makes one call on a step or the backend.

One module per command group, named after its commands (data, train, models, endpoints,
serve, monitor, retrain, tools); pipeline.cli.app builds the app from them. User mistakes
(PipelineError) are printed as one line and exit with code 2.
"""

from __future__ import annotations

import logging
import os
import sys


def main() -> None:
    """Entry point of the `churn` console script and `python -m pipeline`."""
    from rich.markup import escape

    from pipeline.cli.app import app
    from pipeline.cli.common import console_err
    from pipeline.core.tensorflow_setup import configure_tensorflow
    from pipeline.errors import PipelineError

    configure_tensorflow()
    logging.basicConfig(level=os.environ.get("CHURN_LOG_LEVEL", "WARNING"),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except PipelineError as exc:
        # Messages quote the user's values: escape them ("[/]" is rich markup) and keep one line.
        message = escape(" ".join(str(exc).splitlines()))
        console_err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(2)
