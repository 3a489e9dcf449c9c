"""The fast write path: ``features.changelog`` (Kafka) -> coalesce -> batch -> Feast online + offline store.

One :class:`ChangelogWriter` per process; several processes in the same consumer group share the topic's
partitions (a key ``customer_id|group`` always lives in one partition, so one writer owns it).

Per batch (bounded by ``batch_max_rows`` and ``batch_max_ms``): parse records (unwritable ones are logged,
counted and skipped), keep the newest row per (customer, group) and write them to the online store through
:mod:`features.online_writers` (Feast's format, no per-value protobuf objects). The offline Parquet store gets
the same rows, buffered: one part per group every ``offline_flush_ms`` (or ``offline_max_rows``), so the store
holds a few large parts instead of one small part per group and batch. Offsets are committed only once both
stores have a record's rows (at-least-once; online writes are idempotent upserts, replayed offline rows are
exact duplicates). When a store is down the write is retried with exponential backoff while the partitions
are paused (the consumer keeps its group membership); offsets are not committed and nothing is dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cxm.config import Settings
from features.offline_writer import ParquetAppender
from features.online_writers import OnlineWriter, RedisOnlineWriter, SqliteOnlineWriter
from features.rows import BadRow, FeatureRow, coalesce, parse_row
from features.store import FeastPaths
from features.writer_config import WriterConfig

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    records: int = 0
    bad_records: int = 0
    rows_written: int = 0
    batches: int = 0
    retries: int = 0
    last_error: str | None = None
    write_s: float = 0.0
    offline_flushes: int = 0
    offline_rows: int = 0


@dataclass
class FeatureSink:
    """Online writer plus optional offline appender: ``write`` stores a coalesced batch online and buffers it for
    the offline store; ``flush`` writes the buffer as Parquet parts (``flush_due`` says when).

    >>> import tempfile
    >>> class Mem:
    ...     def write(self, rows): return len(rows)
    ...     def close(self): pass
    >>> now = [0]
    >>> sink = FeatureSink(Mem(), ParquetAppender(tempfile.mkdtemp()), wall_ms=lambda: now[0], offline_flush_ms=1000)
    >>> sink.write([FeatureRow("c1", "gps", 5, {"last_store_visit_ms": 5})]), sink.buffered, sink.flush_due()
    (1, 1, False)
    >>> now[0] = 1000
    >>> sink.flush_due(), sink.flush(), sink.buffered
    (True, 1, 0)

    ``close`` writes what is still buffered (a batch load that never waits for ``flush_due`` loses nothing):

    >>> _ = sink.write([FeatureRow("c2", "gps", 6, {"last_store_visit_ms": 6})])
    >>> sink.close(); sink.buffered
    0
    """

    online: OnlineWriter
    offline: ParquetAppender | None = None
    wall_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    offline_flush_ms: int = 0
    _buffer: list[FeatureRow] = field(default_factory=list, init=False, repr=False)
    _since_ms: int = field(default=0, init=False, repr=False)

    @property
    def buffered(self) -> int:
        """Rows written online and not yet offline."""
        return len(self._buffer)

    def write(self, rows: Sequence[FeatureRow]) -> int:
        n = self.online.write(rows)
        if self.offline is not None and rows:
            if not self._buffer:
                self._since_ms = self.wall_ms()
            self._buffer.extend(rows)
        return n

    def flush_due(self) -> bool:
        return bool(self._buffer) and self.wall_ms() - self._since_ms >= self.offline_flush_ms

    def flush(self) -> int:
        """Write the buffered rows to the offline store (a part per group); the buffer is kept if that fails."""
        if self.offline is None or not self._buffer:
            return 0
        self.offline.append(self._buffer, now_ms=self.wall_ms())
        n, self._buffer = len(self._buffer), []
        return n

    def close(self) -> None:
        """Write what is still buffered offline, then close the online store."""
        try:
            self.flush()
        finally:
            self.online.close()


def make_sink(settings: Settings, config: WriterConfig | None = None) -> FeatureSink:
    """The sink for ``settings.feast.online_store`` (the Feast registry must have been applied)."""
    cfg = config or WriterConfig()
    online: OnlineWriter
    if settings.feast.online_store == "redis":
        online = RedisOnlineWriter.from_connection_string(settings.redis.connection_string,
                                                          settings.feast.project, skip_older=cfg.skip_older)
    else:
        online = SqliteOnlineWriter(FeastPaths.from_settings(settings).sqlite_online, settings.feast.project)
    paths = FeastPaths.from_settings(settings)
    return FeatureSink(online, ParquetAppender(paths.offline_root) if cfg.offline else None,
                       offline_flush_ms=cfg.offline_flush_ms)


def retry(action: Callable[[], int], what: str, config: WriterConfig, stats: WriterStats,
          should_stop: Callable[[], bool], sleep: Callable[[float], None] = time.sleep,
          on_wait: Callable[[], None] = lambda: None) -> int | None:
    """``action()`` until it succeeds (its result) or ``should_stop()`` while retrying (None: do not commit)."""
    delay = config.retry_initial_s
    attempt = 0
    while True:
        attempt += 1
        try:
            n = action()
            if attempt > 1:
                log.warning("%s recovered after %d attempts", what, attempt)
            return n
        except Exception as exc:
            stats.retries += 1
            stats.last_error = f"{type(exc).__name__}: {exc}"
            log.error("%s failed (attempt %d), retrying in %.1f s; offsets NOT committed: %s",
                      what, attempt, delay, stats.last_error)
            if should_stop():
                return None
            on_wait()
            sleep(delay)
            delay = min(delay * 2, config.retry_max_s)


def write_with_retry(sink: FeatureSink, rows: Sequence[FeatureRow], config: WriterConfig,
                     stats: WriterStats, should_stop: Callable[[], bool],
                     sleep: Callable[[float], None] = time.sleep,
                     on_wait: Callable[[], None] = lambda: None) -> bool:
    """Write until it succeeds (True) or ``should_stop()`` while retrying (False: do not commit)."""
    n = retry(lambda: sink.write(rows), f"feature write of {len(rows)} rows", config, stats, should_stop,
              sleep, on_wait)
    if n is None:
        return False
    stats.rows_written += n
    return True


class ChangelogWriter:
    """Consumes the changelog topic and writes it to Feast; see the module docstring."""

    def __init__(self, settings: Settings, config: WriterConfig | None = None,
                 sink: FeatureSink | None = None, consumer: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.config = config or WriterConfig()
        self.sink = sink or make_sink(settings, self.config)
        self.topic = self.config.topic or settings.topics.features
        self.consumer = consumer or self._consumer()
        self.clock = clock
        self.stats = WriterStats()
        #: the next offset to commit per (topic, partition): records written online, maybe not yet offline
        self._pending: dict[tuple[str, int], int] = {}

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer

        c = Consumer({
            "bootstrap.servers": self.settings.kafka.bootstrap,
            "group.id": self.config.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": self.config.auto_offset_reset,
            "max.poll.interval.ms": self.config.max_poll_interval_ms,
            "fetch.wait.max.ms": 50,
        })
        c.subscribe([self.topic])
        return c

    def poll_batch(self) -> list[Any]:
        """Records until ``batch_max_rows`` or ``batch_max_ms`` after the first one (empty when idle)."""
        cfg = self.config
        msgs: list[Any] = []
        deadline: float | None = None
        while len(msgs) < cfg.batch_max_rows:
            timeout = 0.1 if deadline is None else max(0.0, deadline - self.clock())
            want = min(cfg.poll_max_messages, cfg.batch_max_rows - len(msgs))
            got = self.consumer.consume(num_messages=want, timeout=timeout)
            for m in got:
                if m.error():
                    log.warning("kafka: %s", m.error())
                    continue
                msgs.append(m)
            if deadline is None:
                if not msgs:
                    return msgs
                deadline = self.clock() + cfg.batch_max_ms / 1000
            elif self.clock() >= deadline:
                break
        return msgs

    def parse(self, msgs: Sequence[Any]) -> list[FeatureRow]:
        """Parse and coalesce; unwritable records are logged, counted, skipped (committed with the batch)."""
        rows: list[FeatureRow] = []
        for m in msgs:
            try:
                rows.append(parse_row(m.value()))
            except BadRow as exc:
                self.stats.bad_records += 1
                log.error("skipping unwritable changelog record %s[%d]@%d: %s",
                          m.topic(), m.partition(), m.offset(), exc)
        self.stats.records += len(msgs)
        return coalesce(rows)

    def _commit(self) -> None:
        """Commit the pending offsets (records both stores have)."""
        from confluent_kafka import KafkaException, TopicPartition

        if not self._pending:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items()]
        self._pending = {}
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # e.g. the partitions moved to another writer: it re-reads and rewrites them
            log.warning("offset commit failed, the records will be written again: %s", exc)

    def _keep_alive(self) -> Callable[[], None]:
        assignment = self.consumer.assignment()

        def keep_alive() -> None:  # paused partitions + poll keep the group membership during retries
            self.consumer.pause(assignment)
            self.consumer.poll(0)

        return keep_alive

    def flush(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Write the buffered offline rows (with retry), then commit; False when stopped while retrying."""
        if self.sink.buffered:
            n = self.sink.buffered
            done = retry(self.sink.flush, f"offline write of {n} rows", self.config, self.stats, should_stop,
                         on_wait=self._keep_alive())
            if self.stats.retries:
                self.consumer.resume(self.consumer.assignment())
            if done is None:
                return False
            self.stats.offline_flushes += 1
            self.stats.offline_rows += done
        self._commit()
        return True

    def step(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """One batch: poll, write online (with retry), buffer offline; commit when both stores have the records
        (at once without an offline store). Returns the number of records handled."""
        msgs = self.poll_batch()
        if msgs:
            rows = self.parse(msgs)
            t0 = time.perf_counter()
            ok = write_with_retry(self.sink, rows, self.config, self.stats, should_stop,
                                  on_wait=self._keep_alive())
            if self.stats.retries:
                self.consumer.resume(self.consumer.assignment())
            self.stats.write_s += time.perf_counter() - t0
            if not ok:
                return 0
            for m in msgs:
                k = (m.topic(), m.partition())
                self._pending[k] = max(self._pending.get(k, 0), m.offset() + 1)
            self.stats.batches += 1
        if self.sink.flush_due() or self.sink.buffered >= self.config.offline_max_rows or not self.sink.buffered:
            self.flush(should_stop)
        return len(msgs)

    def run(self, should_stop: Callable[[], bool] = lambda: False, max_records: int | None = None,
            idle_exit_s: float | None = None) -> WriterStats:
        """Loop until ``should_stop()``, ``max_records`` handled or ``idle_exit_s`` without records."""
        idle_since = self.clock()
        try:
            while not should_stop():
                n = self.step(should_stop)
                now = self.clock()
                if n:
                    idle_since = now
                elif idle_exit_s is not None and now - idle_since >= idle_exit_s:
                    break
                if max_records is not None and self.stats.records >= max_records:
                    break
        finally:
            self.close()
        return self.stats

    def close(self) -> None:
        """Write what is buffered and commit it (best effort: what fails here is written again after a restart)."""
        try:
            self.flush(should_stop=lambda: True)
        finally:
            self.consumer.close()
            self.sink.close()


def _run_one(settings: Settings, config: WriterConfig, idle_exit_s: float | None) -> dict[str, Any]:
    from cxm.heap import freeze_startup_heap

    logging.basicConfig(level=logging.INFO)
    freeze_startup_heap()  # a writer process: its imports stay out of the collector's full scans
    return vars(ChangelogWriter(settings, config).run(idle_exit_s=idle_exit_s))


def run_writers(settings: Settings, config: WriterConfig, processes: int = 1,
                idle_exit_s: float | None = None) -> list[dict[str, Any]]:
    """Run ``processes`` writers in one consumer group (they split the partitions); returns their stats."""
    if processes == 1:  # this process is the writer
        return [_run_one(settings, config, idle_exit_s)]
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        args = [(settings, config, idle_exit_s)] * processes
        return pool.starmap(_run_one, args)
