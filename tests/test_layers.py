"""Each layer in its room: Telegram only in bot/, SQL only in storage/, use cases in app/, and
no import cycle between our modules (imports inside functions included)."""

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
        ("storage", {"telegram", "aiohttp", "bot", "conversations", "app", "audit"}),
        ("app", {"telegram", "aiohttp", "bot", "sqlalchemy"}),
        ("audit", {"telegram", "aiohttp", "bot", "app", "sqlalchemy"}),
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


PACKAGES = ("app", "bot", "conversations", "storage", "audit", "inputfiles")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Our module → our modules it imports anywhere in it (top level, in functions, under
    TYPE_CHECKING): `from a.b import c` points at a.b.c when that is a module, else at a.b."""
    paths = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in paths else base)
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_import_graph_sees_our_modules_and_their_lazy_imports() -> None:
    graph = import_graph()
    assert {"app.respond", "bot.startup", "storage.db", "audit.summary"} <= set(graph)
    assert "app.pipeline" in graph["app.respond"]  # a top-level import
    assert "bot.web.server" in graph["bot.cli"]  # an import inside a function
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_between_our_modules() -> None:
    assert cycle_in(import_graph()) is None


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("storage", ("app", "bot", "audit", "conversations")),
        ("audit", ("app", "bot")),
        ("conversations", ("app", "bot")),
        ("app", ("bot",)),
    ],
)
def test_no_layer_imports_a_layer_above_it(layer: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        module: sorted(t for t in targets if t.split(".")[0] in forbidden)
        for module, targets in import_graph().items()
        if module.split(".")[0] == layer and any(t.split(".")[0] in forbidden for t in targets)
    }
    assert offenders == {}


def test_audit_reads_only_the_plain_shapes_of_storage() -> None:
    offenders = {
        module: sorted(t for t in targets if t.startswith("storage") and t != "storage.cells")
        for module, targets in import_graph().items()
        if module.startswith("audit.")
    }
    assert {m: t for m, t in offenders.items() if t} == {}
