"""Simulator throughput: events/s to files (JSONL + Parquet) and into the local Kafka broker.

Bounded: 20k customers x 7 simulated days (about 0.8 M events) per target. Needs the broker for the Kafka
part (skipped with a note when it is not reachable).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench.common import write_result
from cxm.config import load_settings
from simulator.config import SimConfig
from simulator.engine import Simulation
from simulator.run import run
from simulator.sinks import FileSink, KafkaSink, kafka_producer

CUSTOMERS, DAYS = 20_000, 7


def _file() -> tuple[float, int]:
    out = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    try:
        s = run(Simulation(SimConfig(customers=CUSTOMERS, days=DAYS, seed=1)), FileSink(out))
        return s.events_per_s, s.events
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _kafka(bootstrap: str) -> tuple[float, int]:
    from confluent_kafka.admin import AdminClient, NewTopic

    prefix = f"bench.sim.{int(time.time())}."
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [
        f"{prefix}{k}"
        for k in ("clickstream", "call", "complaint", "gps", "purchase", "response", "outcome", "consent", "profile")
    ]
    for f in admin.create_topics([NewTopic(t, 2, 1) for t in topics]).values():
        f.result(30)
    try:
        sink = KafkaSink(kafka_producer(bootstrap), lambda kind: f"{prefix}{kind}")
        s = run(Simulation(SimConfig(customers=CUSTOMERS, days=DAYS, seed=1)), sink)  # includes final flush
        return s.events_per_s, s.events
    finally:
        for f in admin.delete_topics(topics).values():
            try:
                f.result(30)
            except Exception:
                pass


def main() -> None:
    settings = load_settings()
    eps_file, n_file = _file()
    notes: dict[str, object] = {"customers": CUSTOMERS, "days": DAYS, "events_file": n_file}
    metrics = {"simulator_events_per_s_file": round(eps_file, 1)}
    try:
        eps_kafka, n_kafka = _kafka(settings.kafka.bootstrap)
        metrics["simulator_events_per_s_kafka"] = round(eps_kafka, 1)
        notes["events_kafka"] = n_kafka
    except Exception as exc:
        notes["kafka_error"] = repr(exc)
    write_result("simulator", metrics, notes)


if __name__ == "__main__":
    main()
