"""Watermark records: no event, only "the event time of this partition has reached T".

The feature job's watermark is the slowest partition's event time minus the watermark delay, and the rows of
the last events before a pause wait for it. When an input ends or pauses, the job would otherwise wait for the
source's idle timeout (5 s live, 30 s on a backlog) before it declares the quiet partitions idle and lets those
rows through. A producer that knows its input has reached ``T`` sends a watermark record to every partition of
its topics instead (the heartbeat pattern for idle Kafka partitions): the source reads its ``event_time`` like an
event's and moves the watermark at once. The job drops the record after the source: it is neither an event
(no feature row, no decision) nor dead-lettered; one with a bad ``event_time`` is dead-lettered like any bad
record.

The same holds while the input runs: an event kind that is rare (complaints, profile changes) has partitions
whose newest event is long behind the others', and every row of that kind waits for the next event on each of
its partitions before the watermark passes it. A producer that marks every partition whenever it knows that its
input has reached ``T`` (the simulator: after each tick, :class:`simulator.sinks.KafkaSink`) lets a complaint's
row out at once instead.

>>> import json
>>> json.loads(watermark_record(1_795_000_000_000))
{'kind': 'watermark', 'event_time': '2026-11-18T11:06:40.000Z'}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from events.timefmt import ms_to_rfc3339

#: The ``kind`` of a watermark record (not an event kind: the event topics carry it besides their events).
WATERMARK_KIND = "watermark"


def watermark_record(event_ms: int) -> bytes:
    """The record value that moves a partition's event time to ``event_ms``."""
    return json.dumps({"kind": WATERMARK_KIND, "event_time": ms_to_rfc3339(event_ms)}).encode()


def topic_partitions(producer: Any, topics: Sequence[str], timeout_s: float = 30.0) -> list[tuple[str, int]]:
    """Every (topic, partition) of ``topics`` as the broker's metadata lists them; an unknown topic is an error."""
    meta = producer.list_topics(timeout=timeout_s)
    out: list[tuple[str, int]] = []
    for topic in topics:
        info = meta.topics.get(topic)
        if info is None or info.error is not None:
            raise RuntimeError(f"watermark records: topic {topic!r} not found")
        out.extend((topic, partition) for partition in sorted(info.partitions))
    return out


def produce_watermarks(producer: Any, partitions: Sequence[tuple[str, int]], event_ms: int) -> int:
    """Queue one watermark record at ``event_ms`` on every partition of ``partitions`` (not flushed); returns
    how many. A producer appends them behind the records it queued before on the same partitions."""
    value = watermark_record(event_ms)
    for topic, partition in partitions:
        while True:
            try:
                producer.produce(topic, value=value, partition=partition)
                break
            except BufferError:  # the producer's queue is full: let it deliver
                producer.poll(0.05)
    return len(partitions)


def send_watermarks(bootstrap: str, topics: Sequence[str], event_ms: int, timeout_s: float = 30.0) -> int:
    """One watermark record at ``event_ms`` to every partition of ``topics``; returns how many were sent.

    Send it after the input's last events (it is appended behind them): a watermark record ahead of events with
    earlier times makes those late.
    """
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    sent = produce_watermarks(producer, topic_partitions(producer, topics, timeout_s), event_ms)
    left = producer.flush(timeout_s)
    if left:
        raise RuntimeError(f"watermark records: {left} of {sent} not delivered within {timeout_s:g} s")
    return sent
