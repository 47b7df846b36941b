"""Turns Google Cloud exceptions into one-line CloudErrors: what failed, where, how to fix."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.errors import CloudError

log = logging.getLogger(__name__)

_MAX_DETAIL = 240
_API_DISABLED = re.compile(r"SERVICE_DISABLED|has not been used in project|is disabled|"
                           r"API has not been enabled|accessNotConfigured", re.IGNORECASE)
_API_NAME = re.compile(r"([a-z]+\.googleapis\.com)")
_REST_PREFIX = re.compile(r"^(GET|POST|PATCH|PUT|DELETE) \S+: ")


def one_line(text: object, limit: int = _MAX_DETAIL) -> str:
    """Collapse whitespace and cut long server messages so the error stays one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def credentials_error(detail: object) -> CloudError:
    return CloudError(
        f"no usable Google Cloud credentials ({one_line(detail, 120)}): run "
        "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS "
        "to a service-account key file")


def describe(exc: BaseException, action: str, project: str | None) -> str:
    """The one line for a Google API exception raised while doing `action`."""
    from google.api_core import exceptions as gexc

    where = f" in project {project}" if project else ""
    detail = one_line(_REST_PREFIX.sub("", str(getattr(exc, "message", None) or exc)))
    # REST and gRPC raise different classes for one status (Forbidden vs PermissionDenied):
    # test the HTTP-named base classes, which the gRPC ones subclass.
    if isinstance(exc, gexc.Forbidden) and _API_DISABLED.search(str(exc)):
        named = _API_NAME.search(str(exc))
        service = named.group(1) if named else "aiplatform.googleapis.com"
        return (f"{action}: the {service} API is not enabled{where}: run `gcloud services "
                f"enable {service} --project={project or 'PROJECT'}` and retry in a minute")
    if isinstance(exc, gexc.Forbidden):
        return (f"{action}: permission denied{where} ({detail}): grant the caller "
                "roles/aiplatform.user (and roles/storage.objectAdmin on the bucket, "
                "roles/monitoring.alertPolicyEditor for alerts)")
    if isinstance(exc, gexc.Unauthorized):
        return (f"{action}: credentials were rejected ({detail}): run "
                "`gcloud auth application-default login` again")
    if isinstance(exc, gexc.TooManyRequests):
        return (f"{action}: quota exceeded{where} ({detail}): wait and retry, or request more "
                "quota under IAM & Admin > Quotas for the region")
    if isinstance(exc, gexc.NotFound):
        return f"{action}: not found{where} ({detail})"
    if isinstance(exc, gexc.ServiceUnavailable | gexc.GatewayTimeout):
        return f"{action}: the service is unavailable right now ({detail}): retry later"
    status = type(exc).__name__
    return f"{action} failed{where}: {status}: {detail}"


@contextmanager
def translate_errors(action: str, project: str | None = None) -> Iterator[None]:
    """Re-raise Google client errors met inside the block as a one-line CloudError."""
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    try:
        yield
    except CloudError:
        raise
    except auth_exc.DefaultCredentialsError as exc:
        raise credentials_error(exc) from None
    except auth_exc.RefreshError as exc:
        raise CloudError(f"{action}: credentials could not be refreshed ({one_line(exc, 120)}): "
                         "run `gcloud auth application-default login`") from None
    except (auth_exc.TransportError, requests.ConnectionError) as exc:
        raise CloudError(f"{action}: cannot reach Google Cloud ({one_line(exc, 120)}): "
                         "check the network or proxy settings") from None
    except gexc.GoogleAPIError as exc:
        log.debug("%s failed", action, exc_info=True)
        raise CloudError(describe(exc, action, project)) from None
    except ValueError as exc:
        # The SDK validates arguments (labels, regions, traffic splits) with ValueError.
        raise CloudError(f"{action}: {one_line(exc)}") from None
