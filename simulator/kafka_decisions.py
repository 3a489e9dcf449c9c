"""Read the decisions topic and hand the decisions to the simulation (non-blocking, batched).

The reader is a :data:`simulator.run.DecisionSource`: each call returns whatever arrived since the last
call (possibly nothing). Unparseable messages are counted and skipped (the decision job owns that topic).
"""

from __future__ import annotations

from typing import Any

import orjson

#: A compact JSON record whose top-level ``action_id`` is null (the candidates' action ids are strings, and a
#: quote inside a string is escaped, so the bytes cannot occur elsewhere).
_NO_ACTION = b'"action_id":null'


def no_action(value: bytes) -> bool:
    r"""Whether a decision record (compact JSON, as the decision job writes it) chose no action; other spacing
    reads as False (the caller then parses the record).

    >>> no_action(b'{"customer_id":"c1","action_id":null,"candidates":[{"action_id":"a"}]}')
    True
    >>> no_action(b'{"action_id":"a","candidates":[{"action_id":"b","reason":"\\"action_id\\":null"}]}')
    False
    """
    return _NO_ACTION in value


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
            value, key = msg.value() or b"", msg.key()
            if key and no_action(value):  # most decisions: skip parsing ~5 kB for a customer id we have
                out.append({"customer_id": key.decode(errors="replace"), "action_id": None})
                continue
            try:
                d = orjson.loads(value)
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
