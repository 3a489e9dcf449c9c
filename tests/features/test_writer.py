"""The changelog writer: Kafka -> coalesce -> online + offline store, offsets committed only after a write."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from cxm.config import Settings
from features.names import GROUPS
from features.rows import FeatureRow, coalesce, random_rows
from features.writer import FeatureSink, WriterStats, write_with_retry
from features.writer_config import WriterConfig


class _FlakyOnline:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[FeatureRow] = []

    def write(self, rows: Sequence[FeatureRow]) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("store down")
        self.written.extend(rows)
        return len(rows)

    def close(self) -> None:
        pass


def test_retry_until_the_store_is_back() -> None:
    online = _FlakyOnline(failures=3)
    stats, sleeps, waits = WriterStats(), list[float](), list[int]()
    ok = write_with_retry(FeatureSink(online), [FeatureRow("a", "gps", 1, {})], WriterConfig(retry_initial_s=0.1,
                          retry_max_s=0.3), stats, lambda: False, sleep=sleeps.append,
                          on_wait=lambda: waits.append(1))
    assert ok
    assert online.written[0].customer_id == "a"
    assert stats.retries == 3
    assert sleeps == [0.1, 0.2, 0.3]
    assert len(waits) == 3
    assert stats.last_error is not None
    assert "store down" in stats.last_error


def test_stop_while_store_down_does_not_report_success() -> None:
    online = _FlakyOnline(failures=10**9)
    ok = write_with_retry(FeatureSink(online), [FeatureRow("a", "gps", 1, {})], WriterConfig(), WriterStats(),
                          should_stop=lambda: True, sleep=lambda s: None)
    assert not ok
    assert online.written == []


def test_dead_redis_raises_so_the_writer_retries() -> None:
    import socket

    import redis

    from features.online_writers import RedisOnlineWriter

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w = RedisOnlineWriter.from_connection_string(f"127.0.0.1:{port}", "p")
    with pytest.raises(redis.exceptions.ConnectionError):
        w.write([FeatureRow("a", "gps", 1, {"last_store_visit_ms": 1})])


def _produce(bootstrap: str, topic: str, rows: Sequence[FeatureRow], extra: Sequence[bytes] = ()) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for r in rows:
        p.produce(topic, key=r.key.encode(), value=r.to_json())
    for raw in extra:
        p.produce(topic, key=b"bad", value=raw)
    assert p.flush(30) == 0


def _committed(bootstrap: str, topic: str, group_id: str, partitions: int) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id})
    tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    c.close()
    return sum(max(tp.offset, 0) for tp in tps)


@pytest.mark.integration
@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_changelog_to_online_and_offline(store: str, settings: Settings, kafka_bootstrap: str,
                                         new_topic: Callable[..., str], tmp_path: Path,
                                         request: pytest.FixtureRequest) -> None:
    from features.store import FeastPaths, apply

    if store == "redis":
        request.getfixturevalue("redis_url")
    s = settings.model_copy(update={"var_dir": tmp_path / "var", "feast": settings.feast.model_copy(
        update={"online_store": store, "project": f"t_{uuid.uuid4().hex[:10]}"})})
    fs = apply(s)
    topic = new_topic("features.changelog.test", partitions=2)
    # later rows of a key supersede earlier ones (several per key and batch: coalesced)
    rows = random_rows(3000, 150, seed=21)
    _produce(kafka_bootstrap, topic, rows, extra=[b"not json", b'{"group": "nope"}'])
    group_id = f"w-{uuid.uuid4().hex[:8]}"
    cfg = WriterConfig(topic=topic, group_id=group_id, batch_max_rows=700, batch_max_ms=100)
    from features.writer import ChangelogWriter

    try:
        stats = ChangelogWriter(s, cfg).run(idle_exit_s=5.0, max_records=len(rows) + 2)
        assert stats.records == len(rows) + 2
        assert stats.bad_records == 2
        assert stats.batches >= 2
        assert _committed(kafka_bootstrap, topic, group_id, 2) == len(rows) + 2
        newest = {(r.customer_id, r.group): r for r in coalesce(rows)}
        for group in GROUPS:
            expect = [r for (_, g), r in newest.items() if g == group]
            got = fs.get_online_features([f"{group}:{n}" for n in GROUPS[group]],
                                         [{"customer_id": r.customer_id} for r in expect]).to_dict()
            for i, r in enumerate(expect):
                assert {n: got[n][i] for n in GROUPS[group]} == r.values, (group, r.customer_id)
        offline = FeastPaths.from_settings(s).offline_root
        n_offline = sum(pq.read_table(offline / g).num_rows for g in GROUPS if (offline / g).exists())
        assert len(newest) <= n_offline <= len(rows)
    finally:
        fs.teardown()


@pytest.mark.integration
def test_writer_does_not_commit_while_store_is_down(settings: Settings, kafka_bootstrap: str,
                                                    new_topic: Callable[..., str]) -> None:
    from features.writer import ChangelogWriter

    topic = new_topic("features.changelog.down", partitions=1)
    rows = random_rows(50, 10, seed=3)
    _produce(kafka_bootstrap, topic, rows)
    group_id = f"w-{uuid.uuid4().hex[:8]}"
    online = _FlakyOnline(failures=10**9)
    cfg = WriterConfig(topic=topic, group_id=group_id, retry_initial_s=0.05, retry_max_s=0.1)
    calls = {"n": 0}

    def stop_after_retries() -> bool:
        calls["n"] += 1
        return calls["n"] > 8

    w = ChangelogWriter(settings, cfg, sink=FeatureSink(online))
    stats: Any = w.run(should_stop=stop_after_retries, idle_exit_s=10)
    assert stats.retries >= 3
    assert online.written == []
    assert _committed(kafka_bootstrap, topic, group_id, 1) == 0
    online.failures = 0  # the store is back: a new writer re-reads everything and commits it
    stats = ChangelogWriter(settings, cfg, sink=FeatureSink(online)).run(idle_exit_s=3, max_records=len(rows))
    assert {(r.customer_id, r.group) for r in online.written} == {(r.customer_id, r.group) for r in rows}
    assert _committed(kafka_bootstrap, topic, group_id, 1) == len(rows)
