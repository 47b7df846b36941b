"""Multi-worker training with TensorFlow's own engine: MultiWorkerMirroredStrategy.

Every task of the cluster runs the same `churn train`; the cluster comes from the
environment, as Vertex AI custom training sets it:
  TF_CONFIG     {"cluster": {"chief": [...], "worker": [...]}, "task": {"type": "chief", "index": 0}}
  CLUSTER_SPEC  {"cluster": {"workerpool0": [...], "workerpool1": [...]}, "task": {"type": "workerpool0", ...}}
                (Vertex's own form: workerpool0 is the chief, workerpool1 the workers; workerpool2,
                parameter servers or a Reduction Server, and workerpool3, an evaluator, run no
                `churn train` under this strategy and are left out of the cluster)
TF_CONFIG wins when both are set. Training is distributed when the cluster names more than one
chief/worker task.

Keras 3's model.fit fails under this strategy (keras-team/keras#20585, "Attempt to convert a value
(PerReplica...)"), so the network from model.build_model is trained by a custom loop:
experimental_distribute_dataset + strategy.run + tf.nn.compute_average_loss, with the model's own
compiled optimizer (Adam) and loss. The dataset is the same tf.data pipeline of (features, label)
batches as the single-process path; its batch size is the global batch, each worker reads its share
of every batch (auto-shard policy DATA), so the updates are those of one process with batch_size.

Only the chief writes the run directory. The trained weights are copied into an unreplicated model
built by the same build_model, and the chief exports that exactly as a single process would, so
saving involves no collective op and the workers write nothing at all (TensorFlow's "workers save
to a temporary directory" pattern is for saving a distributed model; here nothing distributed is
saved). Workers then wait at a coordination-service barrier until the chief has finished, so no
task leaves while another still talks to it (a task leaving early makes the others log
heartbeat errors).

Timeouts, so a missing or dead task is one clear error, not a hang: the coordination service
waits train.cluster_timeout_s for every task to register, heartbeats and every collective
(CommunicationOptions) time out after as long, and workers wait train.cluster_finish_timeout_s
for the chief.

One machine with several GPUs and no cluster uses MirroredStrategy over its GPUs through the same
loop (not testable on CPU-only machines: untested).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.errors import ClusterError, clip

if TYPE_CHECKING:
    from pipeline.config import TrainConfig

# Vertex's worker pools, in workerPoolSpecs order, and the TensorFlow job each one is.
VERTEX_POOLS = {"workerpool0": "chief", "workerpool1": "worker", "workerpool2": "ps", "workerpool3": "evaluator"}
TRAINING_JOBS = ("chief", "worker")  # the jobs MultiWorkerMirroredStrategy trains on
FINISHED_BARRIER = "churn-train-finished"


def peer_failures() -> tuple[type[Exception], ...]:
    import tensorflow as tf

    return (tf.errors.DeadlineExceededError, tf.errors.UnavailableError, tf.errors.AbortedError,
            tf.errors.CancelledError, tf.errors.InternalError)


@dataclass(frozen=True)
class Cluster:
    """This task's place in a training cluster."""

    jobs: dict[str, list[str]]  # job name -> host:port of each task (chief and worker only)
    task_type: str
    task_index: int
    source: str = "TF_CONFIG"  # which environment variable it came from
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_workers(self) -> int:
        return sum(len(self.jobs.get(job, [])) for job in TRAINING_JOBS)

    @property
    def is_multi_worker(self) -> bool:
        return self.num_workers > 1

    @property
    def is_chief(self) -> bool:
        """The chief writes the run directory: the chief task, or worker 0 when there is none."""
        if "chief" in self.jobs:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def address(self) -> str:
        return self.jobs[self.task_type][self.task_index]

    def describe(self) -> str:
        role = "chief" if self.is_chief else f"{self.task_type} {self.task_index}"
        return f"{role} of {self.num_workers} tasks ({self.source}, this one on {self.address})"

    def tf_config(self) -> dict[str, Any]:
        """The TF_CONFIG form TensorFlow's cluster resolver reads."""
        return {"cluster": self.jobs, "task": {"type": self.task_type, "index": self.task_index}}


def read_cluster(environ: Mapping[str, str] | None = None) -> Cluster | None:
    """The cluster TF_CONFIG (or else Vertex's CLUSTER_SPEC) describes; None when neither is set."""
    environ = os.environ if environ is None else environ
    for name in ("TF_CONFIG", "CLUSTER_SPEC"):
        text = environ.get(name, "").strip()
        if text:
            return parse_cluster(text, name)
    return None


