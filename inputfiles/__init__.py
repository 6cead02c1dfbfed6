"""Files that operators hand us (surveys, the catalog), read strictly: bounded in size, UTF-8
only, YAML without duplicate keys or alias bombs, CSV with its separator detected. Every
problem names the file, and the line when there is one.

Shared by conversations/ (surveys) and storage/ (the catalog), so it imports neither.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml

KB = 1024
MAX_NODES = 100_000  # values in one YAML file, counting what aliases expand to
SEPARATORS = ",;\t"


class FileProblem(Exception):
    """A file cannot be used; the message is 'file[:line]: what is wrong'."""


def read_text(path: Path, limit: int) -> str:
    """The file's text: at most `limit` bytes of UTF-8 (a byte-order mark is dropped)."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise FileProblem(
                f"{path}: the file has {size // KB:,} KB; at most {limit // KB:,} KB are accepted"
            )
        data = path.read_bytes()
    except OSError as error:
        raise FileProblem(f"{path}: cannot read the file ({error.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FileProblem(
            f"{path}:{line}: the file is not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "save it as UTF-8 (it may be in Windows-1250 or another encoding)"
        ) from None


class _Duplicate(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a mapping may not repeat a key (the last would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Refuse a key that appears twice in one mapping (merge keys `<<` aside)."""
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:  # an unhashable key: PyYAML reports it
                break
            if first != line:
                raise _Duplicate(line, f"duplicate key '{key}' (first on line {first})")
        return super().construct_mapping(node, deep)


def load_yaml(text: str, path: Path) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        if (count := _expanded_size(node, {})) > MAX_NODES:
            raise FileProblem(
                f"{path}: the file holds {count:,} values once its aliases are expanded; "
                f"at most {MAX_NODES:,} are accepted"
            )
        return node, loader.construct_document(node)
    except _Duplicate as error:
        raise FileProblem(f"{path}:{error.line}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise FileProblem(f"{path}:{line}: not valid YAML: {error}") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes the tree has when every alias is expanded (computed once per node)."""
    if id(node) in sizes:
        return sizes[id(node)]
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = total
    return total


def line_of(node: yaml.Node, where: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node along a path of keys and indexes."""
    for step in where:
        child = _child(node, step)
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _child(node: yaml.Node, step: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(step):
                return value if not isinstance(value, yaml.ScalarNode) or value.value else key
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]
    return None


def csv_rows(text: str, path: Path, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    """(line, row) of a CSV file whose header names `required` columns; the separator
    (comma, semicolon or tab) is taken from the header line."""
    header = text.split("\n", 1)[0]
    counts = {separator: header.count(separator) for separator in SEPARATORS}
    separator = max(counts, key=lambda s: counts[s])
    if not counts[separator]:
        raise FileProblem(
            f"{path}:1: cannot tell how columns are separated; use commas, semicolons or tabs"
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        columns = next(reader)
    except StopIteration:
        raise FileProblem(f"{path}: the file is empty") from None
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise FileProblem(f"{path}:1: the header repeats the column(s) {', '.join(repeated)}")
    missing = [c for c in required if c not in columns]
    if missing:
        shown = ", ".join(columns[:4]) + (", …" if len(columns) > 4 else "")
        raise FileProblem(
            f"{path}:1: the header lacks the column(s) {', '.join(missing)} (it has {shown}; "
            f"columns separated by {_SEPARATOR_NAMES[separator]})"
        )
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            raise FileProblem(
                f"{path}:{reader.line_num}: {len(values)} values, but the header has "
                f"{len(columns)} columns"
            )
        rows.append((reader.line_num, dict(zip(columns, values, strict=True))))
    return rows


_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
