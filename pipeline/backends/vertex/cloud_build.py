"""`churn image push`: the package's image built by Cloud Build from this folder's Dockerfile
and pushed to Artifact Registry as naming.image_uri(config).

Three REST calls, with the SDK's credentials (google-auth's AuthorizedSession; no extra
client library): the Docker repository vertex.image_repository is created when missing
(labelled like every resource of this project), the build context (the folder minus
.dockerignore's patterns) goes to gs://BUCKET/cloudbuild/, and builds.create builds and
pushes the image. `gcloud builds submit --tag IMAGE` is the equivalent of the last two.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.backends.vertex import gcloud, naming
from pipeline.backends.vertex.api_errors import one_line, translate_errors
from pipeline.backends.vertex.plan import Plan, PlanStep, dry_run_result
from pipeline.backends.vertex.session import require_bucket, require_project, vertex_credentials
from pipeline.config import Config
from pipeline.errors import CloudError

BUILDER = "gcr.io/cloud-builders/docker"
CLOUD_BUILD = "https://cloudbuild.googleapis.com"
ARTIFACT_REGISTRY = "https://artifactregistry.googleapis.com"
DONE = {"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"}
POLL_SECONDS = 10.0


def ignore_patterns(context: Path) -> list[str]:
    """.dockerignore's patterns (comments and blank lines left out)."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """True when the path or a folder above it matches a pattern (Docker's rule without '!';
    `**/NAME` matches NAME at any depth)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def context_files(context: Path) -> list[str]:
    """The build context's files (relative, sorted), what `docker build` would be sent: ignored
    folders are not walked into and links are not followed."""
    patterns = ignore_patterns(context)
    found: list[str] = []
    for folder, dirs, files in os.walk(context):
        here = Path(folder).relative_to(context).as_posix()
        prefix = "" if here == "." else f"{here}/"
        dirs[:] = sorted(d for d in dirs if not ignored(prefix + d, patterns))
        found += [prefix + f for f in files
                  if not ignored(prefix + f, patterns) and not Path(folder, f).is_symlink()]
    return sorted(found)


def build_context(context: Path) -> bytes:
    """The build context as a .tar.gz."""
    if not (context / "Dockerfile").is_file():
        raise CloudError(f"{context}: no Dockerfile here: run `churn image push` from the project folder")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for relative in context_files(context):
            archive.add(context / relative, arcname=relative, recursive=False)
    return buffer.getvalue()


def repository_name(config: Config) -> str:
    return f"projects/{config.vertex.project}/locations/{config.vertex.region}/repositories/" \
           f"{config.vertex.image_repository}"


def build_body(config: Config, image: str, bucket: str, obj: str) -> dict[str, Any]:
    """builds.create's Build: docker build -t IMAGE . on the uploaded context, then push."""
    labels = naming.managed_labels(config)
    body: dict[str, Any] = {"source": {"storageSource": {"bucket": bucket, "object": obj}},
                            "steps": [{"name": BUILDER, "args": ["build", "-t", image, "."]}],
                            "images": [image], "tags": [f"{k}-{v}" for k, v in labels.items()]}
    if config.vertex.service_account:
        body["serviceAccount"] = (f"projects/{config.vertex.project}/serviceAccounts/"
                                  f"{config.vertex.service_account}")
        body["options"] = {"logging": "CLOUD_LOGGING_ONLY"}  # a user service account needs a log choice
    return body


def push_plan(config: Config, context: Path, image: str, obj: str) -> Plan:
    bucket = require_bucket(config)
    repo = repository_name(config)
    location = f"projects/{config.vertex.project}/locations/{config.vertex.region}"
    repository = {"format": "DOCKER", "description": "churn pipeline images", "labels": naming.managed_labels(config)}
    if config.vertex.kms_key_name:
        repository["kmsKeyName"] = config.vertex.kms_key_name
    plan = Plan(f"Build {image} with Cloud Build and push it to Artifact Registry")
    plan.add(PlanStep(f"Create the Docker repository {config.vertex.image_repository}",
                      "artifactregistry.repositories.create",
                      {"parent": location, "repositoryId": config.vertex.image_repository, "repository": repository},
                      gcloud.command("gcloud artifacts repositories create", config.vertex.image_repository,
                                     repository_format="docker", location=config.vertex.region,
                                     project=config.vertex.project, labels=repository["labels"],
                                     kms_key=config.vertex.kms_key_name),
                      when=f"only if {repo} does not exist"))
    plan.add(PlanStep(f"Upload the build context ({context}, minus .dockerignore) to gs://{bucket}/{obj}",
                      "storage.Blob.upload_from_filename", {"destination": f"gs://{bucket}/{obj}"},
                      "", when="gcloud builds submit (next step) uploads the folder itself"))
    plan.add(PlanStep("Build the image and push it", "cloudbuild.projects.locations.builds.create",
                      {"parent": location, "build": build_body(config, image, bucket, obj)},
                      gcloud.command("gcloud builds submit", str(context.resolve()), tag=image,
                                     project=config.vertex.project, region=config.vertex.region,
                                     gcs_source_staging_dir=f"gs://{bucket}/cloudbuild/source",
                                     service_account=build_body(config, image, bucket, obj).get("serviceAccount"))))
    plan.notes.append("Cloud Build bills build minutes (the first 2,500 a month on e2-standard-2 are free); "
                      "Artifact Registry bills stored GB a month beyond 0.5 GB")
    return plan


