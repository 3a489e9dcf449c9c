"""Contract round trips: schema files are valid 2020-12 schemas; simulated events of every kind validate;
the compiled validator agrees with the reference implementation; each failure has its reason."""

from __future__ import annotations

import json

import jsonschema
import orjson
import pytest
from referencing import Registry, Resource

from cxm.config import EVENT_KINDS
from events.contracts import SCHEMA_DIR, raw_schema, required_fields
from events.validate import Invalid, Valid, validate_bytes
from simulator.config import SimConfig
from simulator.engine import Simulation


@pytest.fixture(scope="module")
def samples() -> dict[str, list[bytes]]:
    """Wire lines of every kind from a short simulation with decisions (so responses exist)."""
    sim = Simulation(SimConfig(customers=300, days=3, seed=11))
    sim.run_ticks(1)
    sim.apply_decisions(
        [
            {
                "decision_id": f"d{i}",
                "customer_id": f"c{i:07d}",
                "decided_at": "2026-11-01T01:00:00.000Z",
                "action_id": "spring_offer",
                "action_kind": "marketing",
                "channel": "push",
                "send_at": "2026-11-01T02:00:00.000Z",
                "extra": 1,
            }
            for i in range(300)
        ]
    )
    sim.run_ticks()
    out: dict[str, list[bytes]] = {}
    for b in sim.flush():
        out[b.kind] = [s.encode() for s in b.wire.lines.to_pylist()]
    return out


def _reference_validator(kind: str) -> jsonschema.protocols.Validator:
    registry: Registry = Registry()
    for path in SCHEMA_DIR.glob("*.json"):
        doc = json.loads(path.read_text())
        registry = registry.with_resource(doc["$id"], Resource.from_contents(doc))
    return jsonschema.Draft202012Validator(raw_schema(kind), registry=registry)


@pytest.mark.parametrize("name", [*EVENT_KINDS, "envelope"])
def test_schema_files_are_valid_2020_12(name: str) -> None:
    doc = raw_schema(name)
    assert doc["$schema"].endswith("2020-12/schema")
    jsonschema.Draft202012Validator.check_schema(doc)


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_round_trip_every_kind(kind: str, samples: dict[str, list[bytes]]) -> None:
    lines = samples[kind]
    assert lines, f"the simulator emitted no {kind} events"
    ref = _reference_validator(kind)
    for line in lines[:200]:
        res = validate_bytes(line)
        assert isinstance(res, Valid), (line, res)
        assert res.event["kind"] == kind
        assert set(required_fields(kind)) <= set(res.event)
        assert orjson.loads(orjson.dumps(res.event)) == orjson.loads(line)
        ref.validate(res.event)  # the reference implementation agrees


def _good() -> dict[str, object]:
    return {
        "event_id": "0123456789abcdef",
        "customer_id": "c0000001",
        "kind": "call",
        "schema_version": 1,
        "event_time": "2026-11-24T10:00:00.123Z",
        "call_id": "k1",
        "direction": "inbound",
        "reason": "billing",
        "wait_s": 3.5,
        "talk_s": 60,
        "resolved": True,
        "sentiment": -0.5,
    }


@pytest.mark.parametrize(
    ("mutate", "error_kind", "field"),
    [
        (lambda e: e.pop("wait_s"), "missing_field", "wait_s"),
        (lambda e: e.pop("event_time"), "missing_field", "event_time"),
        (lambda e: e.update(resolved="yes"), "wrong_type", "resolved"),
        (lambda e: e.update(sentiment=1.5), "out_of_range", "sentiment"),
        (lambda e: e.update(direction="sideways"), "out_of_range", "direction"),
        (lambda e: e.update(event_time="2026-11-24T10:00:00.123"), "bad_event_time", "event_time"),
        (lambda e: e.update(event_time="2026-11-24T10:00:00.123+01:00"), "bad_event_time", "event_time"),
        (lambda e: e.update(event_time="2026-13-24T10:00:00.123Z"), "bad_event_time", "event_time"),
        (lambda e: e.update(kind="weather"), "unknown_kind", "kind"),
        (lambda e: e.update(kind=7), "unknown_kind", "kind"),
        (lambda e: e.update(schema_version=2), "out_of_range", "schema_version"),
    ],
)
def test_each_failure_has_its_reason(mutate, error_kind: str, field: str) -> None:
    ev = _good()
    assert isinstance(validate_bytes(orjson.dumps(ev)), Valid)
    mutate(ev)
    res = validate_bytes(orjson.dumps(ev))
    assert isinstance(res, Invalid)
    assert (res.error_kind, res.field) == (error_kind, field)
    assert field in res.reason


@pytest.mark.parametrize(
    ("payload", "error_kind"),
    [
        (b"{not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b'"text"', "not_object"),
        (b"", "not_json"),
        (None, "not_json"),
    ],
)
def test_not_json_and_not_object(payload: bytes | None, error_kind: str) -> None:
    res = validate_bytes(payload)
    assert isinstance(res, Invalid)
    assert res.error_kind == error_kind


def test_generated_docs_are_current() -> None:
    from events.docs import DOCS_FILE, render

    assert DOCS_FILE.read_text(encoding="utf-8") == render(), "run `cxm events docs`"
