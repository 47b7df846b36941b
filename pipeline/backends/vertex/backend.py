"""The Vertex AI implementation of the backend interface (pipeline/backends/base.py).

`VertexBackend(config, dry_run=False)`: registry (versions.py), endpoint and monitoring here,
each wrapping the plan-returning functions of this package and converting their results to
the interface's types. Every plan a call made (or, with dry_run=True, would make) is appended
to `backend.plans`; a dry run calls nothing, needs no credentials and returns placeholders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from pipeline.backends.base import (
    BatchPredictionRequest,
    BatchPredictionResult,
    Deployment,
    Endpoint,
    Job,
    Jobs,
    Monitoring,
    Outcome,
    Registry,
    TrainingRequest,
    TrainingResult,
)
from pipeline.backends.vertex import jobs, naming
from pipeline.backends.vertex.alert_policies import setup_alerts
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.endpoints import deploy_to_vertex, find_endpoint, list_deployed
from pipeline.backends.vertex.model_monitoring import (
    delete_model_monitoring,
    monitoring_status,
    setup_model_monitoring,
)
from pipeline.backends.vertex.plan import DEPLOYED_MODEL_ID, ENDPOINT_ID, MODEL_ID, Plan, PlanStep
from pipeline.backends.vertex.request_log import iter_logged_frames, log_query, query_step, table_id
from pipeline.backends.vertex.session import init_vertex, require_project, vertex_credentials
from pipeline.backends.vertex.teardown import cleanup_vertex, undeploy_from_vertex
from pipeline.backends.vertex.versions import VertexRegistry
from pipeline.config import Config
from pipeline.errors import CloudError

DRY_RUN_MESSAGE = "dry run: nothing was called; the plan is in backend.plans"


class VertexBackend:
    """Vertex AI Model Registry, an online endpoint and Model Monitoring, for one config."""

    kind: str = "vertex"

    def __init__(self, config: Config, dry_run: bool = False) -> None:
        self.config = config
        self.dry_run = dry_run
        self.plans: list[Mapping[str, Any]] = []
        # Typed as the interface: Backend's members are plain (mutable) attributes.
        self.registry: Registry = VertexRegistry(config, dry_run, self.plans)
        self.endpoint: Endpoint = VertexEndpoint(self)
        self.monitoring: Monitoring = VertexMonitoring(self)
        self.jobs: Jobs = VertexJobs(self)

    def checks(self) -> list[Any]:
        """Project, region, bucket, credentials, APIs and bucket access (`churn doctor`)."""
        from pipeline.backends.vertex.checks import vertex_checks

        return vertex_checks(self.config)

    def record(self, result: Mapping[str, Any]) -> Mapping[str, Any]:
        """Keep the plan of a vertex function's result; returns the result."""
        self.plans.append(result["plan"])
        return result

    def outcome(self, result: Mapping[str, Any], message: str) -> Outcome:
        self.record(result)
        details = {k: v for k, v in result.items() if k != "plan"}
        return Outcome(DRY_RUN_MESSAGE if self.dry_run else message, details)

    def live_endpoint(self) -> Any:
        """The configured endpoint, or a clear refusal when it does not exist."""
        init_vertex(self.config)
        endpoint = find_endpoint(self.config)
        if endpoint is None:
            raise CloudError(f"no endpoint named '{self.config.vertex.endpoint_name}' in project "
                             f"{self.config.vertex.project}, region {self.config.vertex.region}: "
                             "run `churn deploy` first")
        return endpoint


