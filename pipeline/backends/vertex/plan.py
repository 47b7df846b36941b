"""What a Vertex command will do (dry run) or did: API calls with arguments, gcloud equivalents.

Every vertex function builds a Plan from the same argument dictionaries it passes to the SDK,
so `--dry-run` prints exactly the calls a real run makes. Values only known at run time (the
next version number, an endpoint id) appear as <PLACEHOLDERS> in a dry run. Rendering with
rich lives here and only here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

NEXT_VERSION = "<NEXT_VERSION>"
ENDPOINT_ID = "<ENDPOINT_ID>"
MODEL_ID = "<MODEL_ID>"
DEPLOYED_MODEL_ID = "<DEPLOYED_MODEL_ID>"
JOB_ID = "<JOB_ID>"


@dataclass(frozen=True)
class PlanStep:
    """One API call: what it is for, the SDK call and its arguments, the gcloud equivalent."""

    purpose: str
    call: str
    args: Mapping[str, Any]
    gcloud: str = ""
    when: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "call": self.call, "args": _plain(self.args),
                "gcloud": self.gcloud, "when": self.when}


@dataclass
class Plan:
    title: str
    steps: list[PlanStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, step: PlanStep) -> PlanStep:
        self.steps.append(step)
        return step

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "steps": [s.as_dict() for s in self.steps],
                "notes": list(self.notes),
                "gcloud": [s.gcloud for s in self.steps if s.gcloud]}


def steps_of(plan_dict: Mapping[str, Any]) -> list[PlanStep]:
    """The steps of a plan that another function returned (to fold into a bigger plan)."""
    return [PlanStep(s["purpose"], s["call"], s["args"], s["gcloud"], s["when"])
            for s in plan_dict["steps"]]


def dry_run_result(plan: Plan, **extra: Any) -> dict[str, Any]:
    return {"dry_run": True, "plan": plan.as_dict(), **extra}


def _plain(value: Any) -> Any:
    """JSON-safe copy of SDK arguments (proto messages and SDK objects become text/dicts)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    to_json = getattr(type(value), "to_json", None)
    if callable(to_json):  # proto-plus message
        return json.loads(to_json(value))
    return str(value)


def render_plan(plan: Mapping[str, Any], console: Console) -> None:
    """Print a plan dict (Plan.as_dict()) as a table of calls, then the gcloud commands."""
    table = Table(title=plan["title"], show_lines=True, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("step")
    table.add_column("API call and arguments", overflow="fold")
    for number, step in enumerate(plan["steps"], start=1):
        purpose = step["purpose"] + (f"\n[dim]({step['when']})[/]" if step["when"] else "")
        args = json.dumps(step["args"], indent=2, sort_keys=False)
        table.add_row(str(number), purpose, f"{step['call']}(\n{args}\n)")
    console.print(table)
    if plan["gcloud"]:
        console.print("[bold]Equivalent gcloud commands:[/]")
        for command in plan["gcloud"]:
            console.print(command, highlight=False, soft_wrap=True)
    for note in plan["notes"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)


def render_dry_run(plans: Iterable[Mapping[str, Any]], console: Console) -> None:
    """A dry run's plans: nothing was called, this is what would be."""
    console.print("[bold cyan]Dry run:[/] nothing was called; this is the plan.")
    for plan in plans:
        render_plan(plan, console)


def render_details(details: Mapping[str, Any], console: Console) -> None:
    """Print what a call returned as a key/value table (SDK objects as JSON text)."""
    if not details:
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in details.items():
        if key in ("plan", "dry_run"):
            continue
        table.add_row(str(key), value if isinstance(value, str) else json.dumps(_plain(value)))
    console.print(table)
