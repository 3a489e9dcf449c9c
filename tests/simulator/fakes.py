"""Fakes of confluent-kafka objects for unit tests of pure routing logic (integration tests use the real broker)."""

from __future__ import annotations


class FakeMessage:
    """The parts of ``confluent_kafka.Message`` the routers read."""

    def __init__(self, v: bytes, off: int, topic: str) -> None:
        self.v, self.off, self.t = v, off, topic

    def value(self) -> bytes:
        return self.v

    def key(self) -> None:
        return None

    def topic(self) -> str:
        return self.t

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.off
