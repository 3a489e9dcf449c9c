"""Progress of a run as Kafka shows it: message counts, a consumer group's lag, and when a bounded run is done.

A bounded run (``make run``, ``bench_e2e``) ends when the jobs have nothing left to do. Watching the decisions topic
alone is not enough: a few rows the feature job emits late (a partition declared idle lets the watermark pass the
last events of its kind) or a decision job paused for longer than the settle time (a checkpoint or a collector
pause on a loaded machine) left changelog rows undecided when the run was stopped. :func:`settle` waits until the
changelog and the decisions both stopped growing for ``settle_s``, the feature job's consumer group has
committed (on a checkpoint) every event offset and the decision job's every changelog offset.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def _consumer(bootstrap: str) -> Any:
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4().hex[:6]}",
                     "enable.auto.commit": False})


def _retrying(fn: Callable[[], int], attempts: int) -> int:
    from confluent_kafka import KafkaException

    for attempt in range(attempts):
        try:
            return fn()
        except KafkaException as exc:
            if attempt == attempts - 1 or not exc.args[0].retriable():
                raise
            time.sleep(1.0)
    return 0


def topic_count(bootstrap: str, topic: str, attempts: int = 5) -> int:
    """Messages currently in a topic (sum of high watermarks minus low watermarks).

    Retriable broker errors (a partition of a topic created a moment ago has no leader yet:
    ``NOT_LEADER_FOR_PARTITION``) are retried ``attempts`` times, a second apart; other errors raise.
    """
    from confluent_kafka import TopicPartition

    c = _consumer(bootstrap)

    def count() -> int:
        meta = c.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None:
            return 0
        total = 0
        for p in meta.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += hi - lo
        return total

    try:
        return _retrying(count, attempts)
    finally:
        c.close()


def group_lag(bootstrap: str, group: str, topics: str | Sequence[str], attempts: int = 5) -> int:
    """Messages of ``topics`` (one name or several) past ``group``'s committed offsets (a partition without a
    commit counts whole), read through one consumer.

    Flink's Kafka source commits its offsets when a checkpoint completes, so for a Flink job this is what a
    restart from its latest checkpoint would read again.
    """
    from confluent_kafka import Consumer, TopicPartition

    names = [topics] if isinstance(topics, str) else list(topics)
    # the group's own consumer reads its commits and never joins the group (no subscribe): nothing is rebalanced
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})

    def lag() -> int:
        meta = c.list_topics(timeout=10).topics
        parts = [TopicPartition(t, p) for t in names if t in meta for p in meta[t].partitions]
        if not parts:
            return 0
        total = 0
        for tp in c.committed(parts, timeout=10):
            lo, hi = c.get_watermark_offsets(tp, timeout=10)
            total += hi - max(lo, tp.offset) if tp.offset >= 0 else hi - lo
        return total

    try:
        return _retrying(lag, attempts)
    finally:
        c.close()


@dataclass
class Settled:
    """What :func:`settle` saw last: the counts, the decision group's lag, and whether it gave up waiting."""

    decisions: int
    changelog: int
    lag: int
    timed_out: bool


def settle(bootstrap: str, decisions: str, changelog: str, group: str | None, settle_s: float, lag_wait_s: float,
           check: Callable[[], None] = lambda: None, poll_s: float = 1.0,
           upstream: tuple[str, Sequence[str]] | None = None) -> Settled:
    """Wait until the run is quiet for ``settle_s``: ``decisions`` and ``changelog`` do not grow, ``group`` (the
    decision job's consumer group; None: not watched) has no lag on ``changelog`` and ``upstream`` (the feature
    job's group and its event topics; None: not watched) has none on those topics. When the counts stopped
    growing but a lag stays above 0 for ``settle_s + lag_wait_s`` (a job stopped checkpointing), give up
    (``timed_out``). ``check`` runs every poll (it raises when a job died).

    The feature job commits its event offsets when a checkpoint completes, and its sources emitted their
    watermarks before that checkpoint's barrier, so once it has committed every event offset (watermark records
    at the end of the input included) every changelog row of the input is in Kafka. A feature job that stalled
    for longer than ``settle_s`` (its checkpoint or a collector pause on a slow machine) otherwise emitted its
    last rows after the decision job had been stopped (3 rows of 1,971 in a pre-loaded test run).
    """
    last: tuple[int, int] = (-1, -1)
    last_change = quiet_since = time.monotonic()
    lag = -1
    while True:
        check()
        counts = (topic_count(bootstrap, decisions), topic_count(bootstrap, changelog))
        now = time.monotonic()
        if counts != last:
            last, last_change, quiet_since = counts, now, now
        else:  # the lag is only asked for while the counts stand still
            lag = group_lag(bootstrap, group, changelog) if group is not None else 0
            if lag == 0 and upstream is not None:
                lag = group_lag(bootstrap, *upstream)
            if lag > 0:
                quiet_since = now
        if now - quiet_since >= settle_s:
            return Settled(last[0], last[1], 0, timed_out=False)
        if now - last_change >= settle_s + lag_wait_s:
            return Settled(last[0], last[1], lag, timed_out=True)
        time.sleep(poll_s)
