"""Deployed models that really serve, for the fake Vertex API (tests/fakes/vertex_server.py).

Vertex's prebuilt TensorFlow containers run TensorFlow Serving on the uploaded SavedModel.
With `FakeVertexServer(serve_models=True)`, deployModel loads the model version's
artifactUri (a folder on the GCS emulator, a local path, or what `model_dirs` maps it to)
into tests/fakes/tf_serving_rest.py, and the endpoint answers through it:

  :predict     Vertex's PredictRequest is {"instances", "parameters"} and nothing else (any
               other key is refused, as Google's JSON front end refuses unknown fields); the
               instances go to TF Serving as {"instances": [...]}, so serving_default answers.
               TF Serving's "predictions" come back in Vertex's envelope (deployedModelId,
               model, modelDisplayName, modelVersionId); a TF Serving error comes back in
               Google's error shape with TF Serving's message.
  :rawPredict  the body goes to TF Serving unchanged and its status and body come back
               unchanged (including {"error": "..."}).

A model that cannot be loaded fails the deploy operation, as a Vertex deploy whose
container does not come up.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.fakes.rest_fake import ApiError, RawAnswer

if TYPE_CHECKING:  # TensorFlow loads with the first deployed model, not with every test module
    from tests.fakes.tf_serving_rest import TFServingModel

VERTEX_FIELDS = ("instances", "parameters")  # google.cloud.aiplatform.v1.PredictRequest body
STATUS_NAMES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 500: "INTERNAL", 501: "UNIMPLEMENTED"}


class ServedModels:
    """The loaded SavedModel behind each deployed model id."""

    def __init__(self) -> None:
        self.model_dirs: dict[str, Path] = {}  # artifactUri -> a local SavedModel folder
        self.by_deployed_id: dict[str, TFServingModel] = {}
        self._downloads: list[tempfile.TemporaryDirectory[str]] = []

    def load(self, deployed_id: str, artifact_uri: str) -> None:
        """Load the artifact for a deployed model; raises what the deploy reports."""
        from tests.fakes.tf_serving_rest import TFServingModel

        try:
            self.by_deployed_id[deployed_id] = TFServingModel(self.local_dir(artifact_uri))
        except Exception as error:  # noqa: BLE001 - any load failure is a failed deploy
            raise ModelLoadError(f"Model server never became ready: cannot load {artifact_uri}: "
                                 f"{' '.join(str(error).split())[:300]}") from error

    def local_dir(self, artifact_uri: str) -> Path:
        key = artifact_uri.rstrip("/")
        for uri, folder in self.model_dirs.items():
            if uri.rstrip("/") == key:
                return Path(folder)
        if artifact_uri.startswith("gs://"):
            return self._download(artifact_uri)
        return Path(artifact_uri)

    def _download(self, artifact_uri: str) -> Path:
        """Copy a gs:// folder from the GCS emulator (STORAGE_EMULATOR_HOST) to a temp dir."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        if not os.environ.get("STORAGE_EMULATOR_HOST"):
            raise ModelLoadError(f"{artifact_uri}: no GCS emulator (STORAGE_EMULATOR_HOST) to read it from")
        bucket, _, prefix = artifact_uri.removeprefix("gs://").partition("/")
        prefix = prefix.rstrip("/") + "/"
        client = storage.Client(project="fake", credentials=AnonymousCredentials())
        target = tempfile.TemporaryDirectory(prefix="fake-vertex-model-")
        self._downloads.append(target)
        for blob in client.list_blobs(bucket, prefix=prefix):
            path = Path(target.name) / blob.name[len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(path))
        return Path(target.name)

    def close(self) -> None:
        for download in self._downloads:
            download.cleanup()
        self._downloads.clear()

    # ---- the two routes --------------------------------------------------------------
    def predict(self, deployed: dict[str, Any], display_name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Vertex :predict through TF Serving's row format."""
        unknown = sorted(set(body) - set(VERTEX_FIELDS))
        if unknown:
            raise ApiError(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
        request = json.dumps({"instances": body.get("instances")}).encode("utf-8")
        status, answer = self.by_deployed_id[deployed["id"]].predict(request)
        document = json.loads(answer)
        if status != 200:
            raise ApiError(status, document["error"], STATUS_NAMES.get(status, "UNKNOWN"))
        return {"predictions": document["predictions"], "deployedModelId": deployed["id"],
                "model": deployed["model"].split("@", 1)[0], "modelDisplayName": display_name,
                "modelVersionId": deployed["modelVersionId"]}

    def raw_predict(self, deployed: dict[str, Any], body: bytes) -> RawAnswer:
        """Vertex :rawPredict: TF Serving's status and body, unchanged."""
        status, answer = self.by_deployed_id[deployed["id"]].predict(body)
        return RawAnswer(status, answer)


class ModelLoadError(Exception):
    """The deployed model's artifact is not a SavedModel TF Serving can load."""
