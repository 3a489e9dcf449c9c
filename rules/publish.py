"""A thin Kafka publisher for decisions: key = customer_id, value = the JSON record, configurable topic.

>>> from cxm.config import Settings
>>> cfg = PublisherConfig.from_settings(Settings.defaults())
>>> cfg.producer_config()["enable.idempotence"]
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from rules.decision import Decision


class PublisherConfig(BaseModel):
    """Where and how to publish (build it from ``Settings``: ``kafka.bootstrap`` and ``topics.decisions``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap: str
    topic: str
    linger_ms: int = 5
    acks: str = "all"

    def producer_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "linger.ms": self.linger_ms,
            "acks": self.acks,
            "enable.idempotence": True,
            "compression.type": "lz4",
        }

    @classmethod
    def from_settings(cls, settings: Any) -> PublisherConfig:
        return cls(bootstrap=settings.kafka.bootstrap, topic=settings.topics.decisions)


class DecisionPublisher:
    """Publishes decisions at least once; consumers de-duplicate on ``decision_id``."""

    def __init__(self, config: PublisherConfig) -> None:
        from confluent_kafka import Producer

        self.config = config
        self._producer = Producer(config.producer_config())
        self.errors: list[str] = []

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))

    def publish(self, decision: Decision) -> None:
        """Queue one decision (non-blocking; call :meth:`flush` to wait for delivery)."""
        self._producer.produce(
            self.config.topic,
            key=decision.customer_id.encode(),
            value=decision.to_json(),
            headers={"decision_id": decision.decision_id.encode()},
            on_delivery=self._on_delivery,
        )
        self._producer.poll(0)

    def publish_many(self, decisions: Iterable[Decision]) -> int:
        n = 0
        for d in decisions:
            try:
                self.publish(d)
            except BufferError:
                self._producer.poll(0.5)
                self.publish(d)
            n += 1
        return n

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every queued decision; raises when some could not be delivered."""
        remaining = self._producer.flush(timeout_s)
        if remaining or self.errors:
            raise RuntimeError(f"{remaining} decisions undelivered; errors: {self.errors[:3]}")
