"""Where serialised batches go: files (JSONL wire stream + Parquet clean events) or Kafka topics.

File layout under ``out``: ``events/<kind>.jsonl`` (the wire stream, with injected faults, in stream order),
``events/<kind>.parquet`` (the clean events, typed, as simulated), and ``truth/`` (see :func:`write_truth`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simulator.engine import KindBatch, Simulation


class Sink(Protocol):
    def write(self, batch: KindBatch) -> int: ...
    def close(self) -> None: ...


def line_bytes(lines: pa.StringArray) -> memoryview:
    """The lines joined with newlines, as one buffer (no per-line Python objects)."""
    joined = pc.binary_join_element_wise(lines, "\n", "")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)
    start, end = int(offsets[joined.offset]), int(offsets[joined.offset + len(joined)])
    return memoryview(joined.buffers()[2])[start:end]


class FileSink:
    """JSONL and Parquet files, one of each per kind."""

    def __init__(self, out: Path, parquet: bool = True) -> None:
        self.dir = Path(out) / "events"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.parquet = parquet
        self._jsonl: dict[str, Any] = {}
        self._pq: dict[str, pq.ParquetWriter] = {}

    def write(self, batch: KindBatch) -> int:
        k = batch.kind
        if k not in self._jsonl:
            self._jsonl[k] = (self.dir / f"{k}.jsonl").open("wb")
        self._jsonl[k].write(line_bytes(batch.wire.lines))
        if self.parquet:
            if k not in self._pq:
                self._pq[k] = pq.ParquetWriter(
                    self.dir / f"{k}.parquet", batch.table.schema, compression="zstd"
                )
            self._pq[k].write_table(batch.table)
        return len(batch.wire.lines)

    def close(self) -> None:
        for f in self._jsonl.values():
            f.close()
        for w in self._pq.values():
            w.close()


class KafkaSink:
    """Produce every wire line to ``topic_of(kind)`` with the customer id as key (batched, lz4).

    ``mark_topics``: after every flush of the run loop (:meth:`mark`), one watermark record
    (:mod:`events.watermark`) to every partition of these topics, behind the flush's events, at the time up to
    which the simulator has written its input. Without it, a rare kind's rows wait for the next event on each of
    the kind's partitions (or the source's idle timeout) before the feature job's watermark passes them.
    """

    def __init__(self, producer: Any, topic_of: Any, poll_every: int = 20_000,
                 mark_topics: Sequence[str] = ()) -> None:
        self.producer = producer
        self.topic_of = topic_of
        self.poll_every = poll_every
        self.mark_topics = list(mark_topics)
        self._partitions: list[tuple[str, int]] | None = None

    def write(self, batch: KindBatch) -> int:
        topic = self.topic_of(batch.kind)
        produce, poll = self.producer.produce, self.producer.poll
        values = batch.wire.lines.to_pylist()
        keys = batch.wire.keys.to_pylist()
        for i, (v, key) in enumerate(zip(values, keys, strict=True)):
            while True:
                try:
                    produce(topic, v, key)
                    break
                except BufferError:
                    poll(0.05)
            if i % self.poll_every == 0:
                poll(0)
        return len(values)

    def mark(self, event_ms: int) -> int:
        """Every event before ``event_ms`` is written: tell each partition of ``mark_topics`` (returns how many
        watermark records were queued; 0 without ``mark_topics``)."""
        if not self.mark_topics:
            return 0
        from events.watermark import produce_watermarks, topic_partitions

        if self._partitions is None:
            self._partitions = topic_partitions(self.producer, self.mark_topics)
        return produce_watermarks(self.producer, self._partitions, event_ms)

    def close(self) -> None:
        self.producer.flush(60)


def kafka_producer(bootstrap: str, **overrides: Any) -> Any:
    """A confluent-kafka producer tuned for throughput (linger, big batches, lz4)."""
    from confluent_kafka import Producer

    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 50,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 2_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "acks": 1,
        "enable.idempotence": False,
        **overrides,
    }
    return Producer(conf)


def write_truth(sim: Simulation, out: Path) -> Path:
    """Ground truth Parquet files: ``stages`` (true stage changes), ``customers`` (churn time, traits),
    ``faults`` (every injected wire fault)."""
    d = Path(out) / "truth"
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(sim.stage_changes(), d / "stages.parquet", compression="zstd")
    pq.write_table(sim.churn_truth(), d / "customers.parquet", compression="zstd")
    pq.write_table(sim.faults_table(), d / "faults.parquet", compression="zstd")
    return d
