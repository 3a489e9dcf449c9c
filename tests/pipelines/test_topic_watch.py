"""topic_watch against the real broker: counts, a group's lag, and when settle() lets a run end."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from pipelines.topic_watch import group_lag, settle, topic_count

pytestmark = pytest.mark.integration


def _produce(bootstrap: str, topic: str, n: int, partition: int = 0) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        p.produce(topic, value=f"m{i}".encode(), partition=partition)
    assert p.flush(30) == 0


def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    c.close()


def test_counts_and_lag(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    topic = new_topic("watch", partitions=2)
    _produce(kafka_bootstrap, topic, 5, partition=0)
    _produce(kafka_bootstrap, topic, 3, partition=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    assert topic_count(kafka_bootstrap, topic) == 8
    assert group_lag(kafka_bootstrap, group, topic) == 8  # nothing committed: all of it
    _commit(kafka_bootstrap, group, topic, {0: 4})
    assert group_lag(kafka_bootstrap, group, topic) == 1 + 3
    _commit(kafka_bootstrap, group, topic, {0: 5, 1: 3})
    assert group_lag(kafka_bootstrap, group, topic) == 0
    assert topic_count(kafka_bootstrap, f"no-such-{uuid.uuid4().hex[:6]}") == 0


def test_settle_waits_for_the_lag_and_for_quiet_topics(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    decisions, changelog = new_topic("watch-d"), new_topic("watch-c")
    _produce(kafka_bootstrap, changelog, 4)
    _produce(kafka_bootstrap, decisions, 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    # the counts stand still but the group never catches up: settle gives up and says so
    t0 = time.monotonic()
    out = settle(kafka_bootstrap, decisions, changelog, group, settle_s=1.0, lag_wait_s=1.0, poll_s=0.2)
    assert out.timed_out
    assert (out.lag, out.decisions, out.changelog) == (4, 2, 4)
    assert time.monotonic() - t0 >= 2.0

    # a late changelog row and the group's commit come while settle waits: it ends after both, quiet for 1.5 s
    def later() -> None:
        time.sleep(1.0)
        _produce(kafka_bootstrap, changelog, 1)
        time.sleep(1.0)
        _commit(kafka_bootstrap, group, changelog, {0: 5})

    worker = threading.Thread(target=later)
    t0 = time.monotonic()
    worker.start()
    out = settle(kafka_bootstrap, decisions, changelog, group, settle_s=1.5, lag_wait_s=30.0, poll_s=0.2)
    worker.join()
    assert not out.timed_out
    assert (out.lag, out.changelog) == (0, 5)
    # quiet for 1.5 s after the commit (~2 s in), less one poll: the last poll that saw the lag may precede it;
    # not watching the lag would have ended 1.5 s after the late row (~2.5 s in)
    assert time.monotonic() - t0 >= 2.0 + 1.5 - 0.5


def test_settle_raises_what_check_raises(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    topic = new_topic("watch-x")

    def dead() -> None:
        raise RuntimeError("feature job exited")

    with pytest.raises(RuntimeError, match="feature job exited"):
        settle(kafka_bootstrap, topic, topic, None, settle_s=1.0, lag_wait_s=1.0, check=dead)
