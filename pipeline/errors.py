"""One exception type per kind of user mistake; cli.py prints them as one line, exit 2."""

from __future__ import annotations


class PipelineError(Exception):
    """A mistake the user can fix; the message says what, where and how."""


class ConfigError(PipelineError):
    """A configuration file or override is invalid."""


class DataError(PipelineError):
    """An input data file does not match the expected schema or values."""


class RunDirError(PipelineError):
    """A run directory is missing, incomplete or already exists."""


class OutputError(PipelineError):
    """An output location cannot be written, or already holds something that is not ours."""


class ModelRefError(PipelineError):
    """A model reference (churn@alias, churn@N, run dir) cannot be resolved."""


class RegistryError(PipelineError):
    """The local model registry refused an operation."""


class BackendError(PipelineError):
    """An operation the configured backend cannot do as asked (e.g. --dry-run of a local change)."""


class CloudError(PipelineError):
    """A Google Cloud call cannot be made (credentials, project, quota...)."""


class MonitoringError(PipelineError):
    """Monitoring inputs are unusable (empty window, wrong schema, corrupt statistics)."""


class ClusterError(PipelineError):
    """A multi-worker training cluster is misdescribed, or a task did not join or finish in time."""


class ServingError(PipelineError):
    """The prediction server or a local endpoint cannot start, stop or answer."""


# A bad value can be megabytes long (a 5 MB CSV field); messages and reports show at most this.
MAX_ECHO = 200


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """`text` cut to about `limit` characters, saying how long it was when cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def quote(value: object, limit: int = MAX_ECHO) -> str:
    """repr() of a bad value for an error message, never longer than about `limit` characters.

    Strings are cut before repr() so a huge value is never copied whole; repr() escapes
    newlines, so the message stays on one line."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    return clip(repr(value), limit)
