"""The decision job alone (local mini-cluster): changelog rows paced into Kafka -> decisions topic.

Isolates the decision stage of ``bench_e2e`` (no simulator, no feature job, so it needs one core less and
takes about two minutes). Synthetic changelog rows (one feature group each, the shapes of
``features.names.GROUPS``) for ``--customers`` customers are produced at ``--rate`` rows/s for ``--seconds``;
the latency is changelog row in Kafka -> the decision covering it in Kafka (broker timestamps), over the rows
after a ``--warmup-s`` warm-up. ``rows_per_s`` is the rate the decisions covered (sum of ``coalesced.rows``
per second of decisions): below ``--rate`` means the job could not keep up. ``cpu_ms_per_row``: CPU time of
the job's processes (JVM and Python worker, after start-up) per changelog row, also split into the JVM
(``jvm_``) and Python (``python_``); ``steady_*``: the same from ``--warmup-s`` into the production to its end
(without the JIT compilation and first checkpoints of the warm-up).

Run: ``python -m bench.bench_decision_job [--rate 2000] [--coalesce-ms 200]``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import write_result

T0 = 1_795_000_000_000


def synthetic_row(rng: random.Random, customer: str, ts_ms: int) -> dict[str, Any]:
    """One changelog row of a random group with plausible values.

    >>> r = synthetic_row(random.Random(1), "c1", T0)
    >>> r["customer_id"], r["event_ts_ms"], r["group"] in __import__("features.names").names.GROUPS
    ('c1', 1795000000000, True)
    """
    from features.names import CHANNELS, GROUPS, feature_dtype

    group = rng.choice(("clickstream", "clickstream", "clickstream", "call", "purchase", "response", "complaint",
                        "gps", "profile", "consent"))
    values: dict[str, Any] = {}
    for name in GROUPS[group]:
        kind = feature_dtype(name)
        if name.endswith("_ms"):
            values[name] = ts_ms - rng.randrange(0, 30 * 86_400_000)
        elif kind == "int":
            values[name] = rng.randrange(0, 5)
        elif kind == "float":
            values[name] = round(rng.uniform(-1.0, 60.0), 3)
        elif kind == "bool":
            values[name] = rng.random() < 0.8
        elif name == "timezone":
            values[name] = rng.choice(("Europe/Paris", "America/New_York", "UTC"))
        elif name == "preferred_channel":
            values[name] = rng.choice(CHANNELS)
        else:
            values[name] = rng.choice(("billing", "outage", "moving"))
    return {"customer_id": customer, "group": group, "event_ts_ms": ts_ms, "values": values}


def produce_paced(bootstrap: str, topic: str, rate: float, seconds: float, customers: int, seed: int,
                  on_tick: Callable[[float, int], None] | None = None) -> int:
    """Produce rows at ``rate`` per second (10 ms ticks) for ``seconds``; returns how many. ``on_tick(elapsed,
    produced)`` is called after every tick and once at the end."""
    import orjson
    from confluent_kafka import Producer

    rng = random.Random(seed)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    n = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while n < due:
            c = f"c{rng.randrange(customers):06d}"
            row = synthetic_row(rng, c, T0 + n)  # unique event time per row: (customer, event time) keys a row
            # the feature job's key: customer_id|group
            p.produce(topic, key=f"{c}|{row['group']}".encode(), value=orjson.dumps(row))
            n += 1
            if n % 5000 == 0:
                p.poll(0)
        p.poll(0)
        if on_tick is not None:
            on_tick(elapsed, n)
        time.sleep(0.01)
    if on_tick is not None:
        on_tick(time.monotonic() - start, n)
    p.flush(30)
    return n


def session_cpu_s(sid: int) -> dict[str, float]:
    """CPU seconds (user + system) of the live processes of session ``sid`` (the job, its JVM, its Python
    worker), split into the JVM (``java``) and everything else (``python``: the job's driver and the Python UDF
    workers).

    >>> session_cpu_s(-1)
    {'java': 0.0, 'python': 0.0}
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = {"java": 0, "python": 0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        if int(fields[3]) == sid:  # after the command: state ppid pgrp session ... utime(12) stime(13)
            kind = "java" if head.split("(", 1)[-1].startswith("java") else "python"
            total[kind] += int(fields[11]) + int(fields[12])
    return {k: v / tick for k, v in total.items()}


def measure(bootstrap: str, changelog: str, decisions: str, warmup_s: float) -> dict[str, float]:
    import orjson

    from events.timefmt import parse_rfc3339
    from pipelines.report import read_topic

    rows = {}
    for ts, v in read_topic(bootstrap, changelog):
        r = orjson.loads(v)
        rows[(str(r["customer_id"]), int(r["event_ts_ms"]))] = ts
    lat: list[float] = []
    covered = 0
    dec_ts: list[int] = []
    first_row = min(rows.values()) if rows else 0
    for ts, v in read_topic(bootstrap, decisions):
        d = orjson.loads(v)
        if d["customer_id"] == "warmup":
            continue
        covered += int((d.get("coalesced") or {}).get("rows", 1))
        dec_ts.append(ts)
        key = (str(d["customer_id"]), int(parse_rfc3339(d["decided_at"]).timestamp() * 1000))
        if key in rows and rows[key] >= first_row + warmup_s * 1000:
            lat.append(float(ts - rows[key]))
    span = max((max(dec_ts) - min(dec_ts)) / 1000.0, 1e-3) if dec_ts else float("nan")
    return {
        "rows": float(len(rows)),
        "decisions": float(len(dec_ts)),
        "rows_covered": float(covered),
        "rows_per_decision": covered / max(len(dec_ts), 1),
        "rows_per_s": covered / span,
        "decisions_per_s": len(dec_ts) / span,
        "latency_p50_ms": float(np.percentile(lat, 50)) if lat else float("nan"),
        "latency_p99_ms": float(np.percentile(lat, 99)) if lat else float("nan"),
        "latency_max_ms": float(max(lat)) if lat else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=2000.0, help="changelog rows per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--warmup-s", type=float, default=15.0)
    parser.add_argument("--coalesce-ms", type=int, default=None, help="override decisions.coalesce_ms")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--name", default="decision_job", help="result name (bench/results/<name>.json)")
    args = parser.parse_args(argv)

    from cxm.config import TopicSpec, load_settings
    from infra.topics import ensure_topics
    from pipelines.main_run import JobProcess
    from pipelines.topic_watch import topic_count

    s = load_settings()
    from datetime import UTC, datetime

    from infra.topics import run_tag

    tag = run_tag(datetime.now(UTC), uuid.uuid4().hex)
    changelog, decisions = f"bench.{tag}.features.changelog", f"bench.{tag}.decisions"
    ensure_topics(s.kafka.bootstrap, [TopicSpec(name=t, partitions=2, retention_ms=3_600_000)
                                      for t in (changelog, decisions)])
    env = {"CXM_TOPICS__FEATURES": changelog, "CXM_TOPICS__DECISIONS": decisions}
    if args.coalesce_ms is not None:
        env["CXM_DECISIONS__COALESCE_MS"] = str(args.coalesce_ms)
    log = s.var_dir / "bench" / f"decision_job-{tag}.log"
    job = JobProcess("decision", "pipelines.decision_job", env, log)
    job.start()
    try:
        import orjson
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": s.kafka.bootstrap})
        p.produce(changelog, key=b"warmup|profile", value=orjson.dumps(
            {"customer_id": "warmup", "group": "profile", "event_ts_ms": T0 - 1, "values": {"timezone": "UTC"}}))
        p.flush(10)
        deadline = time.monotonic() + 180
        while topic_count(s.kafka.bootstrap, decisions) == 0:
            if not job.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"decision job not ready; see {log}:\n{job.tail()}")
            time.sleep(0.5)
        sid = job.proc.pid if job.proc else -1
        cpu_ready = session_cpu_s(sid)
        # steady state: CPU and rows produced from --warmup-s into the production to its end (JIT compilation
        # and the first checkpoints are paid in the warm-up; the job keeps up, so the rows of the window are
        # those it processed in it, give or take its latency)
        steady: dict[str, Any] = {}

        def tick(elapsed: float, n: int) -> None:
            if "cpu0" not in steady and elapsed >= args.warmup_s:
                steady.update(cpu0=session_cpu_s(sid), n0=n)
            if "cpu0" in steady:
                steady.update(n1=n, last=elapsed)

        produced = produce_paced(s.kafka.bootstrap, changelog, args.rate, args.seconds, args.customers, args.seed,
                                 on_tick=tick)
        cpu_steady_end = session_cpu_s(sid)
        last, stable = -1, time.monotonic()
        while time.monotonic() - stable < 6.0:
            n = topic_count(s.kafka.bootstrap, decisions)
            if n != last:
                last, stable = n, time.monotonic()
            time.sleep(0.5)
        cpu_end = session_cpu_s(job.proc.pid if job.proc else -1)
        cpu = {k: cpu_end[k] - cpu_ready[k] for k in cpu_end}
        cpu_s = sum(cpu.values())
        steady_rows = max(steady.get("n1", 0) - steady.get("n0", 0), 1)
        cpu_steady = {k: cpu_steady_end[k] - steady.get("cpu0", cpu_ready)[k] for k in cpu_end}
    finally:
        job.stop()
    m = measure(s.kafka.bootstrap, changelog, decisions, args.warmup_s)
    write_result(
        args.name,
        {
            "rows_per_s": round(m["rows_per_s"], 1),
            "decisions_per_s": round(m["decisions_per_s"], 1),
            "rows_per_decision": round(m["rows_per_decision"], 2),
            "latency_p50_ms": round(m["latency_p50_ms"], 1),
            "latency_p99_ms": round(m["latency_p99_ms"], 1),
            # CPU of the job's processes (JVM + Python worker, after start-up) per changelog row: robust on a
            # shared machine where the wall-clock rates are not
            "cpu_ms_per_row": round(1000.0 * cpu_s / max(m["rows_covered"], 1.0), 3),
            # the same split: the JVM (source, coalescing, merge, sink) and Python (driver + UDF workers)
            "jvm_cpu_ms_per_row": round(1000.0 * cpu["java"] / max(m["rows_covered"], 1.0), 3),
            "python_cpu_ms_per_row": round(1000.0 * cpu["python"] / max(m["rows_covered"], 1.0), 3),
            # the same after the warm-up (see ``tick``): the per-row cost of a long-running job
            "steady_jvm_cpu_ms_per_row": round(1000.0 * cpu_steady["java"] / steady_rows, 3),
            "steady_python_cpu_ms_per_row": round(1000.0 * cpu_steady["python"] / steady_rows, 3),
        },
        {**m, "cpu_s": cpu_s, "cpu_by_process_s": cpu, "steady_cpu_by_process_s": cpu_steady,
         "steady_rows": steady_rows, "produced": produced, "options": vars(args), "log": str(log)},
    )


if __name__ == "__main__":
    main()
