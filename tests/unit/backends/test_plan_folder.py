"""The plan folder a dry run leaves: placeholders filled with correct shell quoting, and
nothing that was already there touched."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from pipeline.backends.vertex import gcloud
from pipeline.backends.vertex.plan import Plan, PlanStep, fill_placeholders, plan_file, write_plan_folder


def _words(command: str, env: dict[str, str] | None = None) -> list[str]:
    """The arguments bash would pass for `command` (run through printf, never gcloud)."""
    script = "printf '%s\\n' " + command.split(" ", 2)[2]  # without "gcloud x"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})
    return done.stdout.splitlines()


def test_placeholders_inside_and_outside_quotes_become_the_right_words() -> None:
    line = gcloud.command("gcloud x", "<ENDPOINT_ID>", "it's <JOB_ID>/a b",
                          file=plan_file("p.json"), plain="<JOB_ID>")
    folder = "/tmp/it's a folder"
    filled = fill_placeholders(line, {"PLAN_DIR": shlex.quote(folder), "ENDPOINT_ID": '"${E}"',
                                      "JOB_ID": '"${J}"'})
    assert _words(filled, {"E": "12 3", "J": "j'1"}) == [
        "12 3", "it's j'1/a b", f"--file={folder}/p.json", "--plain=j'1"]


def test_each_dry_run_gets_a_new_folder_and_existing_ones_stay(tmp_path: Path) -> None:
    plan = Plan("t")
    plan.add(PlanStep("write", "call", {}, gcloud.command("gcloud y", file=plan_file("a.json")),
                      files={"a.json": "{}\n"}))
    first = write_plan_folder([plan.as_dict()], tmp_path)
    (first / "a.json").write_text("mine\n", encoding="utf-8")
    second = write_plan_folder([plan.as_dict()], tmp_path)
    assert second != first and (second / "a.json").read_text(encoding="utf-8") == "{}\n"
    assert (first / "a.json").read_text(encoding="utf-8") == "mine\n"
    assert f"--file='{second}/a.json'" in (second / "plan.sh").read_text(encoding="utf-8")
