"""Backends behind one interface (pipeline.backends.base): `local` (this machine) and `vertex`
(Google Cloud Vertex AI). `backend_for(config)` picks one from `config.backend`; it is the only
place that asks which backend a config names (or, with `target`, which engine the user picked
for a training or batch prediction job)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipeline.config import Config

if TYPE_CHECKING:
    from pipeline.backends.base import Backend


def backend_for(config: Config, dry_run: bool = False, server_args: Sequence[str] = (),
                target: str | None = None) -> Backend:
    """The backend `config.backend` names, or `target` ("local" or "vertex": `--target` of
    `churn train` and `churn predict`) when given. `dry_run` (vertex): record the plan, call
    nothing. `server_args` (local): the --config/--set options a background `churn serve` needs."""
    if (target or config.backend) == "vertex":
        from pipeline.backends.vertex.backend import VertexBackend

        return VertexBackend(config, dry_run=dry_run)
    from pipeline.backends.local import LocalBackend

    return LocalBackend(config, server_args=server_args, dry_run=dry_run)


def pipeline_target(config: Config, target: str | None = None) -> str:
    """Where `churn pipeline run` runs the pipeline: `target` when given ('local': kfp.local on
    this machine, 'vertex': Vertex AI Pipelines), else where the config's backend runs."""
    if target not in (None, "local", "vertex"):
        from pipeline.errors import ConfigError

        raise ConfigError(f"--target '{target}': expected local or vertex")
    return target or config.backend
