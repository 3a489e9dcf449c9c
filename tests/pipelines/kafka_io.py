"""Small Kafka helpers for tests: produce JSON records, consume a topic to its end."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, Producer


def produce_json(bootstrap: str, topic: str, records: list[dict[str, Any]], key: str = "customer_id") -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for r in records:
        producer.produce(topic, key=str(r.get(key, "")).encode(), value=json.dumps(r).encode())
    remaining = producer.flush(30)
    if remaining:
        raise RuntimeError(f"{remaining} records not delivered to {topic}")


def consume_all(
    bootstrap: str, topic: str, expected: int | None = None, timeout_s: float = 60.0, idle_s: float = 3.0
) -> list[bytes]:
    """Every value in ``topic`` (read_committed), stopping at ``expected`` records or after ``idle_s`` of silence."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                if out and time.monotonic() - last > idle_s and (expected is None or len(out) >= expected):
                    break
                continue
            if msg.error():
                continue
            out.append(msg.value() or b"")
            last = time.monotonic()
            if expected is not None and len(out) >= expected and idle_s == 0:
                break
    finally:
        consumer.close()
    return out
