"""Benchmark of the streaming feature job: events/s at parallelism 1 and 2, state bytes per customer.

Events are simulated once into fresh topics (``bench.features.<kind>.<id>``, 2 partitions), then the job reads
them with a bounded source (``scan.bounded.mode = latest-offset``). The events are all in Kafka before the job
starts. Three rates, from the broker timestamps of the records the job wrote to the changelog:

- ``features_events_per_s_pN`` (sustained): over the second half of the changelog records, converted to events
  with the run's events-per-row ratio: the steady state, once the JIT compiler has compiled the job's
  generated code (planning and JIT cost ~40 CPU-s per start here, on 2 cores);
- ``features_events_per_s_span_pN``: events / the span from the first to the last changelog record;
- ``features_events_per_s_net_runtime_pN``: events / Flink's net runtime (start-up included).

``features_late_pN`` must be 0 (the simulated input has no late events): a replay that declares events late
is wrong, however fast. State size = the largest completed checkpoint (hashmap backend: full snapshots) / customers.

    .venv/bin/python -m bench.bench_features [--customers 20000] [--days 7]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import write_result
from cxm.config import EVENT_KINDS, Settings, TopicSpec, load_settings


def dir_size(path: Path) -> int:
    """Bytes of all files below ``path`` (0 when missing).

    >>> dir_size(Path("/nonexistent-dir"))
    0
    """
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class CheckpointWatcher(threading.Thread):
    """Polls a checkpoint directory and remembers the largest completed checkpoint (``chk-*`` with _metadata)."""

    def __init__(self, root: Path, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.every_s = root, every_s
        self.max_bytes = 0
        self.count = 0
        self._halt = threading.Event()

    def run(self) -> None:
        seen: set[Path] = set()
        while not self._halt.is_set():
            for chk in self.root.glob("*/chk-*"):
                if (chk / "_metadata").exists() and chk not in seen:
                    seen.add(chk)
                    self.count += 1
                    # shared state files live next to chk-* (shared/, taskowned/) for incremental backends
                    self.max_bytes = max(self.max_bytes, dir_size(chk))
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def load_events(settings: Settings, customers: int, days: float, seed: int) -> tuple[dict[str, str], int]:
    """Simulate into fresh 2-partition topics; returns the topics by kind and the number of events."""
    from infra.topics import ensure_topics
    from simulator.config import SimConfig
    from simulator.engine import Simulation
    from simulator.run import run
    from simulator.sinks import KafkaSink, kafka_producer

    run_id = uuid.uuid4().hex[:8]
    topics = {k: f"bench.features.{k}.{run_id}" for k in EVENT_KINDS}
    ensure_topics(settings.kafka.bootstrap,
                  [TopicSpec(name=t, partitions=2, retention_ms=3_600_000) for t in topics.values()])
    sim = Simulation(SimConfig(customers=customers, days=days, seed=seed))
    summary = run(sim, KafkaSink(kafka_producer(settings.kafka.bootstrap), topics.__getitem__))
    return topics, summary.events


def run_once(settings: Settings, topics: dict[str, str], parallelism: int, out_dir: Path) -> dict[str, Any]:
    """One bounded run of the job; returns net runtime (s), checkpoint bytes and changelog topic."""
    from infra.topics import ensure_topics
    from pipelines.feature_job import Topics, run_feature_job
    from pipelines.flink_env import FeatureJobConfig

    run_id = uuid.uuid4().hex[:8]
    outs = {n: f"bench.features.out.{n}.{run_id}" for n in ("deadletter", "late", "changelog")}
    ensure_topics(settings.kafka.bootstrap,
                  [TopicSpec(name=t, partitions=2, retention_ms=3_600_000) for t in outs.values()])
    ckpt = out_dir / f"ckpt-p{parallelism}-{run_id}"
    s = settings.model_copy(update={"flink": settings.flink.model_copy(
        update={"parallelism": parallelism})})
    job = FeatureJobConfig(checkpoint_dir=ckpt, restart_attempts=0, group_id=f"bench-{run_id}")
    watcher = CheckpointWatcher(ckpt)
    watcher.start()
    t0 = time.perf_counter()
    result = run_feature_job(s, bounded=True, job=job,
                             topics=Topics(topics, outs["deadletter"], outs["late"], outs["changelog"]))
    jr = result.get_job_client().get_job_execution_result().result()
    wall = time.perf_counter() - t0
    watcher.stop()
    stamps = output_stamps(settings.kafka.bootstrap, outs["changelog"])
    first, last, rows = (min(stamps), max(stamps), len(stamps)) if stamps else (0, 0, 0)
    late = output_span(settings.kafka.bootstrap, outs["late"], idle_s=6.0)[2]
    dead = output_span(settings.kafka.bootstrap, outs["deadletter"], idle_s=6.0)[2]
    return {"net_runtime_s": jr.get_net_runtime() / 1000.0, "wall_s": wall, "checkpoint_bytes": watcher.max_bytes,
            "checkpoints": watcher.count, "output_span_s": (last - first) / 1000.0, "changelog_rows": rows,
            "steady_rows_per_s": steady_rate(stamps),
            "late": late, "dead_lettered": dead}


def steady_rate(stamps: list[int], share: float = 0.5) -> float:
    """Records per second over the last ``share`` of the records (by broker timestamp): the steady state, after
    the JIT compiler has warmed up the job's generated code.

    >>> steady_rate([0, 1000, 2000, 3000, 4000])
    1.0
    """
    if len(stamps) < 4:
        return 0.0
    ordered = sorted(stamps)
    start = ordered[int(len(ordered) * (1.0 - share))]
    n = sum(1 for t in ordered if t > start)
    return n / max((ordered[-1] - start) / 1000.0, 1e-3)


def output_stamps(bootstrap: str, topic: str, idle_s: float = 3.0) -> list[int]:
    """The broker timestamps (ms) of a topic's records, read to the end."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-span-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out: list[int] = []
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < idle_s:
            msgs = c.consume(10_000, timeout=0.5)
            if not msgs:
                continue
            idle_since = time.monotonic()
            out.extend(m.timestamp()[1] for m in msgs if m.error() is None)
    finally:
        c.close()
    return out


