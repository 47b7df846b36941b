"""Google API errors become one-line CloudErrors that say how to fix them; plans render."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from rich.console import Console

from pipeline.backends.vertex.api_errors import describe, one_line, translate_errors
from pipeline.backends.vertex.plan import Plan, PlanStep, render_details, render_dry_run
from pipeline.errors import CloudError


@pytest.mark.parametrize(("exc", "expected"), [
    (gexc.PermissionDenied("Vertex AI API has not been used in project 1 before or it is "
                           "disabled. SERVICE_DISABLED aiplatform.googleapis.com"),
     "gcloud services enable aiplatform.googleapis.com --project=p"),
    (gexc.Forbidden("POST http://x/v1/a: Permission 'aiplatform.endpoints.create' denied"),
     "permission denied in project p (Permission 'aiplatform.endpoints.create' denied)"),
    (gexc.ResourceExhausted("Quota exceeded for n1-standard-4"), "quota exceeded in project p"),
    (gexc.TooManyRequests("slow down"), "quota exceeded"),
    (gexc.Unauthenticated("token expired"), "credentials were rejected"),
    (gexc.NotFound("Endpoint 1 not found"), "not found in project p"),
    (gexc.ServiceUnavailable("try later"), "unavailable right now"),
    (gexc.FailedPrecondition("endpoint busy"), "failed in project p: FailedPrecondition"),
])
def test_describe(exc: Exception, expected: str) -> None:
    message = describe(exc, "deploy churn@1", "p")
    assert expected in message
    assert message.startswith("deploy churn@1")


def test_one_line_collapses_and_truncates() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert len(one_line("x" * 1000)) == 240


def _raise_inside(exc: Exception) -> None:
    with translate_errors("list endpoints", "p"):
        raise exc


def test_translate_errors_wraps_credentials_and_api_errors() -> None:
    with pytest.raises(CloudError, match="no usable Google Cloud credentials"):
        _raise_inside(auth_exc.DefaultCredentialsError("Could not automatically determine"))
    with pytest.raises(CloudError, match="^list endpoints: permission denied"):
        _raise_inside(gexc.PermissionDenied("nope"))
    with pytest.raises(KeyError):  # our own bugs are not disguised
        _raise_inside(KeyError("x"))


def test_plan_renders_calls_and_gcloud_lines() -> None:
    plan = Plan("Deploy churn@1")
    plan.add(PlanStep("Create endpoint", "aiplatform.Endpoint.create",
                      {"display_name": "churn-endpoint"}, "gcloud ai endpoints create x",
                      "only if missing"))
    plan.notes.append("a note")
    console = Console(record=True, width=200)
    render_dry_run([plan.as_dict()], console)
    text = console.export_text()
    assert "Dry run" in text and "aiplatform.Endpoint.create" in text
    assert "gcloud ai endpoints create x" in text and "only if missing" in text
    assert "note: a note" in text


def test_plan_args_are_json_safe_for_proto_messages() -> None:
    from google.cloud.monitoring_v3 import NotificationChannel

    step = PlanStep("x", "call", {"channel": NotificationChannel(display_name="d"), "n": (1, 2)})
    args = step.as_dict()["args"]
    assert args["channel"]["displayName"] == "d" and args["n"] == [1, 2]


def test_result_summary_lists_values() -> None:
    console = Console(record=True, width=200)
    render_details({"dry_run": False, "endpoint": "projects/p/endpoints/1",
                    "traffic_split": {"1": 100}, "plan": {"notes": []}}, console)
    text = console.export_text()
    assert "projects/p/endpoints/1" in text and '{"1": 100}' in text