class VertexEndpoint:
    """The endpoint named vertex.endpoint_name."""

    def __init__(self, backend: VertexBackend) -> None:
        self.backend = backend
        self.config = backend.config

    def deploy(self, ref: str, canary_percentage: int | None = None) -> Deployment:
        result = self.backend.record(
            deploy_to_vertex(self.config, ref, canary_percentage, self.backend.dry_run))
        if self.backend.dry_run:
            endpoint = f"{naming.location_path(self.config)}/endpoints/{ENDPOINT_ID}"
            return Deployment(endpoint, self._predict_url(endpoint), ref, "<VERSION>",
                              DEPLOYED_MODEL_ID, details={"dry_run": True})
        endpoint = result["endpoint"]
        return Deployment(
            endpoint=endpoint, url=self._predict_url(endpoint), model_ref=ref,
            model_version=str(result["model"]).rpartition("@")[2],
            deployed_model_id=result["deployed_model_id"],
            traffic_split=dict(result["traffic_split"]),
            details={k: v for k, v in result.items() if k != "plan"})

    def serving(self) -> bool:
        """True when the configured endpoint exists with a model deployed (a dry run: False)."""
        if self.backend.dry_run:
            return False
        init_vertex(self.config)
        endpoint = find_endpoint(self.config)
        return endpoint is not None and bool(list_deployed(endpoint))

    def undeploy(self) -> Outcome:
        result = undeploy_from_vertex(self.config, self.backend.dry_run)
        message = result.get("message") or (
            f"undeployed {len(result.get('undeployed', []))} model(s) and deleted endpoint "
            f"{result.get('endpoint')}")
        return self.backend.outcome(result, message)

    def cleanup(self) -> Outcome:
        result = cleanup_vertex(self.config, self.backend.dry_run)
        message = (f"deleted {len(result.get('deleted_endpoints', []))} endpoint(s), "
                   f"{len(result.get('deleted_monitoring_jobs', []))} monitoring job(s), "
                   f"{len(result.get('deleted_alert_policies', []))} alert policy(ies), "
                   f"{sum(len(v) for v in result.get('deleted_jobs', {}).values())} job(s) and "
                   "schedule(s); registered models are kept")
        return self.backend.outcome(result, message)

    def predict(self, instances: list[dict[str, Any]]) -> list[Any]:
        """The endpoint's predictions for `instances`, through Google's PredictionServiceClient."""
        require_project(self.config)
        if self.backend.dry_run:
            endpoint = f"{naming.location_path(self.config)}/endpoints/{ENDPOINT_ID}"
            plan = Plan(f"Predict {len(instances)} instance(s) on '{self.config.vertex.endpoint_name}'")
            plan.add(PlanStep("Send the instances", "PredictionServiceClient.predict",
                              {"endpoint": endpoint, "instances": len(instances)},
                              f"gcloud ai endpoints predict {ENDPOINT_ID} "
                              f"--project={self.config.vertex.project} "
                              f"--region={self.config.vertex.region} --json-request=REQUEST.json"))
            self.backend.plans.append(plan.as_dict())
            return []
        from google.cloud import aiplatform_v1
        from google.protobuf import json_format, struct_pb2

        from pipeline.training.schema import ID_COLUMN

        endpoint = self.backend.live_endpoint()
        if any(ID_COLUMN in instance for instance in instances):
            return self._raw_predict(endpoint.resource_name, instances)
        client = aiplatform_v1.PredictionServiceClient(
            transport="rest", credentials=vertex_credentials(self.config),
            client_options={"api_endpoint": self._api_host()})
        values = [json_format.ParseDict(instance, struct_pb2.Value()) for instance in instances]
        with translate_errors(f"predict on {endpoint.resource_name}", self.config.vertex.project):
            response = client.predict(endpoint=endpoint.resource_name, instances=values)
        return [_plain(value) for value in response.predictions]

    def _raw_predict(self, endpoint: str, instances: list[dict[str, Any]]) -> list[Any]:
        """Instances carrying customer IDs: :rawPredict passes the body to TF Serving unchanged,
        so the with_customer_id signature takes and echoes them (:predict would refuse them)."""
        from google.auth.transport.requests import AuthorizedSession

        from pipeline.serving.instances import ID_SIGNATURE

        base = self._predict_url(endpoint).rsplit(":", 1)[0]
        session = AuthorizedSession(vertex_credentials(self.config))
        body: dict[str, Any] = {"signature_name": ID_SIGNATURE, "instances": instances}
        answer = session.post(f"{base}:rawPredict", json=body, timeout=60)
        if answer.status_code != 200:
            raise CloudError(f"rawPredict on {endpoint} in project {self.config.vertex.project}: HTTP "
                             f"{answer.status_code}: {answer.text[:200]}")
        return list(answer.json()["predictions"])

    def _api_host(self) -> str:
        return self.config.vertex.api_endpoint or f"{self.config.vertex.region}-aiplatform.googleapis.com"

    def _predict_url(self, endpoint: str) -> str:
        host = self._api_host()
        base = host if host.startswith("http") else f"https://{host}"
        return f"{base}/v1/{endpoint}:predict"


