"""The `auditbot` command line for staff: roles, rounds, the audit log, posters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from app.config import Settings
from tests.conftest import SECRET


def auditbot(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "PSEUDONYM_SECRET": SECRET,
        "BOT_TOKEN": "",
        "ADMIN_IDS": "77",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_staff_roles_and_the_audit_log(settings: Settings) -> None:
    ok(auditbot(settings, "staff", "add", "4242", "staff", "--city", "krakow"))
    ok(auditbot(settings, "staff", "add", "4343", "coordinator"))
    listing = ok(auditbot(settings, "staff", "list"))
    assert "77\tadmin" in listing and "4242\tstaff\tkrakow" in listing
    assert "4343\tcoordinator\tall cities" in listing
    bad = auditbot(settings, "staff", "add", "1", "boss")
    assert bad.returncode == 2 and "unknown role 'boss'" in bad.stderr
    bad = auditbot(settings, "staff", "add", "1", "staff", "--city", "atlantis")
    assert bad.returncode == 2 and "unknown cities: atlantis" in bad.stderr
    assert ok(auditbot(settings, "staff", "remove", "4343")).strip() == "removed"
    log = ok(auditbot(settings, "audit-log")).splitlines()
    assert [line.split("\t")[1:4] for line in log] == [
        ["cli", "staff.revoke", "user:4343"],
        ["cli", "staff.grant", "user:4343"],
        ["cli", "staff.grant", "user:4242"],
    ]


def test_rounds_open_list_and_close(settings: Settings) -> None:
    opened = ok(auditbot(settings, "round", "open", "--city", "krakow", "--closes", "2099-01-31"))
    assert opened.startswith("round 1 is open; 0 invitation(s) queued")
    planned = ok(
        auditbot(
            settings,
            "round",
            "open",
            "--city",
            "lublin",
            "--practice",
            "lublin-info-integracja",
            "--opens",
            "2098-06-01",
            "--closes",
            "2098-06-30",
        )
    )
    assert planned.startswith("round 2 is planned")
    listing = ok(auditbot(settings, "round", "list"))
    assert "1\tkrakow\topen" in listing and "2\tlublin\tplanned\t2098-06-01\t2098-06-30" in listing
    assert ok(auditbot(settings, "round", "close", "1")).strip() == "round 1 is closed"
    assert "1\tkrakow\tclosed" in ok(auditbot(settings, "round", "list", "--city", "krakow"))
    bad = auditbot(settings, "round", "open", "--city", "krakow", "--closes", "31/01/2099")
    assert bad.returncode == 2 and "--closes" in bad.stderr
    bad = auditbot(
        settings,
        "round",
        "open",
        "--city",
        "krakow",
        "--practice",
        "nope",
        "--closes",
        "2099-01-31",
    )
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_a_poster_is_written_in_every_format(settings: Settings, tmp_path: Path) -> None:
    for fmt in ("pdf", "png", "svg"):
        out = tmp_path / f"poster.{fmt}"
        ok(
            auditbot(
                settings,
                "poster",
                "--city",
                "gdansk",
                "--practice",
                "gdansk-model-integracji-imigrantow",
                "--format",
                fmt,
                "--out",
                str(out),
                "--bot-username",
                "open_cities_bot",
            )
        )
        assert out.stat().st_size > 1000
    text = PdfReader(tmp_path / "poster.pdf").pages[0].extract_text()
    assert "t.me/open_cities_bot?start=p_gdansk-model-integracji-imigrantow" in text
    assert "Gdańsk" in text
    missing = auditbot(settings, "poster", "--city", "gdansk", "--out", str(tmp_path / "x.pdf"))
    assert missing.returncode == 2 and "BOT_USERNAME" in missing.stderr


def test_retention_runs_by_hand_and_prints_counts(settings: Settings) -> None:
    printed = ok(auditbot(settings, "db", "retention")).splitlines()
    assert "unfinished deleted: 0" in printed and "audit log pruned: 0" in printed
