"""Fault test: a TaskManager is killed mid-run; the job recovers from its checkpoint and a read_committed
consumer sees every decision exactly once (by decision id), with none missing.

Decisions are coalesced per customer (``decisions.coalesce_ms``): after the recovery the replayed backlog is
grouped differently than before the kill, so the check is on what the committed decisions cover: every
changelog row exactly once (the sum of ``coalesced.rows`` per customer), each customer's newest row decided,
and no decision id twice."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from cxm.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = 1_795_000_000_000
N_CUSTOMERS = 400
N_ROWS = 6_000


def _rows() -> list[dict[str, object]]:
    rows = []
    for i in range(N_ROWS):
        c = f"c{i % N_CUSTOMERS:05d}"
        ts = T0 + i * 1000
        rows.append(
            {
                "customer_id": c,
                "group": "clickstream",
                "event_ts_ms": ts,
                "values": {"clicks_1h": i % 7, "clicks_24h": i % 30, "clicks_7d": i % 90},
            }
        )
    return rows


def _produce_slowly(bootstrap: str, topic: str, rows: list[dict[str, object]], seconds: float) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    per_tick = max(1, int(len(rows) / (seconds / 0.1)))
    for start in range(0, len(rows), per_tick):
        for r in rows[start : start + per_tick]:
            producer.produce(topic, key=str(r["customer_id"]).encode(), value=json.dumps(r).encode())
        producer.poll(0)
        time.sleep(0.1)
    producer.flush(30)


def test_taskmanager_killed_mid_run_decisions_exactly_once(
    settings: Settings, kafka_bootstrap: str, flink_rest: str, new_topic: Callable[..., str]
) -> None:
    from infra.services.flink import FlinkCluster
    from pipelines import deploy

    src, dst = new_topic("features.changelog", partitions=2), new_topic("decisions", partitions=2)
    env = {
        "CXM_TOPICS__FEATURES": src,
        "CXM_TOPICS__DECISIONS": dst,
        "CXM_DECISIONS__DELIVERY": "exactly-once",
        "CXM_FLINK__CHECKPOINT_INTERVAL_MS": "2000",
        "CXM_FLINK__PARALLELISM": "1",
    }
    rows = _rows()
    cluster = FlinkCluster(settings)
    rec = deploy.submit(settings, "decisions", env=env)
    try:
        producer = threading.Thread(target=_produce_slowly, args=(kafka_bootstrap, src, rows, 30.0))
        producer.start()
        # let a few checkpoints complete, then kill the TaskManager in the middle of the input
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            counts = deploy.rest(settings, f"/jobs/{rec.job_id}/checkpoints").get("counts", {})
            if int(counts.get("completed", 0)) >= 2:
                break
            time.sleep(1)
        assert int(counts.get("completed", 0)) >= 2, counts
        killed = cluster.kill_taskmanager()
        assert killed > 0
        time.sleep(2)
        cluster.start_taskmanager()
        producer.join(timeout=120)

        newest: dict[str, int] = {}
        per_customer: dict[str, int] = {}
        for r in rows:
            c = str(r["customer_id"])
            per_customer[c] = per_customer.get(c, 0) + 1
            newest[c] = max(newest.get(c, 0), int(r["event_ts_ms"]))  # type: ignore[call-overload]
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": f"eo-{time.time_ns()}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe([dst])
        seen: list[dict[str, Any]] = []
        covered: dict[str, int] = {}

        def take(msg: Any) -> None:
            if msg is not None and not msg.error():
                rec = json.loads(msg.value() or b"{}")
                seen.append(rec)
                covered[rec["customer_id"]] = covered.get(rec["customer_id"], 0) + rec["coalesced"]["rows"]

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and sum(covered.values()) < len(rows):
            take(consumer.poll(0.5))
        # drain a little longer so late duplicates would show up
        end = time.monotonic() + 5
        while time.monotonic() < end:
            take(consumer.poll(0.5))
        consumer.close()
        exceptions = deploy.rest(settings, f"/jobs/{rec.job_id}/exceptions")
    finally:
        deploy.cancel(settings, rec.job_id)
    assert exceptions.get("exceptionHistory", {}).get("entries"), "the job should have seen the TaskManager loss"
    ids = [str(d["decision_id"]) for d in seen]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicate decision ids"
    assert covered == per_customer, "changelog rows lost or decided twice across the recovery"
    last: dict[str, int] = {}
    for d in seen:
        ts = int(datetime.fromisoformat(str(d["decided_at"]).replace("Z", "+00:00")).timestamp() * 1000)
        last[str(d["customer_id"])] = max(last.get(str(d["customer_id"]), 0), ts)
    assert last == newest, "a customer's newest row was not decided"
