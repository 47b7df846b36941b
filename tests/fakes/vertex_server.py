"""A local fake of the Vertex AI v1 REST API, enough for the churn pipeline's cloud steps.

It keeps models (versions, aliases), endpoints (deployed models, traffic split) and model
deployment monitoring jobs in memory, answers long-running operations already done, and
records every request (see rest_fake.py) so tests assert exactly what the SDK sent. Reach it
with aiplatform.init(api_endpoint=server.url, api_transport="rest",
credentials=AnonymousCredentials()).

It refuses what the real service refuses and a test would otherwise miss: a traffic split
that does not add up to 100, deleting an endpoint that still has deployed models or a
monitoring job, a monitoring job without objective configs or for a model that is not
deployed, a second monitoring job on one endpoint. `fail_next(action, ...)` fails the next
call of an action, as a failed long-running operation (how Vertex reports a deploy that did
not come up) or as an HTTP error (permission denied, quota).

Predictions: by default a deployed model answers `prediction(instance)` per instance (tests
whose run directory holds a dummy SavedModel). `FakeVertexServer(serve_models=True)` loads
the deployed SavedModel and answers as the prebuilt TF Serving container does (see
tests/fakes/vertex_models.py and tf_serving_rest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import count
from typing import Any

from tests.fakes.rest_fake import (
    GRPC_NUMBERS,
    ApiError,
    Failure,
    RawAnswer,
    RecordingRestServer,
    matches_filter,
)
from tests.fakes.vertex_jobs import VertexJobsFake
from tests.fakes.vertex_models import ModelLoadError, ServedModels
from tests.fakes.vertex_pipelines import PipelineCreateRoutes

TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."
EMPTY = "type.googleapis.com/google.protobuf.Empty"
LOC = r"projects/[^/]+/locations/[^/]+"
ID = r"[^/:]+"


@dataclass
class FakeVertexState:
    models: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeVertexServer(RecordingRestServer):
    """Start with `start()` (or as a context manager); `url` is the api_endpoint to use."""

    jobs: VertexJobsFake  # the job routes' state and helpers (tests/fakes/vertex_jobs.py)
    raw_actions = frozenset({"rawPredict"})

    def __init__(self, serve_models: bool = False) -> None:
        self.state = FakeVertexState()
        self.serve_models = serve_models
        self.served = ServedModels()  # served.model_dirs maps an artifactUri to a local folder
        self._ids = count(1001)
        # predict: the score of one instance, and a hook that sees every answered request
        # (endpoint, deployed model id, instances, predictions), e.g. a fake request log.
        self.prediction: Callable[[dict[str, Any]], Any] = lambda instance: 0.5
        self.on_predict: Callable[[str, str, list[Any], list[Any]], None] | None = None
        super().__init__()

    def __enter__(self) -> FakeVertexServer:
        self.start()
        return self

    def stop(self) -> None:
        super().stop()
        self.served.close()

    def versions(self, model_name: str) -> list[dict[str, Any]]:
        return self.state.models[model_name]

    # ---- routing ---------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, str, Any]]:
        return [
            ("POST", rf"/v1/(?P<parent>{LOC})/models:upload", "upload", self._upload),
            ("GET", rf"/v1/(?P<parent>{LOC})/models", "listModels", self._list_models),
            ("GET", rf"/v1/(?P<name>{LOC}/models/{ID}):listVersions", "listModelVersions",
             self._list_versions),
            ("POST", rf"/v1/(?P<name>{LOC}/models/{ID}):mergeVersionAliases",
             "mergeVersionAliases", self._merge_aliases),
            ("GET", rf"/v1/(?P<name>{LOC}/models/{ID})", "getModel", self._get_model),
            ("POST", rf"/v1/(?P<parent>{LOC})/endpoints", "createEndpoint", self._create_endpoint),
            ("GET", rf"/v1/(?P<parent>{LOC})/endpoints", "listEndpoints", self._list_endpoints),
            ("GET", rf"/v1/(?P<name>{LOC}/endpoints/{ID})", "getEndpoint", self._get_endpoint),
            ("PATCH", rf"/v1/(?P<name>{LOC}/endpoints/{ID})", "updateEndpoint",
             self._update_endpoint),
            ("DELETE", rf"/v1/(?P<name>{LOC}/endpoints/{ID})", "deleteEndpoint",
             self._delete_endpoint),
            ("POST", rf"/v1/(?P<name>{LOC}/endpoints/{ID}):deployModel", "deployModel",
             self._deploy),
            ("POST", rf"/v1/(?P<name>{LOC}/endpoints/{ID}):undeployModel", "undeployModel",
             self._undeploy),
            ("POST", rf"/v1/(?P<name>{LOC}/endpoints/{ID}):predict", "predict", self._predict),
            ("POST", rf"/v1/(?P<name>{LOC}/endpoints/{ID}):rawPredict", "rawPredict", self._raw_predict),
            ("POST", rf"/v1/(?P<parent>{LOC})/modelDeploymentMonitoringJobs",
             "createMonitoringJob", self._create_job),
            ("GET", rf"/v1/(?P<parent>{LOC})/modelDeploymentMonitoringJobs",
             "listMonitoringJobs", self._list_jobs),
            ("GET", rf"/v1/(?P<name>{LOC}/modelDeploymentMonitoringJobs/{ID})",
             "getMonitoringJob", self._get_job),
            ("DELETE", rf"/v1/(?P<name>{LOC}/modelDeploymentMonitoringJobs/{ID})",
             "deleteMonitoringJob", self._delete_job),
            ("GET", r"/v1/(?P<name>projects/.+/operations/[^/]+)", "getOperation",
             self._get_operation),
        ] + VertexJobsFake.attach(self) + PipelineCreateRoutes(self).routes()
        # jobs: customJobs, batchPredictionJobs, pipelineJobs, schedules (tests/fakes/vertex_jobs.py);
        # creating pipeline jobs and schedules: tests/fakes/vertex_pipelines.py, in the same store.

    def failed_call(self, params: dict[str, str], failure: Failure) -> dict[str, Any]:
        # Vertex reports a failed deploy or upload as a finished operation carrying the error.
        return self._operation(params.get("name") or params.get("parent", ""), error=failure)

    # ---- operations ------------------------------------------------------------------
    def _operation(self, owner: str, response: dict[str, Any] | None = None,
                   type_name: str | None = None, error: Failure | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {"name": f"{owner}/operations/{next(self._ids)}", "done": True,
                              "metadata": {"@type": TYPE + "GenericOperationMetadata"}}
        if error is not None:
            op["error"] = {"code": GRPC_NUMBERS.get(error.status, 2), "message": error.message}
        else:
            payload = dict(response or {})
            payload["@type"] = TYPE + type_name if type_name else EMPTY
            op["response"] = payload
        self.state.operations[op["name"]] = op
        return op

    def _get_operation(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        if p["name"] not in self.state.operations:
            raise ApiError(404, f"Operation {p['name']} not found")
        return self.state.operations[p["name"]]

    # ---- models ----------------------------------------------------------------------
    def _model_versions(self, name: str) -> list[dict[str, Any]]:
        base = name.split("@", 1)[0]
        if base not in self.state.models:
            raise ApiError(404, f"Model {base} not found")
        return self.state.models[base]

    def _upload(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        model = dict(body.get("model") or {})
        if not model.get("displayName"):
            raise ApiError(400, "Model.display_name is required")
        parent_model = body.get("parentModel")
        if parent_model:
            versions = self._model_versions(parent_model)
            name = parent_model
        else:
            name = f"{p['parent']}/models/{next(self._ids)}"
            versions = self.state.models.setdefault(name, [])
        version_id = str(max((int(v["versionId"]) for v in versions), default=0) + 1)
        aliases = list(model.get("versionAliases") or [])
        if not any("default" in v["versionAliases"] for v in versions) and "default" not in aliases:
            aliases.append("default")
        self._take_aliases(versions, aliases)
        model.update(name=name, versionId=version_id, versionAliases=aliases,
                     createTime=_now(), versionCreateTime=_now(), updateTime=_now(),
                     supportedDeploymentResourcesTypes=["DEDICATED_RESOURCES"])
        versions.append(model)
        return self._operation(p["parent"], {"model": name, "modelVersionId": version_id},
                               "UploadModelResponse")

    @staticmethod
    def _take_aliases(versions: list[dict[str, Any]], aliases: list[str]) -> None:
        for version in versions:
            version["versionAliases"] = [a for a in version["versionAliases"] if a not in aliases]

    def _resolve_version(self, name: str) -> dict[str, Any]:
        versions = self._model_versions(name)
        wanted = name.split("@", 1)[1] if "@" in name else "default"
        for version in versions:
            if version["versionId"] == wanted or wanted in version["versionAliases"]:
                return version
        raise ApiError(404, f"Model {name} not found")

    def _get_model(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        return self._resolve_version(p["name"])

    def _list_models(self, p: dict[str, str], q: dict[str, list[str]], b: Any) -> dict[str, Any]:
        defaults = [self._resolve_version(name) for name in self.state.models
                    if name.startswith(p["parent"] + "/")]
        wanted = q.get("filter", [""])[0]
        return {"models": [m for m in defaults if not wanted or matches_filter(m, wanted)]}

    def _list_versions(self, p: dict[str, str], q: dict[str, list[str]], b: Any
                       ) -> dict[str, Any]:
        wanted = q.get("filter", [""])[0]
        versions = self._model_versions(p["name"])
        return {"models": [m for m in versions if not wanted or matches_filter(m, wanted)]}

    def _merge_aliases(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        version = self._resolve_version(p["name"])
        versions = self._model_versions(p["name"])
        added = [a for a in body.get("versionAliases", []) if not a.startswith("-")]
        removed = [a[1:] for a in body.get("versionAliases", []) if a.startswith("-")]
        self._take_aliases(versions, added)
        version["versionAliases"] = [a for a in version["versionAliases"] if a not in removed]
        version["versionAliases"] += added
        return version

    # ---- endpoints -------------------------------------------------------------------
    def _endpoint(self, name: str) -> dict[str, Any]:
        if name not in self.state.endpoints:
            raise ApiError(404, f"Endpoint {name} not found")
        return self.state.endpoints[name]

    def _create_endpoint(self, p: dict[str, str], q: dict[str, list[str]],
                         body: dict[str, Any]) -> dict[str, Any]:
        endpoint_id = q.get("endpointId", [str(next(self._ids))])[0]
        name = f"{p['parent']}/endpoints/{endpoint_id}"
        endpoint = dict(body, name=name, deployedModels=[], trafficSplit={},
                        createTime=_now(), updateTime=_now(), etag=str(next(self._ids)))
        self.state.endpoints[name] = endpoint
        return self._operation(name, endpoint, "Endpoint")

    def _list_endpoints(self, p: dict[str, str], q: dict[str, list[str]], b: Any
                        ) -> dict[str, Any]:
        wanted = q.get("filter", [""])[0]
        found = [e for n, e in self.state.endpoints.items() if n.startswith(p["parent"] + "/")]
        return {"endpoints": [e for e in found if not wanted or matches_filter(e, wanted)]}

    def _get_endpoint(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        return self._endpoint(p["name"])

    def _update_endpoint(self, p: dict[str, str], q: dict[str, list[str]],
                         body: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(p["name"])
        mask = q.get("updateMask", [""])[0]
        fields = {f.strip() for f in mask.split(",") if f.strip()}
        if {"traffic_split", "trafficSplit"} & fields:
            self._check_split(endpoint, body.get("trafficSplit", {}))
            endpoint["trafficSplit"] = body.get("trafficSplit", {})
        for snake, camel in (("display_name", "displayName"), ("labels", "labels"),
                             ("description", "description")):
            if snake in fields or camel in fields:
                endpoint[camel] = body.get(camel)
        return endpoint

    @staticmethod
    def _check_split(endpoint: dict[str, Any], split: dict[str, int], new_id: str | None = None
                     ) -> None:
        known = {m["id"] for m in endpoint["deployedModels"]} | ({new_id} if new_id else set())
        unknown = set(split) - known
        if unknown:
            raise ApiError(400, f"traffic_split names unknown deployed models {sorted(unknown)}")
        total = sum(int(v) for v in split.values())
        if known and total != 100:
            raise ApiError(400, f"traffic_split must add up to 100, got {total}")

    def _deploy(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(p["name"])
        deployed = dict(body.get("deployedModel") or {})
        self._resolve_version(deployed.get("model", ""))
        deployed_id = str(next(self._ids))
        split = {(deployed_id if k == "0" else k): int(v)
                 for k, v in (body.get("trafficSplit") or {}).items()}
        self._check_split(endpoint, split, deployed_id)
        version = self._resolve_version(deployed["model"])
        deployed.update(id=deployed_id, createTime=_now(), modelVersionId=version["versionId"])
        if self.serve_models:
            try:
                self.served.load(deployed_id, version.get("artifactUri", ""))
            except ModelLoadError as error:  # the container never came up: a failed operation
                return self._operation(p["name"], error=Failure(str(error)))
        endpoint["deployedModels"].append(deployed)
        endpoint["trafficSplit"] = split
        return self._operation(p["name"], {"deployedModel": deployed}, "DeployModelResponse")

    def _undeploy(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(p["name"])
        deployed_id = body.get("deployedModelId")
        remaining = [m for m in endpoint["deployedModels"] if m["id"] != deployed_id]
        if len(remaining) == len(endpoint["deployedModels"]):
            raise ApiError(404, f"DeployedModel {deployed_id} not found on {p['name']}")
        split = {k: int(v) for k, v in (body.get("trafficSplit") or {}).items()}
        if not split and remaining and endpoint["trafficSplit"].get(deployed_id):
            raise ApiError(400, "undeploying a model with traffic needs a new traffic_split",
                           "FAILED_PRECONDITION")
        endpoint["deployedModels"] = remaining
        self.served.by_deployed_id.pop(deployed_id, None)
        if split or not remaining:
            self._check_split(endpoint, split)
            endpoint["trafficSplit"] = split
        return self._operation(p["name"], {}, "UndeployModelResponse")

    def _predict(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        """Vertex's answer shape, served by the deployed model with the most traffic. :predict
        reaches serving_default only, whose inputs have no customerID: TF Serving refuses it."""
        deployed = self._deployed(p["name"])
        if deployed["id"] in self.served.by_deployed_id:
            display_name = self._resolve_version(deployed["model"]).get("displayName", "")
            answer = self.served.predict(deployed, display_name, body)
            self._notify(p["name"], deployed, body.get("instances") or [], answer["predictions"])
            return answer
        instances = self._instances(body)
        if any("customerID" in instance for instance in instances if isinstance(instance, dict)):
            raise ApiError(400, "customerID is not an input of signature serving_default")
        deployed, predictions = self._serve(p["name"], instances)
        return {"predictions": predictions, "deployedModelId": deployed["id"],
                "model": deployed["model"].split("@", 1)[0],
                "modelVersionId": deployed["modelVersionId"]}

    def _raw_predict(self, p: dict[str, str], q: Any, raw: bytes) -> dict[str, Any] | RawAnswer:
        """The body goes to TF Serving unchanged; with_customer_id echoes customerID."""
        deployed = self._deployed(p["name"])
        if deployed["id"] in self.served.by_deployed_id:
            return self.served.raw_predict(deployed, raw)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ApiError(400, "body is not JSON") from None
        instances = self._instances(body)
        echo = body.get("signature_name") == "with_customer_id"
        _, predictions = self._serve(p["name"], instances)
        if echo:
            # Two outputs now: one object per instance keyed by output name (TF Serving's rule).
            predictions = [{**(prediction if isinstance(prediction, dict) else {"churn_probability": prediction}),
                            "customerID": instance["customerID"]}
                           for prediction, instance in zip(predictions, instances, strict=True)]
        return {"predictions": predictions}

    @staticmethod
    def _instances(body: dict[str, Any]) -> list[Any]:
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, "instances must be a non-empty list")
        return instances

    def _deployed(self, name: str) -> dict[str, Any]:
        """The deployed model with the most traffic."""
        endpoint = self._endpoint(name)
        if not endpoint["deployedModels"]:
            raise ApiError(400, f"Endpoint {name} has no deployed model", "FAILED_PRECONDITION")
        split = endpoint["trafficSplit"]
        return max(endpoint["deployedModels"], key=lambda m: split.get(m["id"], 0))

    def _serve(self, name: str, instances: list[Any]) -> tuple[dict[str, Any], list[Any]]:
        deployed = self._deployed(name)
        predictions = [self.prediction(instance) for instance in instances]
        self._notify(name, deployed, instances, predictions)
        return deployed, predictions

    def _notify(self, name: str, deployed: dict[str, Any], instances: list[Any], predictions: list[Any]) -> None:
        if self.on_predict is not None:
            self.on_predict(name, deployed["id"], instances, predictions)

    def _delete_endpoint(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        endpoint = self._endpoint(p["name"])
        if endpoint["deployedModels"]:
            raise ApiError(400, f"Endpoint {p['name']} has deployed models; undeploy them first",
                           "FAILED_PRECONDITION")
        if any(j["endpoint"] == p["name"] for j in self.state.jobs.values()):
            raise ApiError(400, f"Endpoint {p['name']} has a model deployment monitoring job; "
                           "delete it first", "FAILED_PRECONDITION")
        del self.state.endpoints[p["name"]]
        return self._operation(p["name"])

    # ---- model deployment monitoring jobs --------------------------------------------
    def _create_job(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(body.get("endpoint", ""))
        objectives = body.get("modelDeploymentMonitoringObjectiveConfigs") or []
        if not objectives:
            raise ApiError(400, "Empty objective config: model_deployment_monitoring_"
                           "objective_configs must be set")
        deployed_ids = {m["id"] for m in endpoint["deployedModels"]}
        for objective in objectives:
            if objective.get("deployedModelId") not in deployed_ids:
                raise ApiError(400, f"DeployedModel {objective.get('deployedModelId')} "
                               "is not deployed on the endpoint")
        if any(j["endpoint"] == endpoint["name"] for j in self.state.jobs.values()):
            raise ApiError(409, "The endpoint already has a model deployment monitoring job",
                           "ALREADY_EXISTS")
        name = f"{p['parent']}/modelDeploymentMonitoringJobs/{next(self._ids)}"
        job = dict(body, name=name, state="JOB_STATE_RUNNING", scheduleState="OFFLINE",
                   createTime=_now(), updateTime=_now(), nextScheduleTime=_now())
        self.state.jobs[name] = job
        return job

    def _job(self, name: str) -> dict[str, Any]:
        if name not in self.state.jobs:
            raise ApiError(404, f"ModelDeploymentMonitoringJob {name} not found")
        return self.state.jobs[name]

    def _list_jobs(self, p: dict[str, str], q: dict[str, list[str]], b: Any) -> dict[str, Any]:
        wanted = q.get("filter", [""])[0]
        found = [j for n, j in self.state.jobs.items() if n.startswith(p["parent"] + "/")]
        return {"modelDeploymentMonitoringJobs":
                [j for j in found if not wanted or matches_filter(j, wanted)]}

    def _get_job(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        return self._job(p["name"])

    def _delete_job(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        self._job(p["name"])
        del self.state.jobs[p["name"]]
        return self._operation(p["name"])
