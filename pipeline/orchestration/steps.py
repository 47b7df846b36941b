"""The pipeline's steps as plain functions over folders: what each KFP component runs.

Each step takes the config (as the JSON text the pipeline passes around), reads the folders
of the artifacts it consumes and fills the folder of the artifact it produces, with a
summary.json saying what it did. They call the functions the `churn` commands call
(train_run, evaluate_run, the retrain gate, and the Backend for upload, deploy and monitoring
setup), so a pipeline run and a sequence of commands give the same results. No kfp here:
these run, and are tested, without it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pipeline.config import Config, load_config
from pipeline.core import atomic
from pipeline.errors import DataError, RunDirError

# The tasks of the compiled pipeline, in the order they run.
TASKS = ("validate-data", "train-model", "evaluate-model", "gate-model", "upload-model", "deploy-model",
         "setup-monitoring")
SUMMARY = "summary.json"
CONFIG = "config.yaml"
DATASET = "customer_churn.csv"
DECISION = "decision.json"
# Where Vertex AI Pipelines mounts Cloud Storage in every component (Cloud Storage FUSE).
GCS_MOUNT = Path("/gcs")


def step_config(config_text: str, folder: Path, sets: list[str] | None = None) -> Config:
    """The pipeline's config (JSON text, which YAML reads) with `sets` applied, kept as folder/config.yaml:
    the record of what the step ran with, and the file a background `churn serve` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    path = atomic.write_text(folder / CONFIG, config_text)
    return load_config(path, sets or (), environ={})


def pipeline_sets(model_name: str, min_auc_gain: float, tolerance: float, data_path: Path | None = None
                  ) -> list[str]:
    """The pipeline parameters as --set overrides of the config they travel with."""
    sets = [f"registry.model_name={model_name}", f"retrain.min_auc_gain={min_auc_gain}",
            f"retrain.tolerance={tolerance}"]
    return sets + ([f"data.path={data_path}"] if data_path is not None else [])


def local_path(uri: str) -> Path:
    """A data URI as a file this process reads: gs://BUCKET/OBJECT through Vertex's Cloud
    Storage mount (/gcs/BUCKET/OBJECT), anything else as a local path."""
    if uri.startswith("gs://"):
        return GCS_MOUNT / uri[len("gs://"):]
    if "://" in uri:
        raise DataError(f"data URI '{uri}': the pipeline reads a CSV file or gs://BUCKET/OBJECT")
    return Path(uri)


def write_summary(folder: Path, summary: dict[str, Any]) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_json(folder / SUMMARY, summary)
    return summary


def read_summary(folder: Path) -> dict[str, Any]:
    path = Path(folder) / SUMMARY
    if not path.is_file():
        raise RunDirError(f"{folder}: no {SUMMARY}: not an artifact of a churn pipeline step")
    return dict(atomic.read_json(path))


def run_in(folder: Path) -> Path:
    """The run directory an artifact folder holds (train and evaluate put it at folder/<run id>,
    so the run keeps its id wherever the engine puts the artifact)."""
    return Path(folder) / str(read_summary(folder)["run_id"])


def validate_data(config: Config, data_uri: str, out: Path) -> dict[str, Any]:
    """Check the CSV (columns, types, ranges, unique ids, both classes) and keep a copy of the
    exact bytes checked as the pipeline's dataset: every later step reads that copy."""
    from pipeline.training import data
    from pipeline.training.fingerprint import data_fingerprint

    source = local_path(data_uri)
    frame = data.load_dataset(source, config.data)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, out / DATASET)
    fingerprint = data_fingerprint(data_uri, frame)
    return write_summary(out, {"source": data_uri, "rows": int(len(frame)),
                               "churn_rate": float(data.labels_of(frame).mean()),
                               "sha256": fingerprint.get("sha256"), "file": DATASET})


def train(config: Config, dataset: Path, out: Path, scratch: Path) -> dict[str, Any]:
    """`churn train` on the validated dataset; the finished run directory is copied to
    out/<run id> (built in `scratch` first: renaming folders is what Cloud Storage's mount
    does not do, and train_run publishes its run directory by renaming)."""
    from pipeline.core.rundir import RunDir
    from pipeline.training.train import new_run_dir, train_run

    source = str(read_summary(dataset)["source"])
    built = train_run(config, Path(dataset) / DATASET, Path(scratch) / new_run_dir(config).name, source=source)
    try:
        shutil.copytree(built, out / built.name)
    finally:
        shutil.rmtree(built, ignore_errors=True)
    keras = RunDir(out / built.name).metrics().test["keras"]
    return write_summary(out, {"run_id": built.name, "source": source,
                               "test_metrics": {k: float(v) for k, v in keras.items()}})