def output_span(bootstrap: str, topic: str, idle_s: float = 3.0) -> tuple[int, int, int]:
    """(first, last) broker timestamps (ms) of a topic's records and their count, read to the end."""
    stamps = output_stamps(bootstrap, topic, idle_s)
    return (min(stamps), max(stamps), len(stamps)) if stamps else (0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=40_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    settings = load_settings()
    t0 = time.perf_counter()
    topics, n_events = load_events(settings, args.customers, args.days, args.seed)
    print(f"loaded {n_events:,} events in {time.perf_counter() - t0:.1f} s")
    metrics: dict[str, float] = {}
    notes: dict[str, Any] = {"events": n_events, "customers": args.customers, "days": args.days}
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        for p in args.parallelism:
            r = run_once(settings, topics, p, Path(tmp))
            span_eps = n_events / max(r["output_span_s"], 1e-3)
            eps = r["steady_rows_per_s"] * n_events / max(r["changelog_rows"], 1)
            print(f"parallelism {p}: {r} -> {eps:,.0f} events/s")
            metrics[f"features_events_per_s_p{p}"] = round(eps)
            metrics[f"features_events_per_s_span_p{p}"] = round(span_eps)
            metrics[f"features_events_per_s_net_runtime_p{p}"] = round(n_events / r["net_runtime_s"])
            metrics[f"features_late_p{p}"] = r["late"]
            notes[f"p{p}"] = r
            if r["checkpoint_bytes"]:
                metrics["state_bytes_per_customer"] = round(r["checkpoint_bytes"] / args.customers, 1)
    metrics["features_events_per_s"] = max(v for k, v in metrics.items() if k.startswith("features_events_per_s_p"))
    write_result("features", metrics, notes)
    print(metrics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
