"""Reading finished run directories back: their config, models and re-evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import Config, config_as_dict
from pipeline.core import atomic
from pipeline.core.records import RunContext
from pipeline.core.rundir import RunDir
from pipeline.errors import RunDirError


def check_run_dir(run_dir: Path) -> Path:
    """A complete run directory, or a RunDirError that says what is missing."""
    return RunDir.open(run_dir).path


def run_config(run_dir: Path) -> Config:
    """The configuration a run was trained with."""
    return RunDir(Path(run_dir)).config()


def load_baselines(run_dir: Path) -> dict[str, Any]:
    """The fitted baselines saved by `churn train`."""
    import joblib

    from pipeline.training.baselines import BASELINE_NAMES

    run_dir = Path(run_dir)
    paths = [run_dir / "baselines" / f"{n}.joblib" for n in BASELINE_NAMES]
    missing = [str(p.relative_to(run_dir)) for p in paths if not p.is_file()]
    if missing:
        raise RunDirError(f"{run_dir}: cannot re-evaluate, missing {', '.join(missing)}")
    return {name: joblib.load(path) for name, path in zip(BASELINE_NAMES, paths, strict=True)}


def evaluate_run(run_dir: Path, data_path: Path | None = None) -> dict[str, Any]:
    """Re-run the evaluation of a run (optionally on another labelled file)."""
    from pipeline.training import data  # pandas: not loaded for the registry's run checks
    from pipeline.training.fingerprint import data_fingerprint
    from pipeline.training.train import evaluate_models, prepare_frames

    run_dir = check_run_dir(run_dir)
    config = run_config(run_dir)
    data_path = Path(data_path or config.data.path)
    frame = data.load_dataset(data_path, config.data)
    frames = prepare_frames(frame, config)
    from pipeline.training.scoring import offline_scorer

    fitted = load_baselines(run_dir)
    history = atomic.read_json(run_dir / "history.json") if (run_dir / "history.json").exists() else {}
    context = RunContext(run_id=run_dir.name, created_at="re-evaluated", history=history,
                         config=config_as_dict(config), fingerprint=data_fingerprint(data_path, frame),
                         interval_confidence=config.evaluate.interval_confidence)
    return evaluate_models(run_dir, offline_scorer(run_dir / "model"), fitted, frames, config, context)
