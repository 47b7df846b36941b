"""`churn train`'s entry: one process, or one task of a multi-worker cluster.

TF_CONFIG or Vertex's CLUSTER_SPEC naming more than one chief/worker task makes this process
a task of tf.distribute.MultiWorkerMirroredStrategy (distributed.py); otherwise it trains as
train.train_run always has (MirroredStrategy when this machine has several GPUs)."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Config
from pipeline.core import atomic, progress
from pipeline.errors import ClusterError
from pipeline.training import distributed, sources
from pipeline.training.train import fit_keras, new_run_dir, prepare_frames, seed_everything, train_run


def train_or_join(config: Config, data_path: Path | str | None = None, run_dir: Path | None = None,
                  profile: bool = False, streaming: bool | None = None) -> Path | None:
    """The chief (or the only process) returns the run directory it wrote; workers train
    their share, wait for the chief, and return None."""
    cluster = distributed.read_cluster()
    if cluster is None or not cluster.is_multi_worker:
        return train_run(config, data_path, run_dir, streaming=streaming, profile=profile,
                         strategy=distributed.local_strategy())
    if profile:
        raise ClusterError("--profile traces one process: run it without TF_CONFIG/CLUSTER_SPEC")
    progress.STDERR.print(f"multi-worker training: {cluster.describe()}", highlight=False, soft_wrap=True)
    final = None
    if cluster.is_chief:
        final = Path(run_dir) if run_dir else new_run_dir(config)
        atomic.probe_new_directory(final)  # refused before the cluster waits on this task
    strategy = distributed.connect(cluster, config.train.cluster_timeout_s)
    try:
        if final is not None:
            train_run(config, data_path, final, streaming=streaming, strategy=strategy)
        else:
            train_worker_share(config, data_path, strategy)
    except distributed.peer_failures() as exc:  # a task died or stopped answering mid-training
        raise distributed.cluster_failure(cluster, "did not all keep answering", config.train.cluster_timeout_s,
                                          exc) from None
    distributed.wait_for_everyone(cluster, config.train.cluster_finish_timeout_s)
    return final


def train_worker_share(config: Config, data_path: Path | str | None, strategy: object) -> None:
    """A worker: the same rows and split as the chief, its share of every step; writes nothing."""
    frame = sources.load_frame(sources.open_source(data_path or config.data.path, config))
    frames = prepare_frames(frame, config)
    seed_everything(config.train.seed)
    with progress.make_progress() as bar:
        fit_keras(frames, config, None, bar, strategy)
