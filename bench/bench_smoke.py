"""Benchmark of the smoke pipeline: events/s through Kafka -> Flink SQL + Python UDF -> Kafka (mini-cluster).

Events are pre-loaded into a fresh topic; the rate is events divided by Flink's net job runtime.
"""

from __future__ import annotations

import json
import time
import uuid

from bench.common import write_result

N_EVENTS = 200_000


def main() -> None:
    from confluent_kafka import Producer

    from cxm.config import TopicSpec, load_settings
    from infra.services.kafka import KafkaBroker
    from infra.topics import ensure_topics
    from pipelines.cli import smoke_events
    from pipelines.smoke import run

    s = load_settings()
    broker = KafkaBroker(s)
    started = False
    try:
        broker.healthy()
    except Exception:
        broker.start()
        started = True
    try:
        tag = uuid.uuid4().hex[:8]
        src, dst = f"bench.smoke.in.{tag}", f"bench.smoke.out.{tag}"
        ensure_topics(
            s.kafka.bootstrap,
            [
                TopicSpec(name=src, partitions=2, retention_ms=3_600_000),
                TopicSpec(name=dst, partitions=2, retention_ms=3_600_000),
            ],
        )
        producer = Producer(
            {
                "bootstrap.servers": s.kafka.bootstrap,
                "linger.ms": 50,
                "compression.type": "lz4",
                "queue.buffering.max.messages": 1_000_000,
            }
        )
        for i, e in enumerate(smoke_events(N_EVENTS)):
            producer.produce(src, key=str(e["customer_id"]).encode(), value=json.dumps(e).encode())
            if i % 10_000 == 0:
                producer.poll(0)
        producer.flush(60)
        t0 = time.monotonic()
        result = run(s, src, dst, bounded=True, wait=False)
        client = result.get_job_client()
        net_ms = None
        if client is not None:
            net_ms = client.get_job_execution_result().result().get_net_runtime()
        else:
            result.wait()
        wall = time.monotonic() - t0
        runtime_s = (net_ms / 1000.0) if net_ms else wall
        write_result(
            "smoke",
            {"smoke_events_per_s": round(N_EVENTS / runtime_s, 1), "smoke_wall_s": round(wall, 2)},
            {"events": N_EVENTS, "parallelism": s.flink.parallelism, "net_runtime_s": runtime_s},
        )
    finally:
        if started:
            broker.stop()


if __name__ == "__main__":
    main()
