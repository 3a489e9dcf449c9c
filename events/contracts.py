"""The event contracts: JSON Schema (draft 2020-12) files in ``events/schemas/``, the single source of truth.

``envelope.json`` holds the fields every event carries; ``<kind>.json`` composes it (``allOf`` + ``$ref``)
with the kind's own flat fields. This module loads the files, bundles each kind into one self-contained schema
(the ``$ref`` inlined) and compiles it with ``fastjsonschema`` for the hot path.

>>> sorted(KINDS) == sorted(EVENT_KINDS)
True
>>> required_fields("gps")
['event_id', 'customer_id', 'kind', 'schema_version', 'event_time', 'lat', 'lon', 'accuracy_m']
>>> field_types("call")["resolved"]
('boolean',)
>>> validator("outcome")({"event_id": "00000000000000aa", "customer_id": "c0000001", "kind": "outcome",
...     "schema_version": 1, "event_time": "2026-11-24T10:00:00.000Z", "outcome": "renewed"})["outcome"]
'renewed'
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema

from cxm.config import EVENT_KINDS

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_VERSION = 1
ENVELOPE_FIELDS: tuple[str, ...] = ("event_id", "customer_id", "kind", "schema_version", "event_time")
KINDS: tuple[str, ...] = EVENT_KINDS

Validator = Callable[[Any], Any]


@cache
def raw_schema(name: str) -> dict[str, Any]:
    """The schema file ``events/schemas/<name>.json`` as written (``name`` = a kind or ``envelope``)."""
    path = SCHEMA_DIR / f"{name}.json"
    if not path.exists():
        raise KeyError(f"no schema file for {name!r} in {SCHEMA_DIR}")
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _inline_refs(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            target = dict(raw_schema(Path(node["$ref"]).stem))
            target.pop("$schema", None)
            target.pop("$id", None)
            return _inline_refs(target)
        return {k: _inline_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v) for v in node]
    return node


@cache
def bundled_schema(kind: str) -> dict[str, Any]:
    """The kind's schema with every ``$ref`` to a sibling file inlined (self-contained, for compilers)."""
    doc = _inline_refs(copy.deepcopy(raw_schema(kind)))
    doc.pop("$id", None)
    result: dict[str, Any] = doc
    return result


@cache
def properties(kind: str) -> dict[str, dict[str, Any]]:
    """Every field of the kind (envelope first) with its merged JSON Schema keywords."""
    env = raw_schema("envelope")["properties"]
    own = raw_schema(kind)["properties"]
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in env.items()}
    for name, spec in own.items():
        merged[name] = {**merged.get(name, {}), **spec}
    return merged


@cache
def required_fields(kind: str) -> list[str]:
    """Required fields of the kind, envelope first."""
    return list(raw_schema("envelope")["required"]) + [
        f for f in raw_schema(kind)["required"] if f not in ENVELOPE_FIELDS
    ]


def field_types(kind: str) -> dict[str, tuple[str, ...]]:
    """JSON types allowed per field of the kind (``const`` fields inherit the envelope's type)."""
    out: dict[str, tuple[str, ...]] = {}
    for name, spec in properties(kind).items():
        t = spec.get("type", "string")
        out[name] = tuple(t) if isinstance(t, list) else (t,)
    return out


@cache
def validator(kind: str) -> Validator:
    """The compiled fastjsonschema validator of one kind (raises ``JsonSchemaValueException``)."""
    if kind not in KINDS:
        raise KeyError(f"unknown event kind {kind!r}")
    compiled: Validator = fastjsonschema.compile(bundled_schema(kind))
    return compiled


def validators() -> dict[str, Validator]:
    """Compiled validators of every kind, by kind."""
    return {k: validator(k) for k in KINDS}
