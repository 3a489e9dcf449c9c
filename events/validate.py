"""Validate raw event bytes against the contracts: a valid event dict or a structured failure with a reason.

The hot path is ``orjson.loads`` + a dict lookup of the kind + the compiled fastjsonschema validator.

Failure kinds (``Invalid.error_kind``): ``not_json``, ``not_object``, ``unknown_kind``, ``missing_field``,
``wrong_type``, ``out_of_range`` (enum, bounds, pattern, const) and ``bad_event_time``.

>>> ok = validate_bytes(b'{"event_id":"00000000000000aa","customer_id":"c0000001","kind":"consent",'
...     b'"schema_version":1,"event_time":"2026-11-24T10:00:00.000Z","channel":"sms","granted":false}')
>>> isinstance(ok, Valid), ok.event["granted"]
(True, False)
>>> validate_bytes(b'{"kind": "consent"').error_kind
'not_json'
>>> validate_bytes(b'[1]').error_kind
'not_object'
>>> validate_bytes(b'{"kind": "weather"}').reason
"unknown kind 'weather'"
>>> bad = validate_bytes(b'{"event_id":"00000000000000aa","customer_id":"c0000001","kind":"consent",'
...     b'"schema_version":1,"event_time":"2026-11-24T10:00:00Z","channel":"sms","granted":false}')
>>> bad.error_kind, bad.field
('bad_event_time', 'event_time')

The schema pattern admits day 29-31 of any month; such a time that is not a real calendar date (e.g.
``2026-02-30``) is ``bad_event_time`` too, as in the batch oracle (``features.oracle_ingest``):

>>> validate_bytes(b'{"event_id":"00000000000000aa","customer_id":"c0000001","kind":"consent",'
...     b'"schema_version":1,"event_time":"2026-02-30T10:00:00.000Z","channel":"sms","granted":false}').reason
"bad event_time '2026-02-30T10:00:00.000Z': not a real calendar date (day is out of range for month)"
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, get_args

import fastjsonschema
import orjson

from events.contracts import KINDS, validator

ErrorKind = Literal[
    "not_json",
    "not_object",
    "unknown_kind",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "bad_event_time",
    "duplicate",
    "late",
]

ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)

_TYPE_RULES = frozenset({"type"})
_TIME_FIELDS = frozenset({"event_time"})


@dataclass(frozen=True, slots=True)
class Valid:
    """A valid event."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Invalid:
    """A rejected payload: ``reason`` is for humans, ``error_kind`` for machines, ``field`` when known."""

    error_kind: ErrorKind
    reason: str
    field: str | None = None
    kind: str | None = None
    event_id: str | None = None


Result = Valid | Invalid


def _classify(exc: fastjsonschema.JsonSchemaValueException, obj: dict[str, Any], kind: str) -> Invalid:
    path = [p for p in (exc.path or []) if p != "data"]
    eid = obj.get("event_id") if isinstance(obj.get("event_id"), str) else None
    if exc.rule == "required":
        required = exc.rule_definition if isinstance(exc.rule_definition, list) else []
        missing = [f for f in required if f not in obj]
        name = missing[0] if missing else (path[0] if path else None)
        return Invalid("missing_field", f"missing field {name!r} in {kind} event", str(name), kind, eid)
    name = str(path[0]) if path else None
    if name in _TIME_FIELDS:
        return Invalid(
            "bad_event_time",
            f"bad {name} {obj.get(name)!r}: need RFC 3339 UTC with milliseconds and Z",
            name,
            kind,
            eid,
        )
    if exc.rule in _TYPE_RULES:
        msg = f"wrong type for {name!r} in {kind} event: {exc.message}"
        return Invalid("wrong_type", msg, name, kind, eid)
    return Invalid("out_of_range", f"bad value for {name!r} in {kind} event: {exc.message}", name, kind, eid)


def _bad_calendar_date(obj: dict[str, Any], kind: str) -> Invalid | None:
    """``event_time`` already matches the pattern; only days 29-31 can be impossible, so parse just those."""
    t: str = obj["event_time"]
    if t[8] < "3" and t[8:10] != "29":
        return None
    try:
        date(int(t[0:4]), int(t[5:7]), int(t[8:10]))
    except ValueError as exc:
        eid = obj.get("event_id") if isinstance(obj.get("event_id"), str) else None
        return Invalid(
            "bad_event_time", f"bad event_time {t!r}: not a real calendar date ({exc})", "event_time", kind, eid
        )
    return None


def validate_obj(obj: Any) -> Result:
    """Validate an already decoded JSON value.

    >>> validate_obj({"event_id": "x"}).reason
    "missing field 'kind'"
    """
    if not isinstance(obj, dict):
        return Invalid("not_object", f"payload is a JSON {type(obj).__name__}, not an object")
    kind = obj.get("kind")
    if kind is None:
        eid = obj.get("event_id") if isinstance(obj.get("event_id"), str) else None
        return Invalid("missing_field", "missing field 'kind'", "kind", None, eid)
    if not isinstance(kind, str) or kind not in KINDS:
        return Invalid("unknown_kind", f"unknown kind {kind!r}", "kind", None, obj.get("event_id"))
    try:
        validator(kind)(obj)
    except fastjsonschema.JsonSchemaValueException as exc:
        return _classify(exc, obj, kind)
    bad_date = _bad_calendar_date(obj, kind)
    if bad_date is not None:
        return bad_date
    return Valid(obj)


def validate_bytes(payload: bytes | str | None) -> Result:
    """Validate one raw message value (bytes as read from Kafka or one JSONL line)."""
    if payload is None:
        return Invalid("not_json", "empty message (null value)")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Invalid("not_json", f"not JSON: {exc}")
    return validate_obj(obj)
