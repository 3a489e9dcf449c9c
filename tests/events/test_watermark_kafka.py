"""Watermark records on the real broker: one per partition of every topic, behind what is already there."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from events.watermark import WATERMARK_KIND, send_watermarks


def _partition_values(bootstrap: str, topic: str, partitions: int) -> dict[int, list[bytes]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"wm-{topic}", "enable.auto.commit": False})
    out: dict[int, list[bytes]] = {}
    try:
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            c.assign([TopicPartition(topic, p, lo)])
            got: list[bytes] = []
            while len(got) < hi - lo:
                msgs = c.consume(hi - lo - len(got), timeout=10)
                if not msgs:
                    break
                got += [m.value() or b"" for m in msgs if m.error() is None]
            out[p] = got
    finally:
        c.close()
    return out


def test_one_record_per_partition_after_the_events(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    a, b = new_topic("test.wm", partitions=3), new_topic("test.wm", partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for p in range(3):
        producer.produce(a, value=b'{"event": %d}' % p, partition=p)
    assert producer.flush(30) == 0
    assert send_watermarks(kafka_bootstrap, [a, b], 1_795_000_000_000) == 4
    values = _partition_values(kafka_bootstrap, a, 3)
    for p in range(3):
        assert [json.loads(v) for v in values[p]] == [
            {"event": p}, {"kind": WATERMARK_KIND, "event_time": "2026-11-18T11:06:40.000Z"}]
    assert len(_partition_values(kafka_bootstrap, b, 1)[0]) == 1
    with pytest.raises(RuntimeError, match="not found"):
        send_watermarks(kafka_bootstrap, ["test.wm.no-such-topic"], 0)
