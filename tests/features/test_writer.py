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


class _Msg:
    def __init__(self, row: FeatureRow, offset: int) -> None:
        self.row, self._offset = row, offset

    def value(self) -> bytes:
        return self.row.to_json()

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class _Consumer:
    """The part of confluent_kafka.Consumer the writer uses: hands out the messages once, records commits."""

    def __init__(self, rows: Sequence[FeatureRow]) -> None:
        self.msgs = [_Msg(r, i) for i, r in enumerate(rows)]
        self.commits: list[int] = []

    def consume(self, num_messages: int, timeout: float) -> list[_Msg]:
        out, self.msgs = self.msgs[:num_messages], self.msgs[num_messages:]
        return out

    def commit(self, offsets: Any, asynchronous: bool) -> None:
        self.commits.extend(tp.offset for tp in offsets)

    def assignment(self) -> list[Any]:
        return []

    def pause(self, partitions: Any) -> None:
        pass

    def resume(self, partitions: Any) -> None:
        pass

    def poll(self, timeout: float) -> None:
        return None

    def close(self) -> None:
        pass


class _Online(_FlakyOnline):
    def __init__(self) -> None:
        super().__init__(failures=0)


def test_offline_rows_are_buffered_and_offsets_wait_for_them(settings: Settings, tmp_path: Path) -> None:
    from features.offline_writer import ParquetAppender
    from features.writer import ChangelogWriter

    now = {"ms": 0}
    rows = random_rows(40, 5, seed=8)
    online = _Online()
    sink = FeatureSink(online, ParquetAppender(tmp_path), wall_ms=lambda: now["ms"], offline_flush_ms=1000)
    consumer = _Consumer(rows)
    w = ChangelogWriter(settings, WriterConfig(batch_max_rows=15, batch_max_ms=1), sink=sink, consumer=consumer)
    assert w.step() == 15
    assert w.step() == 15
    # online at once, offline buffered: nothing committed, no part yet
    assert len(online.written) == sink.buffered > 0
    assert consumer.commits == []
    assert not list(tmp_path.rglob("*.parquet"))
    now["ms"] = 1000
    assert w.step() == 10  # the rest; the first rows are now due
    parts = list(tmp_path.rglob("*.parquet"))
    assert consumer.commits == [len(rows)]  # the next offset to read, once every row is in both stores
    assert sink.buffered == 0
    assert w.stats.offline_flushes == 1
    assert len(parts) == len({r.group for r in online.written})  # one part per group for the whole flush
    assert sum(pq.read_table(p).num_rows for p in parts) == len(online.written)


def test_a_failed_offline_write_is_retried_and_not_committed(settings: Settings, tmp_path: Path) -> None:
    from features.writer import ChangelogWriter

    class _FlakyOffline:
        def __init__(self) -> None:
            self.failures, self.rows = 2, 0

        def append(self, rows: Sequence[FeatureRow], now_ms: int) -> list[Path]:
            if self.failures:
                self.failures -= 1
                raise OSError("disk full")
            self.rows += len(rows)
            return []

    offline = _FlakyOffline()
    sink = FeatureSink(_Online(), offline, wall_ms=lambda: 0, offline_flush_ms=0)  # type: ignore[arg-type]
    consumer = _Consumer(random_rows(10, 3, seed=2))
    w = ChangelogWriter(settings, WriterConfig(retry_initial_s=0.01, retry_max_s=0.01), sink=sink,
                        consumer=consumer)
    # stopped while the offline store is down: the rows stay buffered, nothing is committed
    w.step(should_stop=lambda: True)
    assert consumer.commits == []
    assert sink.buffered > 0
    w.step()  # retried until the store is back
    assert consumer.commits == [10]
    assert offline.rows > 0
    assert sink.buffered == 0


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
        # the offline rows went out in few flushes (one part per group each), not one part per batch
        assert 1 <= stats.offline_flushes < stats.batches
        for g in GROUPS:
            parts = [p for p in (offline / g).glob("part-*.parquet") if "sentinel" not in p.name]
            assert len(parts) <= stats.offline_flushes, g
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
