"""Local model registry mirroring Vertex AI Model Registry.

    artifacts/registry/<model>/versions/<N>/   immutable copy of a run (model/, metrics...)
    artifacts/registry/<model>/aliases.json    {"default": 3, "champion": 2, ...}
    artifacts/registry/<model>/history.jsonl   every alias move (for rollback and audit)

A version is staged under a temporary name and renamed into place under a file lock, so
concurrent uploads get distinct numbers and a crash leaves no visible partial version (the
next upload removes the staging folder a killed one left). Commands that change the
registry first check every file they build on (pipeline.registry.files) and refuse, with
one line, while one is broken; commands that only read need only the files they read.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.core import atomic, rundir
from pipeline.errors import ModelRefError, RegistryError, RunDirError
from pipeline.registry import files as registry_files
from pipeline.registry.lineage import alias_lineage
from pipeline.training.runs import check_run_dir

ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,126}[a-z0-9]$")  # Vertex's alias rule
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
AUTO_ALIASES = ("default",)


@dataclass(frozen=True)
class ResolvedModel:
    """What a model reference points at: a SavedModel and the files that came with it."""

    name: str
    version_id: str
    model_dir: Path
    source_dir: Path
    aliases: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)


class LocalRegistry:
    """Versions and aliases of one model under `root/<model_name>`."""

    def __init__(self, root: Path, model_name: str) -> None:
        self.name = model_name
        self.root = Path(root) / model_name
        self.versions_dir = self.root / "versions"

    @classmethod
    def from_config(cls, config: Config) -> LocalRegistry:
        return cls(config.paths.registry, config.registry.model_name)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The registry's write lock, after checking every file a change builds on."""
        lock = self.root / ".lock"
        registry_files.expect_folder(self.root, "model")
        registry_files.expect_folder(self.versions_dir, "versions")
        try:
            self.versions_dir.mkdir(parents=True, exist_ok=True)
            handle = lock.open("a")
        except IsADirectoryError:
            raise RegistryError(f"{lock}: is a folder, expected the registry's lock file; repair: remove it "
                                "(it holds no data)") from None
        except OSError as exc:
            raise atomic.output_error(lock, exc) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self.check_files()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def check_files(self) -> None:
        """Refuse to change a registry whose versions, aliases or history are broken."""
        self.versions()
        self.aliases()
        self.history()

    def versions(self) -> list[int]:
        """Registered version numbers, ascending (hidden staging folders are invisible)."""
        registry_files.expect_folder(self.versions_dir, "versions")
        if not self.versions_dir.is_dir():
            return []
        numbers = []
        for entry in self.versions_dir.iterdir():
            number = registry_files.version_number(entry.name)
            if number is None and entry.name.isdigit():
                raise RegistryError(f"{entry}: not a version folder name (versions are plain ASCII numbers "
                                    "1, 2, 3... without leading zeros); repair: rename it or move it out of versions/")
            if number is not None:
                if not entry.is_dir():
                    raise RegistryError(f"{entry}: is a file, expected a version folder; repair: move it out of "
                                        "versions/")
                numbers.append(number)
        return sorted(numbers)

    def aliases(self) -> dict[str, int]:
        """Alias -> version number, from aliases.json."""
        return registry_files.read_aliases(self.root / "aliases.json")

    def info(self, version: int) -> dict[str, Any]:
        """versions/N/version.json: run, creation time, labels, threshold, test metrics."""
        return registry_files.read_info(self._version_dir(version) / "version.json", version)

    def _version_dir(self, version: int) -> Path:
        path = self.versions_dir / str(version)
        if not path.is_dir():
            known = ", ".join(map(str, self.versions())) or "none"
            raise ModelRefError(f"{self.name}@{version}: no such version (registered: {known})")
        return path

    def upload(self, run_dir: Path, aliases: Sequence[str] = (), labels: dict[str, str] | None = None) -> int:
        """Register a run as the next version; returns its number."""
        run_dir = check_run_dir(run_dir)
        for alias in aliases:
            check_alias(alias)
        labels = check_labels(labels or {})
        self.check_files()  # before the copy: a broken registry refuses at once
        staging = atomic.partial_directory(self.root, "staging")
        try:
            _copy_run(run_dir, staging)
            with self._locked():
                version = (self.versions() or [0])[-1] + 1
                atomic.write_json(staging / "version.json", _version_info(version, run_dir, labels))
                os.rename(staging, self.versions_dir / str(version))
                wanted = list(dict.fromkeys([*AUTO_ALIASES, *aliases]))
                if "champion" not in self.aliases():
                    wanted.append("champion")  # the first model is the champion until beaten
                for alias in wanted:
                    self._move_alias(alias, version, kind="upload")
        except OSError as exc:
            if exc.errno in atomic.STORAGE_ERRNOS:
                raise atomic.output_error(self.root, exc) from None
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return version

    def promote(self, version: int, alias: str) -> int | None:
        """Point `alias` at `version` atomically; returns the version it pointed at before."""
        check_alias(alias)
        with self._locked():
            self.info(version)  # a version whose record is broken cannot be served either
            return self._move_alias(alias, version, kind="promote")

    def rollback(self, alias: str = "champion") -> int:
        """Move `alias` back to the version it pointed at before its latest promotion."""
        with self._locked():
            lineage = self._lineage(alias)
            if len(lineage) < 2:
                raise RegistryError(f"{self.name}@{alias}: nothing to roll back to (no earlier version held it)")
            self._move_alias(alias, lineage[-2], kind="rollback")
            return lineage[-2]

    def _lineage(self, alias: str) -> list[int]:
        return alias_lineage(self.history(), alias)

    def history(self) -> list[dict[str, Any]]:
        """Every alias move, oldest first, from history.jsonl."""
        return registry_files.read_history(self.root / "history.jsonl")

    def _move_alias(self, alias: str, version: int, kind: str) -> int | None:
        current = self.aliases()
        previous = current.get(alias)
        current[alias] = version
        event = {"time": _now(), "alias": alias, "from": previous, "to": version, "kind": kind}
        path = self.root / "history.jsonl"
        line = json.dumps(event) + "\n"
        if not registry_files.ends_with_newline(path):
            line = "\n" + line  # never glue an event onto a line a crash cut short
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        atomic.write_json(self.root / "aliases.json", current)
        return previous

    def resolve(self, selector: str) -> ResolvedModel:
        """`3`, `champion` or `default` -> the registered version."""
        aliases = self.aliases()
        version = registry_files.version_number(selector)
        if version is None:
            if selector not in aliases:
                known = ", ".join(sorted(aliases)) or "none (run `churn upload RUN_DIR` first)"
                raise ModelRefError(f"{self.name}@{selector}: no such alias (aliases: {known})")
            version = aliases[selector]
            if not (self.versions_dir / str(version)).is_dir():
                self.versions()  # a broken versions/ folder is what to report, if it is one
                raise RegistryError(f"{self.root / 'aliases.json'}: alias {selector} points at version {version}, "
                                    f"which is not registered; repair: `churn models promote N --alias {selector}`")
        path = self._version_dir(version)
        held = tuple(sorted(a for a, v in aliases.items() if v == version))
        return ResolvedModel(self.name, str(version), path / "model", path, held, self.info(version))