def parse_cluster(text: str, source: str) -> Cluster:
    """TF_CONFIG or CLUSTER_SPEC text as a Cluster; a ClusterError names the field otherwise."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ClusterError(f"{source}: not valid JSON ({clip(str(exc), 80)})") from None
    if not isinstance(document, dict):
        raise ClusterError(f"{source}: expected a JSON object with 'cluster' and 'task'")
    cluster, task = document.get("cluster"), document.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ClusterError(f"{source}: 'cluster' must be an object of job name -> list of host:port")
    if not isinstance(task, dict):
        raise ClusterError(f"{source}: 'task' must be an object with 'type' and 'index'")
    jobs = {str(name): _addresses(source, str(name), hosts) for name, hosts in cluster.items()}
    task_type, task_index = str(task.get("type", "")), task.get("index", 0)
    if source == "CLUSTER_SPEC":
        jobs, task_type = _from_vertex_pools(jobs, task_type)
    if not isinstance(task_index, int) or isinstance(task_index, bool) or task_index < 0:
        raise ClusterError(f"{source}: task.index must be a whole number >= 0 (got {task_index!r})")
    training = {job: hosts for job, hosts in jobs.items() if job in TRAINING_JOBS and hosts}
    if task_type not in TRAINING_JOBS:
        raise ClusterError(f"{source}: task.type {task_type!r} runs no training under MultiWorkerMirroredStrategy "
                           f"(expected one of {', '.join(TRAINING_JOBS)})")
    if task_index >= len(training.get(task_type, [])):
        raise ClusterError(f"{source}: task {task_type} {task_index} is not in cluster.{task_type} "
                           f"({len(training.get(task_type, []))} listed)")
    if len(training.get("chief", [])) > 1:
        raise ClusterError(f"{source}: cluster.chief lists {len(training['chief'])} tasks; expected one")
    extra = {k: v for k, v in document.items() if k not in ("cluster", "task")}
    return Cluster(jobs=training, task_type=task_type, task_index=task_index, source=source, extra=extra)


def _addresses(source: str, job: str, hosts: Any) -> list[str]:
    if not isinstance(hosts, list) or not all(isinstance(h, str) and ":" in h for h in hosts):
        raise ClusterError(f"{source}: cluster.{job} must be a list of host:port strings")
    return list(hosts)


def _from_vertex_pools(pools: dict[str, list[str]], task_type: str) -> tuple[dict[str, list[str]], str]:
    unknown = sorted(set(pools) - set(VERTEX_POOLS))
    if unknown:
        raise ClusterError(f"CLUSTER_SPEC: unknown worker pool {unknown[0]!r} (expected workerpool0..workerpool3)")
    if task_type not in VERTEX_POOLS:
        raise ClusterError(f"CLUSTER_SPEC: task.type {task_type!r} is not a worker pool (expected workerpool0..3)")
    return {VERTEX_POOLS[pool]: hosts for pool, hosts in pools.items()}, VERTEX_POOLS[task_type]


def connect(cluster: Cluster, timeout_s: float) -> Any:
    """MultiWorkerMirroredStrategy over `cluster`, once every task has joined; a ClusterError
    after `timeout_s` when one has not (it never started, died, or listens elsewhere)."""
    import tensorflow as tf
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    timeout_ms = int(timeout_s * 1000)
    # The strategy configures a coordination service with no registration deadline (a missing task
    # is an endless wait) unless one is configured already: configure it with deadlines first.
    leader = "chief" if "chief" in cluster.jobs else "worker"
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=f"/job:{leader}/replica:0/task:0",
        cluster_register_timeout_in_ms=timeout_ms, heartbeat_timeout_in_ms=timeout_ms,
        shutdown_barrier_timeout_in_ms=timeout_ms,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(hosts))
                          for job, hosts in cluster.jobs.items()])
    # Registration as a barrier is what makes cluster_register_timeout_in_ms a deadline for the
    # whole cluster (configure_coordination_service has no argument for it).
    context.context().coordination_service.cluster_register_with_barrier = True
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster.jobs), task_type=cluster.task_type, task_id=cluster.task_index,
        rpc_layer="grpc")
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_s)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver, communication_options=options)
        _all_reduce_one(strategy)  # every task answers once before any work starts
    except peer_failures() as exc:
        raise cluster_failure(cluster, "did not all join", timeout_s, exc) from None
    return strategy


def local_strategy() -> Any:
    """MirroredStrategy over this machine's GPUs when it has several (untested here: CPU only);
    None otherwise (the single-process path then runs model.fit as it always has)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else None


