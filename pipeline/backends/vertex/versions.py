"""The Registry of the backend interface on Vertex AI Model Registry.

Versions and aliases are Vertex's own; each version's metrics and serving files are the run
files copied to gs://BUCKET/runs/<run_id>/ at upload (the version's run_id label names the
folder); alias moves are recorded in an append-only history object (alias_history.py) so
that rollback works as it does locally. A dry run records the plan and calls nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.backends.base import LocalModel, ModelVersion
from pipeline.backends.vertex import naming
from pipeline.backends.vertex.alias_history import AliasHistory, alias_event, append_step
from pipeline.backends.vertex.api_errors import translate_errors
from pipeline.backends.vertex.gcs import download_prefix, read_text
from pipeline.backends.vertex.model_registry import (
    find_model,
    resolve_model_ref,
    upload_run_to_vertex,
)
from pipeline.backends.vertex.plan import NEXT_VERSION, Plan
from pipeline.backends.vertex.registry_plans import fetch_plan, lookup_plan, move_plan
from pipeline.backends.vertex.session import init_vertex, require_bucket, require_project
from pipeline.config import Config
from pipeline.errors import CloudError, ModelRefError, RegistryError
from pipeline.registry.lineage import alias_lineage

log = logging.getLogger(__name__)

PREVIOUS_VERSION = "<PREVIOUS_VERSION>"
VERSION = "<VERSION>"
FIRST_CHAMPION = "champion"  # as locally: the first model is the champion until beaten


class VertexRegistry:
    """Versions and aliases of `registry.model_name` on Vertex AI."""

    def __init__(self, config: Config, dry_run: bool, plans: list[Mapping[str, Any]]) -> None:
        self.config = config
        self.name = config.registry.model_name
        self.dry_run = dry_run
        self.plans = plans
        self._credentials: Any = None

    # ---- the interface ---------------------------------------------------------------
    def upload(self, run_dir: Path, aliases: Sequence[str] = (),
               labels: Mapping[str, str] | None = None) -> ModelVersion:
        run_dir = Path(run_dir)
        if self.dry_run:
            result = upload_run_to_vertex(self.config, run_dir, list(aliases), True, labels)
            self._record(result["plan"])
            self._record_history_plan("the aliases the new version takes")
            return self._uploaded(run_dir, result, NEXT_VERSION, [*aliases, "default"])
        require_bucket(self.config)
        credentials = self._session()
        model = find_model(self.config)
        holders = self._holders(model) if model is not None else {}
        wanted = list(aliases)
        if FIRST_CHAMPION not in holders and FIRST_CHAMPION not in wanted:
            wanted.append(FIRST_CHAMPION)
        result = upload_run_to_vertex(self.config, run_dir, wanted, False, labels)
        self._record(result["plan"])
        version = result["version_id"]
        self._append([alias_event(a, holders.get(a), version, "upload")
                      for a in result["aliases"]], credentials, "the aliases of the upload")
        return self._uploaded(run_dir, result, version, result["aliases"])

    def resolve(self, ref: str) -> ModelVersion:
        if self.dry_run:
            parsed = naming.parse_model_ref(ref, self.config)
            selector = parsed.selector if parsed.kind != "run" else VERSION
            self._record(lookup_plan(self.config, f"Resolve {parsed}", selector))
            return ModelVersion(self.name, selector if selector.isdigit() else VERSION,
                                location=naming.models_prefix(self.config, VERSION))
        self._session()
        model = resolve_model_ref(self.config, ref)
        return self._version_of(model.gca_resource)

    def versions(self) -> list[ModelVersion]:
        if self.dry_run:
            self._record(lookup_plan(self.config, f"List the versions of {self.name}", None))
            return []
        self._session()
        model = find_model(self.config)
        if model is None:
            return []
        return [self._version_of(p) for p in self._version_protos(model)]

    def promote(self, version_id: str, alias: str) -> str | None:
        (alias,) = naming.valid_aliases([alias])
        version_id = str(version_id)
        if self.dry_run:
            self._record(move_plan(self.config, f"Point {self.name}@{alias} at version "
                                    f"{version_id}", version_id, alias))
            return None
        credentials = self._session()
        model = self._model_or_refuse()
        holders = self._holders(model, must_have=version_id)
        previous = holders.get(alias)
        self._move_alias(model, alias, version_id)
        self._append([alias_event(alias, previous, version_id, "promote")], credentials,
                     f"the move of {alias}")
        return previous

    def rollback(self, alias: str = "champion") -> str:
        if self.dry_run:
            self._record(move_plan(self.config, f"Roll {self.name}@{alias} back to the version "
                                    "it held before", PREVIOUS_VERSION, alias))
            return PREVIOUS_VERSION
        credentials = self._session()
        model = self._model_or_refuse()
        current = self._holders(model).get(alias)
        history = AliasHistory.open(self.config, credentials)
        lineage = alias_lineage(history.events(), alias)
        events = []
        if current is not None and (not lineage or lineage[-1] != current):
            # Moved outside this pipeline (console, gcloud): that move is the latest one.
            events.append(alias_event(alias, lineage[-1] if lineage else None, current,
                                      "observed"))
            lineage.append(current)
        if len(lineage) < 2:
            raise RegistryError(f"{self.name}@{alias}: nothing to roll back to (no earlier "
                                "version held it)")
        target = str(lineage[-2])
        self._move_alias(model, alias, target)
        events.append(alias_event(alias, current, target, "rollback"))
        self._append(events, credentials, f"the rollback of {alias}")
        return target

    def fetch(self, ref: str) -> LocalModel:
        version = self.resolve(ref)
        target = self.config.paths.artifacts / "vertex-cache" / self.name / version.version_id
        if self.dry_run:
            self._record(fetch_plan(self.config, version, target))
            return LocalModel(version, target)
        if (target / "model").is_dir():
            return LocalModel(version, target)  # versions are immutable: a complete copy stays
        self._download(version, target)
        return LocalModel(version, target)

    # ---- helpers ---------------------------------------------------------------------
    def _session(self) -> Any:
        if self._credentials is None:
            require_project(self.config)
            self._credentials = init_vertex(self.config)
        return self._credentials

    def _record(self, plan: Mapping[str, Any]) -> None:
        self.plans.append(plan)

    def _record_history_plan(self, description: str) -> None:
        plan = Plan(f"Record {description}")
        plan.add(append_step(self.config, description))
        self._record(plan.as_dict())

    def _append(self, events: list[dict[str, Any]], credentials: Any, description: str) -> None:
        self._record_history_plan(description)
        AliasHistory.open(self.config, credentials).append(events)

    def _model_or_refuse(self) -> Any:
        model = find_model(self.config)
        if model is None:
            raise ModelRefError(f"no Vertex model named '{self.name}' in project "
                                f"{self.config.vertex.project}: upload one with `churn upload "
                                "RUN_DIR`")
        return model

    def _version_protos(self, model: Any) -> list[Any]:
        from google.cloud import aiplatform

        client = aiplatform.models.ModelRegistry(model).client
        with translate_errors(f"list versions of {model.resource_name}", self.config.vertex.project):
            found = list(client.list_model_versions(request={"name": model.resource_name}))
        return sorted(found, key=lambda p: int(p.version_id))

    def _holders(self, model: Any, must_have: str | None = None) -> dict[str, str]:
        """alias -> version id, from one listing of the versions."""
        protos = self._version_protos(model)
        if must_have is not None and must_have not in {str(p.version_id) for p in protos}:
            known = ", ".join(str(p.version_id) for p in protos) or "none"
            raise ModelRefError(f"{self.name}@{must_have}: no such version on Vertex "
                                f"(registered: {known})")
        return {a: str(p.version_id) for p in protos for a in p.version_aliases}

    def _move_alias(self, model: Any, alias: str, version_id: str) -> None:
        from google.cloud import aiplatform

        registry = aiplatform.models.ModelRegistry(model)
        with translate_errors(f"point {self.name}@{alias} at version {version_id}",
                              self.config.vertex.project):
            registry.add_version_aliases(new_aliases=[alias], version=version_id)
        self._record(move_plan(self.config, f"Point {self.name}@{alias} at version "
                                f"{version_id}", version_id, alias, model.resource_name,
                                with_history=False))

    def _run_metrics(self, run_id: str) -> dict[str, Any]:
        if not run_id:
            return {}
        uri = naming.runs_prefix(self.config, run_id) + "metrics.json"
        text = read_text(self.config, self._session(), uri)
        try:
            return json.loads(text) if text else {}
        except json.JSONDecodeError:
            log.warning("%s is not JSON; the version is listed without metrics", uri)
            return {}

    def _version_of(self, proto: Any) -> ModelVersion:
        labels = dict(proto.labels)
        run_id = labels.get(naming.RUN_ID_LABEL, "")
        metrics = self._run_metrics(run_id)
        created = proto.version_create_time
        return ModelVersion(
            name=self.name, version_id=str(proto.version_id),
            aliases=tuple(proto.version_aliases), labels=labels,
            created_at=created.isoformat() if created else "", run_id=run_id,
            threshold=metrics.get("threshold"), test_metrics=_keras_metrics(metrics),
            location=proto.artifact_uri,
            resource_name=f"{proto.name.split('@', 1)[0]}@{proto.version_id}")

    def _uploaded(self, run_dir: Path, result: Mapping[str, Any], version: str,
                  aliases: Sequence[str]) -> ModelVersion:
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            metrics = {}
        upload_args = next(s["args"] for s in result["plan"]["steps"]
                           if s["call"] == "aiplatform.Model.upload")
        resource = result.get("versioned_resource_name") or ""
        return ModelVersion(
            name=self.name, version_id=str(version), aliases=tuple(dict.fromkeys(aliases)),
            labels=dict(upload_args["labels"]), run_id=naming.label_value(run_dir.name),
            threshold=metrics.get("threshold"), test_metrics=_keras_metrics(metrics),
            location=upload_args["artifact_uri"], resource_name=resource)

    def _download(self, version: ModelVersion, target: Path) -> None:
        """Model and run files into a temporary sibling, renamed into place when complete."""
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial",
                                        dir=target.parent))
        try:
            credentials = self._session()
            if not download_prefix(self.config, credentials, version.location, staging / "model"):
                raise CloudError(f"{version.ref}: no files under {version.location} (its "
                                 "SavedModel was deleted?)")
            if version.run_id:
                download_prefix(self.config, credentials,
                                naming.runs_prefix(self.config, version.run_id), staging)
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / "model").is_dir():
                    raise
                shutil.rmtree(staging)  # a concurrent fetch finished first: use its copy
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _keras_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    test = metrics.get("test")
    keras = test.get("keras") if isinstance(test, Mapping) else None
    return dict(keras) if isinstance(keras, Mapping) else {}
