"""Model Monitoring (setup / status / delete) against the fake Vertex API and GCS emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.backends.vertex import (
    delete_model_monitoring,
    deploy_to_vertex,
    monitoring_status,
    setup_model_monitoring,
    upload_run_to_vertex,
)
from pipeline.backends.vertex.session import init_vertex
from pipeline.config import Config
from pipeline.errors import CloudError
from pipeline.training import schema
from tests.fakes.fixtures import TEST_BUCKET, TEST_KMS
from tests.fakes.vertex_server import FakeVertexServer

DATA_URI = f"gs://{TEST_BUCKET}/datasets/churn/customer_churn.csv"
SCHEMA_URI = f"gs://{TEST_BUCKET}/monitoring/churn/instance_schema.yaml"


@pytest.fixture
def deployed(vertex_config: Config, fake_run_dir: Path) -> dict[str, Any]:
    upload_run_to_vertex(vertex_config, fake_run_dir, ["champion"], dry_run=False)
    return deploy_to_vertex(vertex_config, "churn@champion", None, dry_run=False)


def _expected_thresholds() -> dict[str, dict[str, float]]:
    custom = {"Contract": 0.2, "tenure": 0.15}
    return {f: {"value": custom.get(f, 0.3)} for f in schema.FEATURES}


def test_setup_creates_the_job_with_skew_drift_schedule_and_alerts(
        vertex_config: Config, deployed: dict[str, Any], fake_vertex: FakeVertexServer,
        gcs_client: Any) -> None:
    result = setup_model_monitoring(vertex_config, dry_run=False)

    (body,) = fake_vertex.bodies("createMonitoringJob")
    (objective,) = body["modelDeploymentMonitoringObjectiveConfigs"]
    assert objective["deployedModelId"] == deployed["deployed_model_id"]
    config = objective["objectiveConfig"]
    assert config["trainingDataset"] == {"gcsSource": {"uris": [DATA_URI]}, "dataFormat": "csv",
                                         "targetField": "Churn"}
    assert config["trainingPredictionSkewDetectionConfig"]["skewThresholds"] == \
        _expected_thresholds()
    assert config["predictionDriftDetectionConfig"]["driftThresholds"] == _expected_thresholds()
    assert body["endpoint"] == deployed["endpoint"]
    assert body["displayName"] == "churn-monitoring"
    assert body["loggingSamplingStrategy"] == {"randomSampleConfig": {"sampleRate": 0.5}}
    assert body["modelDeploymentMonitoringScheduleConfig"] == {"monitorInterval": "21600s"}
    assert body["modelMonitoringAlertConfig"] == {
        "emailAlertConfig": {"userEmails": ["oncall@example.com"]}, "enableLogging": True}
    assert body["encryptionSpec"] == {"kmsKeyName": TEST_KMS}
    assert body["predictInstanceSchemaUri"] == body["analysisInstanceSchemaUri"] == SCHEMA_URI
    assert body["labels"]["managed-by"] == "churn-pipeline"

    bucket = gcs_client.bucket(TEST_BUCKET)
    landed = bucket.blob("datasets/churn/customer_churn.csv").download_as_bytes()
    assert landed == Path(vertex_config.data.path).read_bytes()
    instance = yaml.safe_load(bucket.blob("monitoring/churn/instance_schema.yaml")
                              .download_as_text())
    assert instance["properties"]["tenure"] == {"type": "integer"}
    assert instance["properties"]["Contract"] == {"type": "string"}
    assert result["deployed_model_ids"] == [deployed["deployed_model_id"]]


def test_status_reports_the_job(vertex_config: Config, deployed: dict[str, Any]) -> None:
    setup_model_monitoring(vertex_config, dry_run=False)

    status = monitoring_status(vertex_config)

    assert status["exists"] is True
    assert status["state"] == "JOB_STATE_RUNNING"
    assert status["deployed_model_ids"] == [deployed["deployed_model_id"]]
    assert status["features_monitored"] == len(schema.FEATURES)
    assert status["training_data"] == DATA_URI
    assert status["monitor_interval_hours"] == 6
    assert status["sample_rate"] == 0.5
    assert status["alert_emails"] == ["oncall@example.com"]


def test_setup_again_replaces_the_job_and_delete_removes_it(
        vertex_config: Config, deployed: dict[str, Any], fake_vertex: FakeVertexServer) -> None:
    first = setup_model_monitoring(vertex_config, dry_run=False)
    second = setup_model_monitoring(vertex_config, dry_run=False)

    assert second["replaced"] == [first["job"]]
    assert list(fake_vertex.state.jobs) == [second["job"]]

    deleted = delete_model_monitoring(vertex_config, dry_run=False)

    assert deleted["deleted"] == [second["job"]]
    assert fake_vertex.state.jobs == {}
    assert monitoring_status(vertex_config)["exists"] is False


def test_endpoint_without_deployed_model_is_refused(
        vertex_config: Config, fake_vertex: FakeVertexServer, gcs_client: Any) -> None:
    from google.cloud import aiplatform

    init_vertex(vertex_config)
    aiplatform.Endpoint.create(display_name="churn-endpoint")

    with pytest.raises(CloudError, match="has no deployed model.*empty objective config"):
        setup_model_monitoring(vertex_config, dry_run=False)
    assert fake_vertex.calls("createMonitoringJob") == []


def test_no_endpoint_is_refused(vertex_config: Config) -> None:
    with pytest.raises(CloudError, match="no endpoint named 'churn-endpoint'.*churn deploy"):
        setup_model_monitoring(vertex_config, dry_run=False)
