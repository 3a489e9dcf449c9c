"""Nothing lost: route raw Kafka messages to valid events or to the dead-letter (and late) topics.

Every rejected message becomes one dead-letter record (JSON) carrying the original bytes and the reason:
``{"reason", "error_kind", "field", "kind", "event_id", "source_topic", "partition", "offset", "original",
"original_encoding", "detected_at"}``. ``original`` is the payload as a UTF-8 string when decodable
(``original_encoding`` = ``"utf-8"``), else base64 (``"base64"``).

>>> from datetime import UTC, datetime
>>> rec = dead_letter_record(b'{"kind":', validate_bytes(b'{"kind":'), "events.call", 0, 7,
...     now=lambda: datetime(2026, 11, 24, tzinfo=UTC))
>>> rec["error_kind"], rec["original"], rec["detected_at"]
('not_json', '{"kind":', '2026-11-24T00:00:00.000Z')
>>> dead_letter_record(b'\\xff', validate_bytes(b'\\xff'), "t", 0, 0)["original_encoding"]
'base64'
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from events.dedup import Deduper
from events.timefmt import parse_rfc3339, to_epoch_ms, to_rfc3339_ms
from events.validate import Invalid, Valid, validate_bytes

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RawMessage(Protocol):
    """What the router needs of a message (``confluent_kafka.Message`` satisfies it)."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


class Producer(Protocol):
    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None: ...
    def poll(self, timeout: float) -> int: ...


def dead_letter_record(
    original: bytes | None,
    failure: Invalid,
    source_topic: str | None,
    partition: int | None,
    offset: int | None,
    now: Clock = _utc_now,
) -> dict[str, Any]:
    """The dead-letter record of one rejected message."""
    raw = original or b""
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return {
        "reason": failure.reason,
        "error_kind": failure.error_kind,
        "field": failure.field,
        "kind": failure.kind,
        "event_id": failure.event_id,
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "original": text,
        "original_encoding": encoding,
        "detected_at": to_rfc3339_ms(now()),
    }


def original_bytes(record: dict[str, Any]) -> bytes:
    """The original payload of a dead-letter record.

    >>> original_bytes({"original": "AAE=", "original_encoding": "base64"})
    b'\\x00\\x01'
    """
    if record.get("original_encoding") == "base64":
        return base64.b64decode(record["original"])
    return str(record["original"]).encode("utf-8")


@dataclass
class RouteResult:
    """Outcome of routing one batch: the valid events and counts per path."""

    valid: list[dict[str, Any]] = field(default_factory=list)
    dead: int = 0
    late: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    by_error_kind: dict[str, int] = field(default_factory=dict)


@dataclass
class Router:
    """Validates batches of raw messages and sends rejects to the dead-letter topic.

    Optional checks beyond the schema: a :class:`Deduper` turns repeated ``event_id`` s into ``duplicate``
    dead letters; ``allowed_lateness_ms`` sends events older than (max event time seen on their topic and
    partition - lateness) to ``late_topic`` as ``late`` records (same record format). Events older than the
    max but within the lateness are valid and counted as ``out_of_order``.
    """

    producer: Producer
    dead_letter_topic: str
    late_topic: str | None = None
    deduper: Deduper | None = None
    allowed_lateness_ms: int | None = None
    now: Clock = _utc_now
    _max_seen: dict[tuple[str | None, int | None], int] = field(default_factory=dict)

    def _reject(self, msg: RawMessage, failure: Invalid, topic: str, result: RouteResult) -> None:
        rec = dead_letter_record(msg.value(), failure, msg.topic(), msg.partition(), msg.offset(), self.now)
        self.producer.produce(topic, orjson.dumps(rec), key=msg.key())
        result.by_error_kind[failure.error_kind] = result.by_error_kind.get(failure.error_kind, 0) + 1

    def route(self, messages: Iterable[RawMessage]) -> RouteResult:
        """Route one batch; the caller flushes the producer and commits offsets afterwards."""
        result = RouteResult()
        for msg in messages:
            checked = validate_bytes(msg.value())
            if isinstance(checked, Invalid):
                self._reject(msg, checked, self.dead_letter_topic, result)
                result.dead += 1
                continue
            ev = checked.event
            try:
                t_ms = to_epoch_ms(parse_rfc3339(ev["event_time"]))
            except ValueError as exc:  # validate_bytes rejects these already; never crash the router
                bad = Invalid("bad_event_time", f"bad event_time {ev['event_time']!r}: {exc}", "event_time",
                              ev["kind"], ev["event_id"])
                self._reject(msg, bad, self.dead_letter_topic, result)
                result.dead += 1
                continue
            if self.deduper is not None and self.deduper.seen(ev["event_id"], t_ms):
                dup = Invalid(
                    "duplicate",
                    f"duplicate event_id {ev['event_id']!r}",
                    "event_id",
                    ev["kind"],
                    ev["event_id"],
                )
                self._reject(msg, dup, self.dead_letter_topic, result)
                result.duplicates += 1
                continue
            if self.allowed_lateness_ms is not None:
                key = (msg.topic(), msg.partition())
                high = self._max_seen.get(key, t_ms)
                if t_ms < high - self.allowed_lateness_ms:
                    late = Invalid(
                        "late",
                        f"event {high - t_ms} ms behind the newest seen on its partition "
                        f"(allowed lateness {self.allowed_lateness_ms} ms)",
                        "event_time",
                        ev["kind"],
                        ev["event_id"],
                    )
                    self._reject(msg, late, self.late_topic or self.dead_letter_topic, result)
                    result.late += 1
                    continue
                if t_ms < high:
                    result.out_of_order += 1
                self._max_seen[key] = max(high, t_ms)
            result.valid.append(ev)
        self.producer.poll(0)
        return result


def route_batch(
    messages: Iterable[RawMessage],
    producer: Producer,
    dead_letter_topic: str,
    now: Clock = _utc_now,
) -> RouteResult:
    """Schema validation only: valid events returned, everything else dead-lettered (see :class:`Router`)."""
    return Router(producer, dead_letter_topic, now=now).route(messages)


__all__ = ["Invalid", "RouteResult", "Router", "Valid", "dead_letter_record", "original_bytes", "route_batch"]
