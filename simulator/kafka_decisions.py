"""Read the decisions topic and hand the decisions to the simulation (non-blocking, batched).

The reader is a :data:`simulator.run.DecisionSource`: each call returns whatever arrived since the last
call (possibly nothing). Unparseable messages are counted and skipped (the decision job owns that topic).
"""

from __future__ import annotations

from typing import Any

import orjson


class KafkaDecisionReader:
    """Consumes ``topic`` from the end (or the beginning) with a private consumer group."""

    def __init__(
        self, bootstrap: str, topic: str, group_id: str, from_beginning: bool = False, max_batch: int = 10_000
    ) -> None:
        from confluent_kafka import Consumer

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group_id,
                "enable.auto.commit": True,
                "auto.offset.reset": "earliest" if from_beginning else "latest",
            }
        )
        self.consumer.subscribe([topic])
        self.max_batch = max_batch
        self.bad = 0

    def __call__(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for msg in self.consumer.consume(num_messages=self.max_batch, timeout=0.0):
            if msg.error():
                continue
            try:
                d = orjson.loads(msg.value() or b"")
            except orjson.JSONDecodeError:
                self.bad += 1
                continue
            if isinstance(d, dict):
                out.append(d)
            else:
                self.bad += 1
        return out

    def close(self) -> None:
        self.consumer.close()
