"""Each layer in its room: Telegram only in bot/, SQL only in storage/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Top-level packages imported by each Python file under a folder."""
    result = {}
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        result[str(path.relative_to(ROOT))] = names
    return result


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        (
            "conversations",
            {"telegram", "sqlalchemy", "aiosqlite", "asyncpg", "storage", "bot", "app"},
        ),
        ("storage", {"telegram", "bot", "conversations", "app", "audit"}),
        ("app", {"telegram", "aiohttp", "bot", "sqlalchemy"}),
        ("audit", {"telegram", "aiohttp", "bot", "app"}),
        ("inputfiles", {"telegram", "bot", "conversations", "storage", "sqlalchemy", "audit"}),
    ],
)
def test_layers_do_not_reach_outside_their_room(folder: str, forbidden: set[str]) -> None:
    offenders = {
        f: names & forbidden for f, names in imported_modules(folder).items() if names & forbidden
    }
    assert offenders == {}


def test_sql_statements_are_written_only_in_storage() -> None:
    sql_builders = {"select", "insert", "update", "delete", "text"}
    offenders = []
    for folder in ("app", "bot", "conversations"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                is_sqlalchemy = isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "sqlalchemy"
                )
                if is_sqlalchemy and {a.name for a in node.names} & sql_builders:  # type: ignore[union-attr]
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