def push_image(config: Config, dry_run: bool, context: Path | None = None, wait: bool = False) -> dict[str, Any]:
    """Plan (dry run) or make the three calls; with `wait`, follow the build to its end."""
    require_project(config)
    context = Path(context or Path.cwd())
    image = naming.image_uri(config)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    obj = f"cloudbuild/source/{naming.label_value(config.registry.model_name)}-{stamp}.tgz"
    plan = push_plan(config, context, image, obj)
    if dry_run:
        return dry_run_result(plan, image=image)
    archive = build_context(context)
    session = _session(config)
    repo_step, upload_step, build_step = plan.steps
    created = _ensure_repository(config, session, repo_step.args)
    _upload_context(config, archive, upload_step.args["destination"])
    build = _create_build(config, session, build_step.args)
    if wait:
        build = _follow(config, session, build)
    return {"dry_run": False, "image": image, "repository_created": created, "build": build.get("id"),
            "status": build.get("status"), "log_url": build.get("logUrl"), "context_bytes": len(archive),
            "plan": plan.as_dict()}


def _hosts(config: Config) -> tuple[str, str]:
    """(Cloud Build, Artifact Registry) base URLs; vertex.build_api_endpoint serves both (tests)."""
    custom = config.vertex.build_api_endpoint
    if custom:
        base = custom if custom.startswith("http") else f"https://{custom}"
        return base, base
    return CLOUD_BUILD, ARTIFACT_REGISTRY


def _session(config: Config) -> Any:
    from google.auth.transport.requests import AuthorizedSession

    if config.vertex.build_api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return AuthorizedSession(AnonymousCredentials())
    return AuthorizedSession(vertex_credentials(config))


def _call(config: Config, session: Any, method: str, url: str, action: str, **kwargs: Any) -> Any:
    with translate_errors(action, config.vertex.project):
        answer = session.request(method, url, timeout=60, **kwargs)
    if answer.status_code >= 400:
        try:
            message = answer.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = answer.text
        raise CloudError(f"{action} in project {config.vertex.project}: HTTP {answer.status_code}: "
                         f"{one_line(message)}")
    return answer


def _ensure_repository(config: Config, session: Any, args: Mapping[str, Any]) -> bool:
    """Create the repository unless it exists; True when it was created."""
    _, registry = _hosts(config)
    name = f"{args['parent']}/repositories/{args['repositoryId']}"
    with translate_errors(f"read repository {name}", config.vertex.project):
        found = session.get(f"{registry}/v1/{name}", timeout=60)
    if found.status_code == 200:
        return False
    if found.status_code != 404:
        _call(config, session, "GET", f"{registry}/v1/{name}", f"read repository {name}")
    _call(config, session, "POST", f"{registry}/v1/{args['parent']}/repositories", f"create repository {name}",
          params={"repositoryId": args["repositoryId"]}, json=args["repository"])
    return True


def _upload_context(config: Config, archive: bytes, destination: str) -> None:
    from pipeline.backends.vertex.gcs import upload_file

    with tempfile.TemporaryDirectory(prefix="churn-build-") as scratch:
        local = Path(scratch) / destination.rsplit("/", 1)[-1]
        local.write_bytes(archive)
        upload_file(config, vertex_credentials(config), local, destination)


def _create_build(config: Config, session: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    build_host, _ = _hosts(config)
    answer = _call(config, session, "POST", f"{build_host}/v1/{args['parent']}/builds",
                   f"start a Cloud Build in {args['parent']}", json=args["build"]).json()
    build = dict(answer.get("metadata", {}).get("build") or {})
    if not build.get("id"):
        raise CloudError(f"Cloud Build answered without a build id: {one_line(answer)}")
    return build


def _follow(config: Config, session: Any, build: dict[str, Any], poll: float = POLL_SECONDS) -> dict[str, Any]:
    build_host, _ = _hosts(config)
    location = f"projects/{config.vertex.project}/locations/{config.vertex.region}"
    while build.get("status") not in DONE:
        time.sleep(poll)
        build = _call(config, session, "GET", f"{build_host}/v1/{location}/builds/{build['id']}",
                      f"read build {build['id']}").json()
    if build["status"] != "SUCCESS":
        raise CloudError(f"Cloud Build {build['id']} ended {build['status']}: "
                         f"{one_line(build.get('statusDetail') or 'no detail')} (logs: {build.get('logUrl')})")
    return build
