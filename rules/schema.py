"""JSON Schema validation of the YAML files (``rules/schemas/*.json``), errors mapped to ``file:line``.

>>> from rules.yamlload import load_text
>>> validate(load_text("actions: []\\n", "a.yaml"), "actions")
Traceback (most recent call last):
...
rules.errors.PolicyError: a.yaml:1: actions: [] should be non-empty
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from rules.errors import Finding, PolicyError
from rules.yamlload import YamlDoc

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``rules/schemas/<name>.json``."""
    doc: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return doc


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    s = schema(name)
    cls = jsonschema.validators.validator_for(s)
    cls.check_schema(s)
    return cls(s)


def _leaves(err: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    if err.context:
        out: list[jsonschema.ValidationError] = []
        for sub in err.context:
            out.extend(_leaves(sub))
        return out
    return [err]


def validate(doc: YamlDoc, name: str) -> None:
    """Validate ``doc.data`` against schema ``name``; raise :class:`PolicyError` listing every violation."""
    findings: list[Finding] = []
    seen: set[tuple[int, str]] = set()
    for err in _validator(name).iter_errors(doc.data):
        for leaf in _leaves(err):
            path = list(leaf.absolute_path)
            msg = leaf.message
            if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
                allowed = set(leaf.schema.get("properties", {}))
                extra = [k for k in leaf.instance if k not in allowed]
                if extra:
                    path.append(extra[0])
                    msg = f"unexpected key {extra[0]!r} (allowed: {', '.join(sorted(allowed))})"
            where = ".".join(str(p) for p in leaf.absolute_path) or "document"
            line = doc.line(path)
            if (line, msg) in seen:
                continue
            seen.add((line, msg))
            findings.append(Finding(doc.file, line, f"{where}: {msg}"))
    if findings:
        findings.sort(key=lambda f: f.line)
        raise PolicyError.of(findings)
