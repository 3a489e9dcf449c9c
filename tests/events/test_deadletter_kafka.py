"""End to end on the real broker: faulty simulated events -> fresh topic -> Router -> dead-letter topics."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
import pytest

from events.deadletter import Router
from events.dedup import Deduper
from simulator.config import FaultRates, SimConfig
from simulator.engine import Simulation
from simulator.sinks import KafkaSink, kafka_producer


def _consume(bootstrap: str, topic: str, n: int, timeout_s: float = 60.0) -> list:
    from confluent_kafka import Consumer

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    out: list = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        out.extend(m for m in c.consume(num_messages=10_000, timeout=1.0) if not m.error())
    c.close()
    return out


@pytest.mark.integration
def test_faults_reach_dead_letter_topics_on_kafka(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    src, dlq, late = new_topic("test.events"), new_topic("test.dlq"), new_topic("test.late")
    sim = Simulation(
        SimConfig(
            customers=300,
            days=2,
            seed=9,
            faults=FaultRates(malformed=0.005, missing_field=0.005, duplicate=0.005, late=0.005),
        )
    )
    sim.run_ticks()
    sink = KafkaSink(kafka_producer(kafka_bootstrap), lambda kind: src)
    batch = next(b for b in sim.flush() if b.kind == "clickstream")
    sent = sink.write(batch)
    sink.close()
    faults = [f for f in sim.faults_table().to_pylist() if f["kind"] == "clickstream"]
    expected = {
        k: {f["event_id"] for f in faults if f["fault"] == k}
        for k in ("malformed", "missing_field", "duplicate", "late")
    }
    assert all(expected.values()), expected

    msgs = _consume(kafka_bootstrap, src, sent)
    assert len(msgs) == sent
    producer = kafka_producer(kafka_bootstrap)
    router = Router(producer, dlq, late_topic=late, deduper=Deduper(), allowed_lateness_ms=3_600_000)
    result = router.route(msgs)
    producer.flush(30)
    n_dead = result.dead + result.duplicates
    assert len(result.valid) + n_dead + result.late == sent

    got: dict[str, set[str]] = {}
    for m in _consume(kafka_bootstrap, dlq, n_dead) + _consume(kafka_bootstrap, late, result.late):
        rec = orjson.loads(m.value())
        eid = rec["event_id"] or next(e for e in expected["malformed"] if e in rec["original"])
        got.setdefault(rec["error_kind"], set()).add(eid)
        assert rec["source_topic"] == src
        assert rec["reason"]
    assert got["not_json"] == expected["malformed"]
    assert got["missing_field"] == expected["missing_field"]
    assert got["duplicate"] == expected["duplicate"]
    assert got["late"] == expected["late"]
