"""Routing with a fake producer: every reject becomes one dead-letter record with the original bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from events.deadletter import Router, original_bytes, route_batch
from events.dedup import Deduper


@dataclass
class Msg:
    v: bytes | None
    off: int
    t: str = "events.call"
    p: int = 0

    def value(self) -> bytes | None:
        return self.v

    def key(self) -> bytes | None:
        return b"c0000001"

    def topic(self) -> str:
        return self.t

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.off


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.sent.append((topic, value, key))

    def poll(self, timeout: float) -> int:
        return 0


def ev(eid: str, t: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": eid,
            "customer_id": "c0000001",
            "kind": "outcome",
            "schema_version": 1,
            "event_time": t,
            "outcome": "renewed",
        }
    )


def fixed_now() -> datetime:
    return datetime(2026, 11, 24, 12, tzinfo=UTC)


def test_route_batch_dead_letters_with_original_and_reason() -> None:
    prod = FakeProducer()
    raw = [ev("aaaaaaaa00000001", "2026-11-24T10:00:00.000Z"), b"\xff\x00garbage", b'{"kind":"x"}']
    res = route_batch([Msg(v, i) for i, v in enumerate(raw)], prod, "dlq", now=fixed_now)
    assert [e["event_id"] for e in res.valid] == ["aaaaaaaa00000001"]
    assert res.dead == 2
    assert [t for t, _, _ in prod.sent] == ["dlq", "dlq"]
    recs = [orjson.loads(v) for _, v, _ in prod.sent]
    assert [r["error_kind"] for r in recs] == ["not_json", "unknown_kind"]
    assert [original_bytes(r) for r in recs] == raw[1:]
    assert recs[0]["original_encoding"] == "base64"
    assert [r["offset"] for r in recs] == [1, 2]
    assert recs[0]["source_topic"] == "events.call"
    assert recs[0]["detected_at"] == "2026-11-24T12:00:00.000Z"
    assert all(k == b"c0000001" for _, _, k in prod.sent)


def test_router_duplicates_late_and_out_of_order() -> None:
    prod = FakeProducer()
    router = Router(prod, "dlq", late_topic="late", deduper=Deduper(), allowed_lateness_ms=3_600_000, now=fixed_now)
    raw = [
        ev("aaaaaaaa00000001", "2026-11-24T10:00:00.000Z"),
        ev("aaaaaaaa00000002", "2026-11-24T10:05:00.000Z"),
        ev("aaaaaaaa00000001", "2026-11-24T10:00:00.000Z"),  # duplicate
        ev("aaaaaaaa00000003", "2026-11-24T10:04:00.000Z"),  # out of order, within lateness
        ev("aaaaaaaa00000004", "2026-11-24T08:00:00.000Z"),  # late
    ]
    res = router.route([Msg(v, i) for i, v in enumerate(raw)])
    assert [e["event_id"] for e in res.valid] == ["aaaaaaaa00000001", "aaaaaaaa00000002", "aaaaaaaa00000003"]
    assert (res.duplicates, res.late, res.out_of_order, res.dead) == (1, 1, 1, 0)
    recs = {t: orjson.loads(v) for t, v, _ in prod.sent}
    assert recs["dlq"]["error_kind"] == "duplicate"
    assert recs["late"]["error_kind"] == "late"
    assert original_bytes(recs["late"]) == raw[4]


def test_deduper_is_bounded() -> None:
    d = Deduper(max_size=100, ttl_ms=10**9)
    for i in range(1000):
        assert not d.seen(f"id{i}", i)
    assert len(d) == 100
    assert d.seen("id999", 1000)


def test_impossible_calendar_date_is_dead_lettered_as_bad_event_time() -> None:
    import pandas as pd

    from events.validate import Invalid, validate_bytes
    from features.oracle_ingest import parse_event_time_ms

    bad_times = ["2026-02-30T00:00:00.000Z", "2026-04-31T12:00:00.000Z", "2025-02-29T00:00:00.000Z"]
    for t in bad_times:
        res = validate_bytes(ev("aaaaaaaa000000ff", t))
        assert isinstance(res, Invalid), t
        assert (res.error_kind, res.field) == ("bad_event_time", "event_time")
        assert t in res.reason
        assert "not a real" in res.reason
    # consistent with the batch oracle, which also rejects these (and accepts a leap day)
    assert parse_event_time_ms(pd.Series(bad_times)).isna().all()
    assert not isinstance(validate_bytes(ev("aaaaaaaa000000fe", "2028-02-29T23:59:59.999Z")), Invalid)
    prod = FakeProducer()
    router = Router(prod, "dlq", late_topic="late", deduper=Deduper(), allowed_lateness_ms=2000, now=fixed_now)
    raw = [ev("aaaaaaaa00000001", "2026-02-28T10:00:00.000Z"), ev("aaaaaaaa00000002", bad_times[0])]
    routed = router.route([Msg(v, i) for i, v in enumerate(raw)])
    assert [e["event_id"] for e in routed.valid] == ["aaaaaaaa00000001"]
    assert (routed.dead, routed.by_error_kind) == (1, {"bad_event_time": 1})
    (topic, value, _), = prod.sent
    rec = orjson.loads(value)
    assert (topic, rec["error_kind"], rec["event_id"]) == ("dlq", "bad_event_time", "aaaaaaaa00000002")
    assert original_bytes(rec) == raw[1]
    # the oracle's ingest of the same log agrees
    from features.oracle_ingest import ingest

    out = ingest(pd.DataFrame({"topic": ["events.outcome"] * 2, "value": raw}), watermark_delay_s=2.0)
    assert (out.invalid, out.invalid_reasons, out.invalid_event_ids) == (1, {"bad_event_time": 1}, ["aaaaaaaa00000002"])
