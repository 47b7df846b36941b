"""A local fake of the two REST APIs `churn image push` calls: Artifact Registry
(repositories get/create) and Cloud Build (builds create/get), on one recording server.

It refuses what the real services refuse and a test would otherwise miss: a repository that
is not DOCKER format, a second repository with the same id, a build without steps or
images, an image outside an existing repository. A build starts QUEUED; `finish_next` sets
the status the next get answers (SUCCESS, FAILURE...).
"""

from __future__ import annotations

from itertools import count
from typing import Any

from tests.fakes.rest_fake import ApiError, RecordingRestServer

LOC = r"projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)"


class FakeCloudBuildServer(RecordingRestServer):
    def __init__(self) -> None:
        self.repositories: dict[str, dict[str, Any]] = {}
        self.builds: dict[str, dict[str, Any]] = {}
        self.next_status = "SUCCESS"
        self._ids = count(1)
        super().__init__()

    def __enter__(self) -> FakeCloudBuildServer:
        self.start()
        return self

    def routes(self) -> list[tuple[str, str, str, Any]]:
        return [
            ("GET", rf"/v1/{LOC}/repositories/(?P<repo>[^/]+)", "getRepository", self._get_repository),
            ("POST", rf"/v1/{LOC}/repositories", "createRepository", self._create_repository),
            ("POST", rf"/v1/{LOC}/builds", "createBuild", self._create_build),
            ("GET", rf"/v1/{LOC}/builds/(?P<build>[^/]+)", "getBuild", self._get_build),
        ]

    def finish_next(self, status: str, detail: str = "") -> None:
        self.next_status, self._detail = status, detail

    def _get_repository(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        name = f"projects/{p['project']}/locations/{p['region']}/repositories/{p['repo']}"
        if name not in self.repositories:
            raise ApiError(404, f"Repository {name} not found")
        return self.repositories[name]

    def _create_repository(self, p: dict[str, str], q: dict[str, list[str]], body: dict[str, Any]
                           ) -> dict[str, Any]:
        repo = q.get("repositoryId", [""])[0]
        if not repo:
            raise ApiError(400, "repository_id is required")
        if body.get("format") != "DOCKER":
            raise ApiError(400, f"format {body.get('format')!r}: this fake only knows DOCKER")
        name = f"projects/{p['project']}/locations/{p['region']}/repositories/{repo}"
        if name in self.repositories:
            raise ApiError(409, f"Repository {name} already exists", "ALREADY_EXISTS")
        self.repositories[name] = dict(body, name=name)
        return {"name": f"projects/{p['project']}/locations/{p['region']}/operations/{next(self._ids)}",
                "done": True, "response": dict(body, name=name)}

    def _create_build(self, p: dict[str, str], q: Any, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("steps") or not body.get("images"):
            raise ApiError(400, "a build needs steps and images")
        for image in body["images"]:
            host, _, rest = image.partition("/")
            project, _, rest = rest.partition("/")
            repo = rest.partition("/")[0]
            region = host.removesuffix("-docker.pkg.dev")
            if f"projects/{project}/locations/{region}/repositories/{repo}" not in self.repositories:
                raise ApiError(404, f"image {image}: repository {repo} does not exist in {region}")
        build_id = f"build-{next(self._ids)}"
        build = dict(body, id=build_id, status="QUEUED", projectId=p["project"],
                     logUrl=f"https://console.cloud.google.com/cloud-build/builds;region={p['region']}/{build_id}")
        self.builds[build_id] = build
        return {"name": f"projects/{p['project']}/locations/{p['region']}/operations/{next(self._ids)}",
                "metadata": {"@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
                             "build": build}}

    def _get_build(self, p: dict[str, str], q: Any, b: Any) -> dict[str, Any]:
        if p["build"] not in self.builds:
            raise ApiError(404, f"Build {p['build']} not found")
        build = self.builds[p["build"]]
        build["status"] = self.next_status
        if self.next_status != "SUCCESS":
            build["statusDetail"] = getattr(self, "_detail", "") or "step 0 exited with 1"
        return build