def version_metrics(model: ResolvedModel) -> tuple[float, dict[str, Any]]:
    """(threshold, Keras test metrics) of a registered version (from its checked
    version.json) or of a run directory (from metrics.json)."""
    if model.info:
        return model.info["threshold"], model.info["test_metrics"]
    path = model.source_dir / "metrics.json"
    metrics = atomic.read_json(path)
    try:
        return float(metrics["threshold"]), dict(metrics["test"]["keras"])
    except (KeyError, TypeError, ValueError):
        raise RunDirError(f"{path}: expected threshold and test.keras metrics (written by `churn train`; "
                          "rerun `churn evaluate RUN_DIR` to rewrite it)") from None


def check_alias(alias: str) -> str:
    if alias.isdigit() or not ALIAS_PATTERN.match(alias):
        raise RegistryError(f"alias {alias!r}: use lowercase letters, digits and '-', starting with a letter "
                            "(Vertex AI's alias rule), e.g. champion or challenger")
    return alias


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not LABEL_PATTERN.match(key) or not re.match(r"^[a-z0-9_-]{0,63}$", str(value)):
            raise RegistryError(f"label {key}={value}: keys and values take lowercase letters, digits, '_' "
                                "and '-' (Google Cloud label rules)")
    return labels


def parse_labels(items: list[str]) -> dict[str, str]:
    """['team=growth', ...] -> {'team': 'growth'}."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise RegistryError(f"--label {item!r}: expected key=value")
        pairs[key.strip()] = value.strip()
    return check_labels(pairs)


def resolve_model(config: Config, ref: str) -> ResolvedModel:
    """`churn@champion`, `churn@3`, `churn` (default alias) or a run directory path."""
    path = Path(ref)
    if "@" not in ref and path.is_dir():
        run_dir = check_run_dir(path)
        return ResolvedModel(name=config.registry.model_name, version_id=run_dir.name,
                             model_dir=run_dir / "model", source_dir=run_dir)
    name, _, selector = ref.partition("@")
    if name != config.registry.model_name:
        raise ModelRefError(f"{ref}: unknown model (expected {config.registry.model_name}@ALIAS, "
                            f"{config.registry.model_name}@VERSION or a run directory)")
    return LocalRegistry.from_config(config).resolve(selector or "default")


def _copy_run(run_dir: Path, target: Path) -> None:
    """The run's files into the (empty) staging folder `target`."""
    for name in rundir.SHIPPED:
        source = run_dir / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        elif source.is_file():
            shutil.copy2(source, target / name)


def _version_info(version: int, run_dir: Path, labels: dict[str, str]) -> dict[str, Any]:
    metrics = atomic.read_json(run_dir / "metrics.json")
    return {"version": version, "run_id": run_dir.resolve().name, "source_run": str(run_dir.resolve()),
            "created_at": _now(), "labels": {**labels, "run_id": run_dir.resolve().name.lower()},
            "threshold": metrics["threshold"], "test_metrics": metrics["test"]["keras"]}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
