"""The compiled churn pipeline run on this machine by kfp.local's SubprocessRunner: each
component a subprocess of this Python (use_venv=False: the package is already installed,
nothing is pip-installed), artifacts under artifacts/pipeline/local/<pipeline>-<time>/<task>/.
The steps use the config's backend, as the commands do (configs/local.yaml: the local
registry and endpoint)."""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import PipelineError


@dataclass(frozen=True)
class LocalPipelineRun:
    """What one local run left: its folder and each task's artifacts' summaries."""

    folder: Path
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


def absolute(config: Config) -> Config:
    """The config with its paths absolute, so every component finds the same files whatever
    folder it starts in."""
    paths = config.paths.model_copy(update={"artifacts": config.paths.artifacts.resolve()})
    path = config.data.path  # gs:// and bq:// sources stay as they are
    data = config.data.model_copy(update={"path": path.resolve() if isinstance(path, Path) else path})
    return config.model_copy(update={"paths": paths, "data": data})


def local_root(config: Config) -> Path:
    return config.paths.artifacts / "pipeline" / "local"


def run_local(config: Config, data_uri: str | None = None, deploy: bool = True, stop_endpoint: bool = False
              ) -> LocalPipelineRun:
    """Run every step of the pipeline here; returns the run's folder and what each task made.
    `stop_endpoint`: take down the endpoint the deploy step started, once the run is over
    (whether it succeeded or not). A failed task is one PipelineError naming it (its own
    output is printed above)."""
    from kfp import local

    from pipeline.orchestration.definition import build_pipeline, parameter_values

    config = absolute(config)
    if data_uri is not None and "://" not in data_uri:
        data_uri = str(Path(data_uri).resolve())
    root = local_root(config)
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    started = dt.datetime.now()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    try:
        with warnings.catch_warnings():
            # Here the components run in this Python, not in their image: that is the point.
            warnings.filterwarnings("ignore", message="You may be attemping to run a task that uses custom",
                                    category=RuntimeWarning)
            build_pipeline(config)(**parameter_values(config, data_uri, deploy))
    except RuntimeError as exc:
        raise PipelineError(f"local pipeline run failed: {exc} (the task's output is above; its "
                            f"artifacts are under {root})") from None
    finally:
        if stop_endpoint:
            _stop_deployed(config, set(root.iterdir()) - before)
    created = sorted(set(root.iterdir()) - before)
    if len(created) != 1:
        raise PipelineError(f"{root}: expected one new pipeline run folder, found {len(created)}")
    return LocalPipelineRun(created[0], task_artifacts(created[0]),
                            (dt.datetime.now() - started).total_seconds())


def _stop_deployed(config: Config, runs: set[Path]) -> None:
    """Undeploy when this run's deploy step deployed (and only then: an endpoint that served
    before the run and was not replaced by it is left alone)."""
    from pipeline.backends import backend_for
    from pipeline.core import atomic
    from pipeline.orchestration.steps import SUMMARY

    for run in runs:
        summary = run / "deploy-model" / "deployment" / SUMMARY
        if summary.is_file() and atomic.read_json(summary).get("deployed"):
            backend_for(config).endpoint.undeploy()
            return


def task_artifacts(folder: Path) -> dict[str, dict[str, Any]]:
    """task name -> artifact name -> its summary.json (folder artifacts) or its file name."""
    from pipeline.core import atomic
    from pipeline.orchestration.steps import SUMMARY, TASKS

    tasks: dict[str, dict[str, Any]] = {}
    order = {name: number for number, name in enumerate(TASKS)}
    for task in sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: (order.get(p.name, 99), p.name)):
        artifacts: dict[str, Any] = {}
        for artifact in sorted(task.iterdir()):
            summary = artifact / SUMMARY
            artifacts[artifact.name] = atomic.read_json(summary) if summary.is_file() else str(artifact)
        tasks[task.name] = artifacts
    return tasks
