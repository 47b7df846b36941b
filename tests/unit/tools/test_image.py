"""The Dockerfile builds an image whose entrypoint resolves, checked without docker: the base
image, the requirement set it installs (pyproject's, TensorFlow pinned inside its range), the
console script it runs, the build context. With a docker daemon, a slow test builds it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pipeline.backends.vertex.cloud_build import context_files, ignored

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments out."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in lines if line and not line.startswith("#")]


def of(kind: str) -> list[str]:
    return [args for instruction, args in instructions() if instruction == kind]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_base_is_python_3_10_as_in_vertex_prebuilt_images() -> None:
    (base,) = of("FROM")
    assert base.startswith("python:3.10"), base


def test_it_installs_this_package_with_tensorflow_pinned_inside_pyproject_range() -> None:
    (arg,) = [a for a in of("ARG") if a.startswith("TENSORFLOW=")]
    pin = Requirement(arg.split("=", 1)[1])
    (declared,) = [Requirement(r) for r in pyproject()["project"]["dependencies"]
                   if Requirement(r).name == pin.name]
    assert pin.name == "tensorflow-cpu"  # what pyproject installs on linux/x86_64, Vertex's machines
    (pinned,) = [Version(s.version) for s in pin.specifier if s.operator == "=="]
    assert pinned in declared.specifier, f"{pin} is outside pyproject's {declared}"
    installs = [r for r in of("RUN") if "pip install" in r]
    assert installs and any(re.search(r'pip install "\$\{TENSORFLOW\}" \.(\s|$)', r) for r in installs), installs
    # pip compiles bytecode by default: nothing may switch that off.
    assert not any("--no-compile" in r or "PYTHONDONTWRITEBYTECODE" in r for r in of("RUN") + of("ENV"))


def test_the_files_it_copies_are_what_pip_install_needs() -> None:
    words = [[w for w in args.split() if not w.startswith("--")] for args in of("COPY")]
    sources = [source for copy in words for source in copy[:-1]]  # the last word is the destination
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    readme = pyproject()["project"]["readme"]
    assert {"pyproject.toml", readme, "pipeline"} <= set(sources)


def test_the_entrypoint_is_the_console_script_pyproject_declares_and_it_resolves() -> None:
    (entrypoint,) = of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["churn"]
    target = pyproject()["project"]["scripts"]["churn"]
    module, _, function = target.partition(":")
    done = subprocess.run([sys.executable, "-c", f"import {module}; assert callable({module}.{function})"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    # What the image's `churn --help` and `python -m pipeline ...` run.
    done = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "pipeline" in done.stdout and "image" in done.stdout


def test_it_runs_as_a_user_not_root() -> None:
    users = of("USER")
    assert users and users[-1] not in ("root", "0"), users


def test_the_build_context_leaves_out_venvs_artifacts_and_git() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (".venv/bin/python", ".git/HEAD", "artifacts/runs/x/metrics.json", "pipeline/__pycache__/a.pyc",
                 ".venv-tf215/bin/python"):
        assert ignored(path, patterns), path
    for path in ("pipeline/cli/app.py", "pyproject.toml", "configs/local.yaml", "data/sample/customer_churn.csv"):
        assert not ignored(path, patterns), path
    files = context_files(ROOT)
    assert "Dockerfile" in files and "pipeline/cli/app.py" in files
    assert not [f for f in files if f.startswith((".venv", ".git/", "artifacts/"))]


def docker_usable() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


def test_make_image_without_docker_says_so_in_one_line(tmp_path: Path) -> None:
    if docker_usable():
        pytest.skip("docker works here: the slow test builds the image")
    done = subprocess.run(["make", "-s", "image"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert done.stdout.strip().count("\n") == 0 and "docker is not usable here" in done.stdout


@pytest.mark.slow
def test_docker_builds_the_image_and_its_entrypoint_runs() -> None:
    if not docker_usable():
        pytest.skip("no usable docker here (`docker info` fails): nothing to build with")
    tag = "churn-pipeline:test"
    built = subprocess.run(["docker", "build", "-t", tag, "."], capture_output=True, text=True, timeout=1800,
                           cwd=ROOT)
    assert built.returncode == 0, built.stderr[-2000:]
    ran = subprocess.run(["docker", "run", "--rm", tag, "--help"], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0 and "pipeline" in ran.stdout, ran.stderr
