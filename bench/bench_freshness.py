"""Feature freshness: event time -> visible in the Feast online store (Redis), with 100k active customers.

The feature job (local mini-cluster) and the Feast writer run as in production, on their own topics. First every
one of ``CUSTOMERS`` customers gets a click (so the job holds state for all of them), then clicks arrive at
``RATE`` events/s for ``SECONDS`` with wall-clock event times; one click in ``PROBE_EVERY`` is a probe whose
customer row is polled in the online store until it carries that event time.
Metric ``feature_freshness_p99_s`` (also p50, and the share of probes never seen).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import numpy as np

from bench.common import write_result

CUSTOMERS = int(os.environ.get("CXM_BENCH_FRESHNESS_CUSTOMERS", "100000"))
RATE = float(os.environ.get("CXM_BENCH_FRESHNESS_RATE", "2000"))
SECONDS = float(os.environ.get("CXM_BENCH_FRESHNESS_SECONDS", "40"))
PROBE_EVERY = 20


def _click(i: int, cid: str, now_ms: int) -> dict[str, object]:
    from events.timefmt import ms_to_rfc3339

    return {
        "event_id": f"fr-{uuid.uuid4().hex[:12]}-{i}",
        "customer_id": cid,
        "kind": "clickstream",
        "schema_version": 1,
        "event_time": ms_to_rfc3339(now_ms),
        "page": "home",
        "session_id": f"s{i}",
        "device": "web",
    }


def main() -> None:
    from confluent_kafka import Producer

    from cxm.config import load_settings
    from features.freshness import Probe, feast_event_ts_reader
    from features.store import apply as feast_apply
    from features.writer import ChangelogWriter
    from infra.services.redis import RedisServer
    from pipelines.main_run import JobProcess, create_run_topics, run_topics, settings_for
    from pipelines.topic_watch import topic_count

    base = load_settings()
    base = base.model_copy(update={"feast": base.feast.model_copy(update={"online_store": "redis"})})
    redis = RedisServer(base)
    try:
        redis.healthy()
    except OSError:
        redis.start()
    tag = "fresh-" + uuid.uuid4().hex[:6]
    env = {**run_topics(base, tag), "CXM_FEAST__ONLINE_STORE": "redis"}
    s = settings_for(base, env)
    create_run_topics(s)
    store = feast_apply(s)
    job = JobProcess("feature", "pipelines.feature_job", env, s.var_dir / "bench" / f"{tag}.log")
    stop = threading.Event()
    writer = ChangelogWriter(s)
    wt = threading.Thread(target=lambda: writer.run(should_stop=stop.is_set), daemon=True)
    producer = Producer({"bootstrap.servers": s.kafka.bootstrap, "linger.ms": 5})
    topic = s.topics.events("clickstream")
    lags: list[float] = []
    pending: list[Probe] = []
    lock = threading.Lock()
    read = feast_event_ts_reader(store)

    def poll() -> None:
        while not stop.is_set():
            with lock:
                batch = pending[:500]
            if batch:
                stored = read(batch)
                now = time.time()
                done = {id(p) for p, ts in zip(batch, stored, strict=True) if ts >= p.event_ts_ms}
                with lock:
                    for p in batch:
                        if id(p) in done:
                            lags.append(now - p.event_ts_ms / 1000)
                    pending[:] = [p for p in pending if id(p) not in done]
            time.sleep(0.05)

    try:
        job.start()
        wt.start()
        # state for every customer (and proof that the job is up): one click each, then wait for the changelog
        t0 = time.time()
        for i in range(CUSTOMERS):
            producer.produce(
                topic,
                key=f"f{i:06d}".encode(),
                value=json.dumps(_click(i, f"f{i:06d}", int(time.time() * 1000))).encode(),
            )
            if i % 10_000 == 0:
                producer.poll(0)
        producer.flush(60)
        deadline = time.time() + 300
        ticks = 0
        while topic_count(s.kafka.bootstrap, s.topics.features) < CUSTOMERS * 0.99 and time.time() < deadline:
            if not job.alive():
                raise RuntimeError(f"feature job exited: {job.tail()}")
            # rows are emitted once the watermark passes them: keep event time moving with a ticker customer
            for _ in range(20):
                ticks += 1
                producer.produce(
                    topic, key=b"ticker", value=json.dumps(_click(ticks, "ticker", int(time.time() * 1000))).encode()
                )
                producer.poll(0)
                time.sleep(0.1)
        preload_s = time.time() - t0
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        rng = np.random.default_rng(7)
        start = time.time()
        sent = 0
        while time.time() - start < SECONDS:
            target = int((time.time() - start) * RATE)
            while sent < target:
                cid = f"f{int(rng.integers(CUSTOMERS)):06d}"
                now_ms = int(time.time() * 1000)
                producer.produce(topic, key=cid.encode(), value=json.dumps(_click(sent, cid, now_ms)).encode())
                if sent % PROBE_EVERY == 0:
                    with lock:
                        pending.append(Probe(cid, "clickstream", now_ms))
                sent += 1
            producer.poll(0)
            time.sleep(0.005)
        producer.flush(30)
        drain = time.time() + 30
        while time.time() < drain:  # the ticker keeps the watermark moving past the last probes
            with lock:
                if not pending:
                    break
            ticks += 1
            producer.produce(
                topic, key=b"ticker", value=json.dumps(_click(ticks, "ticker", int(time.time() * 1000))).encode()
            )
            producer.poll(0)
            time.sleep(0.1)
        with lock:
            missing = len(pending)
        arr = np.asarray(lags)
        write_result(
            "freshness",
            {
                "feature_freshness_p50_s": round(float(np.percentile(arr, 50)), 3) if len(arr) else float("nan"),
                "feature_freshness_p99_s": round(float(np.percentile(arr, 99)), 3) if len(arr) else float("nan"),
                "freshness_probes_missing_share": round(missing / max(len(arr) + missing, 1), 4),
            },
            {
                "customers": CUSTOMERS,
                "rate": RATE,
                "seconds": SECONDS,
                "probes": len(arr) + missing,
                "preload_s": round(preload_s, 1),
                "online_store": "redis",
                "writer": dict(writer.stats.__dict__),
            },
        )
    finally:
        stop.set()
        job.stop()
        wt.join(30)


if __name__ == "__main__":
    main()
