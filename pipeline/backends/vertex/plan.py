"""What a Vertex command will do (dry run) or did: API calls with arguments, gcloud equivalents.

Every vertex function builds a Plan from the same argument dictionaries it passes to the SDK,
so `--dry-run` prints exactly the calls a real run makes. Values only known at run time (the
next version number, an endpoint id) appear as <PLACEHOLDERS> in a dry run. Rendering with
rich lives here and only here.

A dry run also leaves a plan folder (write_plan_folder): plan.json, plan.sh (the gcloud lines,
runnable) and every file those lines read (PlanStep.files), which the lines name through the
<PLAN_DIR> placeholder until the folder exists.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

NEXT_VERSION = "<NEXT_VERSION>"
ENDPOINT_ID = "<ENDPOINT_ID>"
MODEL_ID = "<MODEL_ID>"
DEPLOYED_MODEL_ID = "<DEPLOYED_MODEL_ID>"
JOB_ID = "<JOB_ID>"
PLAN_DIR = "<PLAN_DIR>"

# What a person running plan.sh sets for each value a real run would look up itself.
PLACEHOLDER_HELP = {
    "NEXT_VERSION": "the version number Vertex will give the upload (last version + 1: "
                    "gcloud ai models list-version MODEL_ID)",
    "MODEL_ID": "the id of the model (gcloud ai models list --filter=display_name=NAME)",
    "ENDPOINT_ID": "the id of the endpoint (gcloud ai endpoints list --filter=display_name=NAME)",
    "DEPLOYED_MODEL_ID": "the id of the deployed model (gcloud ai endpoints describe ENDPOINT_ID)",
    "JOB_ID": "the id of the monitoring job (gcloud ai model-monitoring-jobs list)",
    "VERSION": "the model version the run directory was uploaded as (its run_id label)",
    "RUN_ID": "the run id of the version (its run_id label)",
    "CUSTOM_JOB_ID": "the id of the custom job (gcloud ai custom-jobs list)",
    "BATCH_JOB_ID": "the id of the batch prediction job (GET .../batchPredictionJobs)",
    "PIPELINE_JOB_ID": "the id of the pipeline job (GET .../pipelineJobs)",
    "SCHEDULE_ID": "the id of the pipeline schedule (GET .../schedules)",
    "POLICY": "the name of an alert policy (gcloud alpha monitoring policies list)",
    "CHANNEL": "the name of a notification channel, as the channel create line printed it "
               "(gcloud beta monitoring channels list)",
}
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")


def plan_file(name: str) -> str:
    """How a gcloud line names a file of the plan folder (filled in when it is written)."""
    return f"{PLAN_DIR}/{name}"


@dataclass(frozen=True)
class PlanStep:
    """One API call: what it is for, the SDK call and its arguments, the gcloud equivalent."""

    purpose: str
    call: str
    args: Mapping[str, Any]
    gcloud: str = ""
    when: str = ""
    # Files the gcloud line reads (name in the plan folder -> content), e.g. a policy JSON.
    files: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "call": self.call, "args": _plain(self.args),
                "gcloud": self.gcloud, "when": self.when, "files": dict(self.files)}


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
    return [PlanStep(s["purpose"], s["call"], s["args"], s["gcloud"], s["when"],
                     s.get("files", {})) for s in plan_dict["steps"]]


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


def fill_placeholders(command: str, values: Mapping[str, str]) -> str:
    """`command` with each <NAME> in `values` replaced by that shell word, quoting kept right
    whether the placeholder sits inside a single-quoted argument (shlex.quote's) or not."""
    out: list[str] = []
    quote = ""  # the quote character we are inside, if any
    index = 0
    while index < len(command):
        match = _PLACEHOLDER.match(command, index)
        if match and match.group(1) in values:
            word = values[match.group(1)]
            safe = shlex.quote(word) == word
            out.append(word if safe or quote != "'" else f"'{word}'")
            index = match.end()
            continue
        char = command[index]
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        out.append(char)
        index += 1
    return "".join(out)


def placeholders_in(command: str) -> list[str]:
    return [name for name in dict.fromkeys(_PLACEHOLDER.findall(command)) if name != "PLAN_DIR"]


def in_folder(plan: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """A plan dict whose gcloud lines name the plan folder's files by their real path."""
    where = {"PLAN_DIR": shlex.quote(str(folder))}
    steps = [{**s, "gcloud": fill_placeholders(s["gcloud"], where)} for s in plan["steps"]]
    return {**plan, "steps": steps, "gcloud": [s["gcloud"] for s in steps if s["gcloud"]]}


def write_plan_folder(plans: Iterable[Mapping[str, Any]], parent: Path) -> Path:
    """Write a dry run's plans into a new folder parent/<UTC time>/ (never an existing one):
    plan.json, plan.sh and every file the gcloud lines read. Returns the folder."""
    from pipeline.core.atomic import new_directory

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    with new_directory(Path(parent), stamp) as (staging, final):
        placed = [in_folder(plan, Path(os.path.abspath(final))) for plan in plans]
        for name, content in _plan_files(placed).items():
            (staging / name).write_text(content, encoding="utf-8")
        listed = [{**p, "steps": [{**s, "files": sorted(s.get("files", {}))} for s in p["steps"]]}
                  for p in placed]
        (staging / "plan.json").write_text(json.dumps(listed, indent=2) + "\n", encoding="utf-8")
        script = staging / "plan.sh"
        script.write_text(plan_script(placed, Path(os.path.abspath(final))), encoding="utf-8")
        script.chmod(script.stat().st_mode | 0o111)
    return final


def _plan_files(plans: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    files: dict[str, str] = {}
    for plan in plans:
        for step in plan["steps"]:
            for name, content in step.get("files", {}).items():
                if files.get(name, content) != content:
                    raise ValueError(f"two plan steps write different {name}")  # a bug, not input
                files[name] = content
    return files


def plan_script(plans: Iterable[Mapping[str, Any]], folder: Path) -> str:
    """plan.sh: every gcloud line in order, the values only a real run knows as required
    environment variables (checked before anything runs)."""
    plans = list(plans)
    body: list[str] = []
    needed: list[str] = []
    for plan in plans:
        body += ["", f"# === {plan['title']}"]
        body += [f"# note: {note}" for note in plan["notes"]]
        for number, step in enumerate(plan["steps"], start=1):
            body.append(f"# {number}. {step['purpose']}")
            if not step["gcloud"]:
                body.append("#    no gcloud equivalent: `churn` makes this call itself")
                continue
            if step["when"]:
                body.append(f"#    when: {step['when']} (check before running this line)")
            for name, content in step.get("files", {}).items():
                body += _fill_file_lines(folder / name, placeholders_in(content))
                needed += [n for n in placeholders_in(content) if n not in needed]
            names = placeholders_in(step["gcloud"])
            needed += [n for n in names if n not in needed]
            body.append(fill_placeholders(step["gcloud"], {n: f'"${{{n}}}"' for n in names}))
    head = ["#!/usr/bin/env bash",
            "# Written by a `churn ... --dry-run`: the gcloud commands equivalent to its API calls.",
            "# Review the 'when:' conditions, set the variables below, then run: bash plan.sh",
            "set -euo pipefail"]
    for name in needed:
        why = PLACEHOLDER_HELP.get(name) or PLACEHOLDER_HELP.get(
            name.rstrip("0123456789").rstrip("_"), "the value a real run looks up")
        # A quote inside ${...:?...} would end the script's parse: keep the message plain.
        plain = re.sub(r"[^\w .,:()=/@+-]", "", why)
        head.append(f': "${{{name}:?set {name} to {plain}}}"')
    return "\n".join(head + body) + "\n"


def _fill_file_lines(path: Path, names: list[str]) -> list[str]:
    """Shell lines that put the variables' values into a plan file in place of <NAME>."""
    if not names:
        return []
    quoted = shlex.quote(str(path))
    edits = " ".join(f"-e 's|<{n}>|'\"${{{n}}}\"'|g'" for n in names)
    return [f"sed {edits} {quoted} > {quoted}.filled && mv {quoted}.filled {quoted}"]
