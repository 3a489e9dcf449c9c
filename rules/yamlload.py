"""Load YAML with the line of every value, so errors can name ``file:line``.

PyYAML composes a node tree whose marks carry line numbers; we construct the plain data from it and keep a map
from each value's path (keys and list indices) to its 1-based line. Duplicate keys are rejected.

>>> doc = load_text("a: 1\\nb:\\n  - x: 2\\n", "t.yaml")
>>> doc.data
{'a': 1, 'b': [{'x': 2}]}
>>> doc.line(("b", 0, "x"))
3
>>> doc.line(("b", 0, "missing"))  # falls back to the nearest known parent
3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rules.errors import PolicyError

PathKey = tuple[str | int, ...]


@dataclass
class YamlDoc:
    """Parsed data plus the line of every value path."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: Sequence[str | int]) -> int:
        """Line of ``path``, or of its nearest ancestor that has one (1 when none)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def error(self, path: Sequence[str | int], reason: str) -> PolicyError:
        return PolicyError(self.file, self.line(path), reason)


def _walk(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], file: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise PolicyError(
                    file, key_node.start_mark.line + 1, f"duplicate key {key!r} (first on line {seen[key]})"
                )
            seen[key] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file)
            # a key's own line is the better place to point at for scalars on the same line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, file)


def load_text(text: str, file: str) -> YamlDoc:
    """Parse one YAML document (safe loader only) with line numbers; bad YAML raises :class:`PolicyError`."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return YamlDoc(file, None, {(): 1})
            lines: dict[PathKey, int] = {}
            _walk(node, (), lines, file)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise PolicyError(file, line, f"bad YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(file, 1, f"bad YAML: {exc}") from exc
    return YamlDoc(file, data, lines)


def load_file(path: Path) -> YamlDoc:
    """Read and parse ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), 1, f"cannot read: {exc}") from exc
    return load_text(text, str(path))