def _all_reduce_one(strategy: Any) -> None:
    import tensorflow as tf

    @tf.function
    def hello() -> Any:
        return strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)

    joined = int(hello().numpy())
    if joined != strategy.num_replicas_in_sync:
        raise ClusterError(f"cluster: {joined} of {strategy.num_replicas_in_sync} replicas answered")


def cluster_failure(cluster: Cluster, what: str, timeout_s: float, exc: Exception) -> ClusterError:
    """One line: which cluster, what failed, the TensorFlow reason in brief, what to do."""
    reason = " ".join(str(getattr(exc, "message", exc)).split()).split(". ")[0]  # TensorFlow's first sentence
    addresses = ", ".join(f"{job} {i} {host}" for job, hosts in cluster.jobs.items() for i, host in enumerate(hosts))
    return ClusterError(
        f"cluster ({cluster.source}: {addresses}): the tasks {what} within {timeout_s:g} s "
        f"({exc.__class__.__name__}: {clip(reason, 120)}); start every task of the cluster with the same "
        "command, check the ports, or raise train.cluster_timeout_s")


def wait_for_everyone(cluster: Cluster, timeout_s: float) -> None:
    """Every task waits here until all have arrived (workers: until the chief has written the run)."""
    from tensorflow.python.eager import context

    try:
        context.context().wait_at_barrier(FINISHED_BARRIER, int(timeout_s * 1000))
    except peer_failures() as exc:
        raise cluster_failure(cluster, "did not all finish", timeout_s, exc) from None


def fit_distributed(strategy: Any, scaler: Any, fit: Any, validation: Any, config: TrainConfig,
                    on_epoch: Callable[[dict[str, float]], None] | None = None) -> tuple[Any, dict[str, list[float]]]:
    """Train build_model's network on `fit` (a tf.data.Dataset of (features, label) global batches)
    under `strategy`, validating on `validation` each epoch; returns an unreplicated copy of the
    trained network (same weights, ready to save and export) and its loss history."""
    from pipeline.training.model import build_model

    with strategy.scope():
        model = build_model(scaler, config)
        model.optimizer.build(model.trainable_variables)  # its slots are mirrored variables too
    train_step, eval_step = _steps(strategy, model)
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    fit_batches = strategy.experimental_distribute_dataset(shard_by_data(fit))
    validation_batches = strategy.experimental_distribute_dataset(shard_by_data(validation))
    for _ in range(config.epochs):
        # Iterating a distributed dataset agrees across workers on the last, uneven batches.
        history["loss"].append(_mean_loss(train_step, fit_batches))
        history["val_loss"].append(_mean_loss(eval_step, validation_batches))
        if on_epoch is not None:
            on_epoch({name: values[-1] for name, values in history.items()})
    plain = build_model(scaler, config)  # outside the strategy: saving needs no collective op
    plain.set_weights(model.get_weights())
    return plain, history


def shard_by_data(dataset: Any) -> Any:
    """Each worker reads its share of every batch (the source may be one file: no FILE sharding)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _steps(strategy: Any, model: Any) -> tuple[Any, Any]:
    import keras
    import tensorflow as tf

    def losses(features: Any, labels: Any, training: bool) -> Any:
        labels = tf.reshape(tf.cast(labels, tf.float32), (-1, 1))
        return keras.losses.binary_crossentropy(labels, model(features, training=training))  # model's loss

    def replica_train(features: Any, labels: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            per_example = losses(features, labels, training=True)
            loss = tf.nn.compute_average_loss(per_example)  # sum / global batch: replicas add up
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return tf.reduce_sum(per_example), tf.cast(tf.size(per_example), tf.float32)

    def replica_eval(features: Any, labels: Any) -> tuple[Any, Any]:
        per_example = losses(features, labels, training=False)
        return tf.reduce_sum(per_example), tf.cast(tf.size(per_example), tf.float32)

    def reduced(replica_fn: Any) -> Any:
        @tf.function
        def step(batch: Any) -> tuple[Any, Any]:
            total, count = strategy.run(replica_fn, args=batch)
            return strategy.reduce("SUM", total, axis=None), strategy.reduce("SUM", count, axis=None)
        return step

    return reduced(replica_train), reduced(replica_eval)


def _mean_loss(step: Any, batches: Any) -> float:
    total, count = 0.0, 0.0
    for batch in batches:
        batch_total, batch_count = step(batch)
        total, count = total + float(batch_total), count + float(batch_count)
    return total / max(count, 1.0)