class VertexJobs:
    """Training as a CustomJob, batch prediction as a BatchPredictionJob, and the jobs
    (custom, batch prediction, pipeline) carrying this project's labels."""

    def __init__(self, backend: VertexBackend) -> None:
        self.backend = backend
        self.config = backend.config

    def train(self, request: TrainingRequest) -> TrainingResult:
        from pipeline.backends.vertex.training_jobs import submit_training

        return TrainingResult(job=submit_training(self.config, request.data, request.run_dir,
                                                  self.backend.dry_run, self.backend.plans))

    def batch_predict(self, request: BatchPredictionRequest) -> BatchPredictionResult:
        from pipeline.backends.vertex.batch_jobs import input_config, output_config, submit_batch_prediction

        input_config(request.input)  # bad locations are refused before the registry is asked
        output_config(request.output)
        version = self.backend.registry.resolve(request.model_ref)
        model = version.resource_name
        if self.backend.dry_run:
            parsed = naming.parse_model_ref(request.model_ref, self.config)
            selector = parsed.selector if parsed.kind != "run" else "<VERSION>"
            model = f"{naming.location_path(self.config)}/models/{MODEL_ID}@{selector}"
        job = submit_batch_prediction(self.config, model, request.input, request.output,
                                      self.backend.dry_run, self.backend.plans)
        return BatchPredictionResult(output=job.output, model=version.ref, job=job)

    def list_jobs(self) -> list[Job]:
        from pipeline.backends.vertex.jobs import list_ours, list_steps

        require_project(self.config)
        plan = Plan("List this project's jobs")
        try:
            if self.backend.dry_run:
                plan.steps += list_steps(self.config)
                return []
            return list_ours(self.config, plan)
        finally:
            self.backend.plans.append(plan.as_dict())

    def show(self, name: str) -> Job:
        return self._job_call(name, "Show the job", lambda plan: jobs.show(self.config, name, plan))

    def wait(self, name: str, timeout_s: float) -> Job:
        return self._job_call(name, "Wait for the job to finish",
                              lambda plan: jobs.wait(self.config, name, timeout_s, plan))

    def cancel(self, name: str) -> Outcome:
        job = self._job_call(name, "Cancel the job", lambda plan: jobs.cancel(self.config, name, plan),
                             cancel=True)
        if self.backend.dry_run:
            return Outcome(DRY_RUN_MESSAGE)
        return Outcome(f"{jobs.BY_KIND[job.kind].words} {job.id} is {job.state}",
                       {"job": job.name, "state": job.state})

    def _job_call(self, name: str, title: str, call: Any, cancel: bool = False) -> Job:
        require_project(self.config)
        plan = Plan(f"{title} {name}")
        try:
            if self.backend.dry_run:
                full = jobs.full_names(self.config, name)
                plan.steps += [jobs.get_step(self.config, n, "Read the job (one of these is it)"
                                             if len(full) > 1 else "Read the job") for n in full]
                if cancel:
                    plan.steps += [jobs.cancel_step(self.config, n, "if it is this project's and "
                                                    "still running") for n in full]
                kind = jobs.kind_of(full[0])
                return Job(name=full[0], kind=kind.kind if kind else "custom", state="DRY_RUN")
            return call(plan)  # type: ignore[no-any-return]
        finally:
            self.backend.plans.append(plan.as_dict())


