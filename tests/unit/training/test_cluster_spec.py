"""TF_CONFIG and Vertex's CLUSTER_SPEC as a training cluster (no TensorFlow needed)."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import ClusterError
from pipeline.training.distributed import parse_cluster, read_cluster

TWO = {"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222"]}


def test_no_cluster_in_the_environment_is_single_process() -> None:
    assert read_cluster({}) is None
    assert read_cluster({"TF_CONFIG": "  "}) is None


def test_tf_config_chief_and_worker() -> None:
    chief = read_cluster({"TF_CONFIG": json.dumps({"cluster": TWO, "task": {"type": "chief", "index": 0}})})
    worker = read_cluster({"TF_CONFIG": json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 0}})})
    assert chief is not None and worker is not None
    assert chief.is_multi_worker and chief.num_workers == 2
    assert chief.is_chief and not worker.is_chief
    assert worker.address == "10.0.0.2:2222"
    assert chief.tf_config() == {"cluster": TWO, "task": {"type": "chief", "index": 0}}


def test_without_a_chief_worker_zero_writes_the_run() -> None:
    cluster = {"worker": ["a:1", "b:2", "c:3"]}
    first = parse_cluster(json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}), "TF_CONFIG")
    second = parse_cluster(json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 2}}), "TF_CONFIG")
    assert first.is_chief and not second.is_chief and first.num_workers == 3


def test_one_task_is_not_multi_worker() -> None:
    one = parse_cluster(json.dumps({"cluster": {"chief": ["a:1"]}, "task": {"type": "chief"}}), "TF_CONFIG")
    assert not one.is_multi_worker


def test_vertex_cluster_spec_pools_become_jobs() -> None:
    spec = {"cluster": {"workerpool0": ["cmle-training-workerpool0-1-0:2222"],
                        "workerpool1": ["cmle-training-workerpool1-1-0:2222", "cmle-training-workerpool1-1-1:2222"],
                        "workerpool2": ["cmle-training-workerpool2-1-0:2222"]},
            "environment": "cloud", "task": {"type": "workerpool1", "index": 1, "trial": ""}, "job": "{}"}
    cluster = read_cluster({"CLUSTER_SPEC": json.dumps(spec)})
    assert cluster is not None and cluster.source == "CLUSTER_SPEC"
    assert cluster.task_type == "worker" and cluster.task_index == 1 and not cluster.is_chief
    assert set(cluster.jobs) == {"chief", "worker"}  # the ps / Reduction Server pool trains nothing
    assert cluster.num_workers == 3


def test_tf_config_wins_over_cluster_spec() -> None:
    environ = {"TF_CONFIG": json.dumps({"cluster": TWO, "task": {"type": "chief", "index": 0}}),
               "CLUSTER_SPEC": "not even json"}
    cluster = read_cluster(environ)
    assert cluster is not None and cluster.source == "TF_CONFIG"


@pytest.mark.parametrize(("text", "source", "expected"), [
    ("{not json", "TF_CONFIG", "TF_CONFIG: not valid JSON"),
    ("[1]", "TF_CONFIG", "expected a JSON object"),
    ('{"task": {"type": "chief"}}', "TF_CONFIG", "'cluster' must be an object"),
    ('{"cluster": {"chief": ["a:1"]}}', "TF_CONFIG", "'task' must be an object"),
    ('{"cluster": {"chief": "a:1"}, "task": {"type": "chief"}}', "TF_CONFIG", "cluster.chief must be a list"),
    ('{"cluster": {"chief": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "TF_CONFIG", "task.type 'ps'"),
    ('{"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 1}}', "TF_CONFIG",
     "task worker 1 is not in cluster.worker (1 listed)"),
    ('{"cluster": {"chief": ["a:1"]}, "task": {"type": "chief", "index": -1}}', "TF_CONFIG", "task.index"),
    ('{"cluster": {"chief": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}}', "TF_CONFIG",
     "lists 2 tasks"),
    ('{"cluster": {"workerpool9": ["a:1"]}, "task": {"type": "workerpool0"}}', "CLUSTER_SPEC",
     "unknown worker pool 'workerpool9'"),
    ('{"cluster": {"workerpool0": ["a:1"], "workerpool3": ["b:2"]}, "task": {"type": "workerpool3", "index": 0}}',
     "CLUSTER_SPEC", "task.type 'evaluator'"),
])
def test_bad_cluster_descriptions_are_one_line(text: str, source: str, expected: str) -> None:
    with pytest.raises(ClusterError) as caught:
        parse_cluster(text, source)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
