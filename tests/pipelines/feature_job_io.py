"""Helpers for the feature-job tests: fresh topics, producing raw messages, reading the job's outputs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from cxm.config import EVENT_KINDS
from events.timefmt import to_epoch_ms, to_rfc3339_ms
from pipelines.feature_job import Topics
from tests.pipelines.kafka_io import consume_all

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


def at(minutes: float = 0.0, seconds: float = 0.0) -> str:
    """Event time T0 + offset in the wire format."""
    return to_rfc3339_ms(T0 + timedelta(minutes=minutes, seconds=seconds))


def ms(minutes: float = 0.0, seconds: float = 0.0) -> int:
    """Epoch ms of T0 + offset."""
    return to_epoch_ms(T0 + timedelta(minutes=minutes, seconds=seconds))


def topic_factory(bootstrap: str) -> Callable[..., str]:
    """Like the ``new_topic`` fixture, usable from module-scoped fixtures."""
    from cxm.config import TopicSpec
    from infra.topics import ensure_topics

    def make(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        ensure_topics(bootstrap, [TopicSpec(name=name, partitions=partitions, retention_ms=3_600_000)])
        return name

    return make


def fresh_topics(new_topic: Callable[..., str], partitions: int = 1) -> Topics:
    return Topics(
        events={k: new_topic(f"fj.events.{k}", partitions=partitions) for k in EVENT_KINDS},
        dead_letter=new_topic("fj.deadletter"),
        late=new_topic("fj.late"),
        changelog=new_topic("fj.changelog", partitions=2),
    )


def produce_raw(bootstrap: str, messages: Sequence[tuple[str, bytes, bytes | None]]) -> None:
    """(topic, value, key) in order; one flush at the end keeps the order per partition."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    for topic, value, key in messages:
        producer.produce(topic, value=value, key=key)
    if producer.flush(30):
        raise RuntimeError("messages not delivered")


def event(kind: str, eid: str, customer: str, when: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": eid, "customer_id": customer, "kind": kind, "schema_version": 1, "event_time": when,
            **fields}


def read_json(bootstrap: str, topic: str, idle_s: float = 3.0) -> list[dict[str, Any]]:
    return [json.loads(v) for v in consume_all(bootstrap, topic, timeout_s=60.0, idle_s=idle_s)]


def simulate_lines(customers: int, days: float, seed: int, faults: Any = None) -> list[tuple[str, str, str]]:
    """(kind, JSON line, key) of a simulator run, in stream order per kind."""
    from simulator.config import FaultRates, SimConfig
    from simulator.engine import Simulation
    from simulator.run import run

    out: list[tuple[str, str, str]] = []

    class Collect:
        def write(self, batch: Any) -> int:
            lines, keys = batch.wire.lines.to_pylist(), batch.wire.keys.to_pylist()
            out.extend((batch.kind, v, k) for v, k in zip(lines, keys, strict=True))
            return len(lines)

        def close(self) -> None:
            pass

    run(Simulation(SimConfig(customers=customers, days=days, seed=seed, faults=faults or FaultRates())), Collect())
    return out


def changelog_frame(records: list[dict[str, Any]]) -> Any:
    """The job's changelog rows as a frame like the oracle's (last row wins per key)."""
    import pandas as pd

    flat = [{"customer_id": r["customer_id"], "group": r["group"], "event_ts_ms": r["event_ts_ms"],
             **r["values"]} for r in records]
    frame = pd.DataFrame(flat)
    return frame.drop_duplicates(["customer_id", "group", "event_ts_ms"], keep="last").reset_index(drop=True)
