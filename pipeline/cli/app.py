"""The `churn` Typer app: every command group registered explicitly, at import, with no
side effects beyond building the app (the groups import their heavy modules lazily)."""

from __future__ import annotations

import typer

from pipeline.cli import data, endpoints, jobs, models, monitor, pipelines, retrain, serve, tools, train

app = typer.Typer(
    name="churn",
    help="Customer-churn pipeline: data -> train -> evaluate -> export -> upload -> deploy "
    "-> monitor -> retrain. Local backend by default; configs/vertex.yaml for Vertex AI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

for group in (data, train, models, endpoints, serve, jobs, monitor, retrain, pipelines, tools):
    group.register(app)