class VertexMonitoring:
    """Model Monitoring, alert policies and the endpoint's request-response log."""

    def __init__(self, backend: VertexBackend) -> None:
        self.backend = backend
        self.config = backend.config

    def setup(self) -> Outcome:
        result = setup_model_monitoring(self.config, self.backend.dry_run)
        return self.backend.outcome(result, f"monitoring job {result.get('job')} is "
                                            f"{result.get('state')}")

    def status(self) -> Outcome:
        result = monitoring_status(self.config, self.backend.dry_run)
        message = result.get("message") or (f"monitoring job {result.get('job')}: "
                                             f"{result.get('state')}")
        return self.backend.outcome(result, message)

    def delete(self) -> Outcome:
        result = delete_model_monitoring(self.config, self.backend.dry_run)
        return self.backend.outcome(result, f"deleted {len(result.get('deleted', []))} "
                                            "monitoring job(s)")

    def setup_alerts(self) -> Outcome:
        result = setup_alerts(self.config, self.backend.dry_run)
        return self.backend.outcome(result, f"{len(result.get('policies', []))} alert policies "
                                            f"on {result.get('endpoint')}")

    def logged_requests(self, since: dt.datetime | None, until: dt.datetime | None = None,
                        chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
        """The instances the endpoint logged with since <= logging time < until, one row each,
        in the columns of the local prediction log (pipeline.serving.predlog.iter_log_frames)."""
        require_project(self.config)
        if self.backend.dry_run:
            table = table_id(self.config.vertex.logging_bq_table or
                             f"bq://{self.config.vertex.project}.logging_dataset.request_response_logging")
            sql, _ = log_query(table, since, until, f"/endpoints/{ENDPOINT_ID}")
            plan = Plan("Read the logged requests of the endpoint")
            plan.add(query_step(self.config, table, sql))
            self.backend.plans.append(plan.as_dict())
            return iter(())
        return self._frames(since, until, chunk_rows)

    def _frames(self, since: dt.datetime | None, until: dt.datetime | None, chunk_rows: int
                ) -> Iterator[pd.DataFrame]:
        credentials = init_vertex(self.config)
        endpoint = find_endpoint(self.config)
        table = table_id(self.config.vertex.logging_bq_table or _logging_table(endpoint))
        suffix = f"/endpoints/{endpoint.name}" if endpoint is not None else None
        versions, thresholds = self._serving_versions(endpoint)
        sql, params = log_query(table, since, until, suffix)
        plan = Plan("Read the logged requests of the endpoint")
        plan.add(query_step(self.config, table, sql))
        self.backend.plans.append(plan.as_dict())
        yield from iter_logged_frames(self.config, credentials, sql, params, versions, thresholds,
                                      chunk_rows)

    def _serving_versions(self, endpoint: Any) -> tuple[dict[str, str], dict[str, float]]:
        """deployed model id -> version id and -> threshold, for the models serving now."""
        if endpoint is None:
            return {}, {}
        versions: dict[str, str] = {}
        thresholds: dict[str, float] = {}
        for deployed in list_deployed(endpoint):
            version = str(deployed.model_version_id or deployed.model.rpartition("@")[2])
            versions[deployed.id] = version
            if deployed.model.partition("@")[0].rsplit("/", 1)[-1] != self._model_id():
                continue  # another model shares the endpoint: no threshold of ours applies
            described = self.backend.registry.resolve(f"{self.config.registry.model_name}@{version}")
            if described.threshold is not None:
                thresholds[deployed.id] = float(described.threshold)
        return versions, thresholds


    def _model_id(self) -> str:
        from pipeline.backends.vertex.model_registry import find_model

        model = find_model(self.config)
        return model.name if model is not None else ""


def _logging_table(endpoint: Any) -> str | None:
    """Where Vertex logs when the config names no table: the endpoint's own setting."""
    if endpoint is None:
        return None
    config = endpoint.gca_resource.predict_request_response_logging_config
    return config.bigquery_destination.output_uri or None


def _plain(value: Any) -> Any:
    """A prediction as plain JSON values (proto-plus may hand back Value wrappers)."""
    from google.protobuf import json_format, struct_pb2

    if isinstance(value, struct_pb2.Value):
        return json_format.MessageToDict(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "RepeatedComposite":
        return [_plain(v) for v in value]
    return value