def evaluate(run: Path, dataset: Path, out: Path, scratch: Path | None = None) -> dict[str, Any]:
    """`churn evaluate` on a copy of the trained run (a step never changes its inputs):
    metrics.json, plots and report.html recomputed from the SavedModel and the dataset, in
    `scratch` (a temporary folder by default) and then copied to out/<run id>, as train does."""
    import tempfile

    from pipeline.core.rundir import RunDir
    from pipeline.training.runs import evaluate_run

    source = run_in(run)
    with tempfile.TemporaryDirectory(prefix="churn-evaluate-", dir=scratch) as work:
        copy = Path(work) / source.name
        shutil.copytree(source, copy)
        evaluate_run(copy, Path(dataset) / DATASET)
        shutil.copytree(copy, Path(out) / source.name)
    metrics = RunDir(Path(out) / source.name).metrics()
    return write_summary(out, {"run_id": source.name, "threshold": float(metrics.threshold),
                               "test_metrics": {k: float(v) for k, v in metrics.test["keras"].items()}})


def gate(config: Config, run: Path, dataset: Path, out: Path) -> dict[str, Any]:
    """The retrain gate: the challenger against the registry's champion on the dataset's test
    split (churn retrain's rule and behaviour checks). No champion yet: the first model wins."""
    from pipeline.backends import backend_for
    from pipeline.backends.base import LocalModel, ModelVersion
    from pipeline.training import data
    from pipeline.training.retrain import judge

    backend = backend_for(config)
    run_dir = run_in(run)
    registry = backend.registry
    champions = [v for v in registry.versions() if "champion" in v.aliases]
    decision: dict[str, Any] = {"run_id": run_dir.name, "rules": config.retrain.model_dump()}
    if not champions:
        decision.update(promote=True, reason=f"no {registry.name}@champion yet: the first model becomes it",
                        champion_version=None)
    else:
        holdout = data.split_dataset(data.load_dataset(Path(dataset) / DATASET, config.data), config.split).test
        champion = registry.fetch(f"{registry.name}@champion")
        challenger = LocalModel(ModelVersion(registry.name, "challenger", run_id=run_dir.name), run_dir)
        verdict = judge(champion, challenger, holdout, config)
        decision.update(promote=verdict.promote, reason=verdict.reason, metrics=verdict.scores,
                        behaviour=verdict.behaviour, champion_version=champion.version.version_id,
                        holdout_rows=int(len(holdout)))
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / DECISION, decision)
    return write_summary(out, {k: decision[k] for k in ("run_id", "promote", "reason", "champion_version")})


def upload(config: Config, run: Path, promote: bool, out: Path) -> dict[str, Any]:
    """`churn upload` of the evaluated run as a challenger; promoted to champion when the
    gate said so."""
    from pipeline.backends import backend_for

    backend = backend_for(config)
    version = backend.registry.upload(run_in(run), aliases=["challenger"])
    if promote:
        backend.registry.promote(version.version_id, "champion")
    return write_summary(out, {"model": version.ref, "version": version.version_id,
                               "resource_name": version.resource_name, "location": version.location,
                               "champion": promote})


def deploy(config: Config, config_file: Path, out: Path, promote: bool = True, wanted: bool = True
           ) -> dict[str, Any]:
    """`churn deploy` of the champion (canary share from retrain.canary_percentage) when the
    gate promoted the challenger and the run asks to deploy; otherwise a record of why not.
    Locally this starts the background endpoint, which runs on after the pipeline (`churn
    undeploy` stops it)."""
    from pipeline.backends import backend_for

    if not (promote and wanted):
        why = "the gate kept the champion" if not promote else "the run was started with deploy=false"
        return write_summary(out, {"deployed": False, "reason": f"not deployed: {why}"})
    backend = backend_for(config, server_args=["--config", str(Path(config_file).resolve())])
    ref = f"{backend.registry.name}@champion"
    deployment = backend.endpoint.deploy(ref, config.retrain.canary_percentage or None)
    return write_summary(out, {"deployed": True, "endpoint": deployment.endpoint, "url": deployment.url,
                               "model": ref, "model_version": deployment.model_version,
                               "deployed_model_id": deployment.deployed_model_id,
                               "traffic_split": dict(deployment.traffic_split)})


def setup_monitoring(config: Config, deployment: Path, out: Path) -> dict[str, Any]:
    """`churn monitoring setup`: skew/drift monitoring of the endpoint the deploy step just
    served the champion on (nothing when that step did not deploy)."""
    from pipeline.backends import backend_for

    if not read_summary(deployment).get("deployed"):
        return write_summary(out, {"set_up": False, "reason": "no monitoring change: nothing was deployed"})
    outcome = backend_for(config).monitoring.setup()
    details = {k: v for k, v in outcome.details.items() if isinstance(v, str | int | float | bool)}
    return write_summary(out, {"set_up": True, "message": outcome.message, **details})
