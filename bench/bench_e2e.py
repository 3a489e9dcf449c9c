"""End-to-end benchmark: simulator -> Kafka -> feature job -> decision job -> decisions topic (mini-clusters).

Two bounded runs of the main job (``pipelines.main_run``): one with the simulator unthrottled to find the
sustained rate (events pre-loaded into Kafka divided by the time from the first feature row or decision to the
last decision), then one at half of that rate to measure event-to-decision latency (broker timestamp of the event
-> broker timestamp of its decision), in steady state and over the whole run. The steady state
(:func:`steady_window`) leaves out the start-up (:func:`warmup_s`: at least 30 s of decisions and the feature
job's first checkpoint) and the events of the input's last seconds (the drain: with no later events, the
watermark passes them only after the idle timeout).
Both jobs run in one process and JVM, as ``cxm run`` does (``--separate-jvms``: one each).
CPU seconds are those of every process of a run (:mod:`bench.proctree`: the jobs with their JVMs, the Kafka broker,
this process with the simulator and the Feast writer), peak memory that of the two jobs' processes together.

The latency is also split by stage (notes): event -> its feature changelog row (feature job) and changelog row
-> the decision covering it (decision job), both from broker timestamps. Options shorten a run:
``--rate R`` skips the unthrottled run and measures latency at R events/s; ``--full-only`` skips the latency run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from bench.common import write_result
from bench.proctree import TreeMonitor
from infra.services.base import ManagedProcess


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def steady_window(arrivals: dict[tuple[str, int], int], first_decision_ms: int, warmup_s: float,
                  drain_s: float) -> tuple[int, int]:
    """The steady state of a bounded latency run, as (decided from, event arrived by) in broker ms.

    It starts ``warmup_s`` after the first decision (JIT compilation, the Python workers' start) and ends with the
    events that arrived ``drain_s`` before the last one: nothing comes after the last events of the input, so the
    event-time watermark passes them only once their partitions are declared idle (``flink.idle_timeout_s``
    after the input stopped, plus the watermark delay). A stream that goes on never waits for that.

    >>> steady_window({("c1", 5): 1_000, ("c2", 9): 90_000}, 2_000, 30, 7)
    (32000, 83000)
    """
    return first_decision_ms + int(warmup_s * 1000), max(arrivals.values(), default=0) - int(drain_s * 1000)


def warmup_s(feature_checkpoint_interval_ms: int, least_s: float = 30.0) -> float:
    """Seconds after the first decision that belong to the start-up of a latency run.

    At least ``least_s`` (JIT compilation, the Python workers' start, the backlog produced while the jobs
    started), and at least one checkpoint interval of the feature job: Flink takes a job's first checkpoint
    after a random delay of up to one interval from the job's start (``CheckpointCoordinator``), and the jobs
    start before the first decision. That first checkpoint runs cold (its snapshot code is not compiled yet) and
    stalled the pipeline for 2-4 s: left to chance, it fell into a 30 s warm-up or into the measured window, and
    the same build measured a steady p99 of 711 ms in one run and 1,415 ms in the next. The periodic checkpoints
    after it stay in the window (one at least per interval of window).

    >>> warmup_s(60_000), warmup_s(10_000)
    (60.0, 30.0)
    """
    return max(float(least_s), feature_checkpoint_interval_ms / 1000.0)


def stage_latencies(result: object, decisions: object, warmup_s: float = 30.0) -> dict[str, float]:
    """p50/p99 of event -> changelog row (feature job) and changelog row -> decision (decision job), in ms, over
    the whole run and in the steady state (:func:`steady_window`), with the end-to-end latency of the latter."""
    import orjson
    import pandas as pd

    from cxm.config import EVENT_KINDS
    from pipelines.report import event_arrivals, latencies, latency_by_kind, read_topic

    s = result.settings  # type: ignore[attr-defined]
    if not isinstance(decisions, pd.DataFrame) or decisions.empty:
        return {}
    kinds: dict[tuple[str, int], str] = {}
    arrivals = event_arrivals(s.kafka.bootstrap, [s.topics.events(k) for k in EVENT_KINDS], kinds)
    changelog: dict[tuple[str, int], int] = {}
    # the earliest changelog row starts bench_e2e's processing span (taken here: the changelog is read once)
    first_row = int(decisions["kafka_ts"].min())
    for ts, value in read_topic(s.kafka.bootstrap, s.topics.features):
        first_row = min(first_row, ts)
        try:
            row = orjson.loads(value)
            changelog.setdefault((str(row["customer_id"]), int(row["event_ts_ms"])), ts)
        except Exception:
            continue
    drain_s = s.flink.idle_timeout_s + s.flink.watermark_delay_s
    steady_from, arrived_by = steady_window(arrivals, int(decisions["kafka_ts"].min()), warmup_s, drain_s)
    never = arrived_by + 1  # an event that is not found is not in the steady window

    def in_window(key: tuple[str, int], at: int) -> bool:
        return at >= steady_from and arrivals.get(key, never) <= arrived_by

    feature = [float(ts - arrivals[k]) for k, ts in changelog.items() if k in arrivals]
    feature_steady = [float(ts - arrivals[k]) for k, ts in changelog.items() if in_window(k, ts)]
    ms = (decisions["decided_at"].astype("int64") // 1_000_000).tolist()
    keys = list(zip(decisions["customer_id"].astype(str).tolist(), ms, strict=True))
    kafka_ts = decisions["kafka_ts"].tolist()
    pairs = [(float(d - changelog[k]), in_window(k, d)) for k, d in zip(keys, kafka_ts, strict=True)
             if k in changelog]
    decision = [lat for lat, _ in pairs]
    decision_steady = [lat for lat, steady in pairs if steady]
    steady = decisions[[in_window(k, d) for k, d in zip(keys, kafka_ts, strict=True)]]
    e2e = latencies(steady, arrivals).tolist()
    rows = [r.get("rows", 1) if isinstance(r, dict) else 1 for r in decisions.get("coalesced", [])]
    return {
        "feature_stage_p50_ms": _pct(feature, 50),
        "feature_stage_p99_ms": _pct(feature, 99),
        "decision_stage_p50_ms": _pct(decision, 50),
        "decision_stage_p99_ms": _pct(decision, 99),
        # the same in the steady window (the stage split of ``steady_latency_*``)
        "steady_feature_stage_p50_ms": _pct(feature_steady, 50),
        "steady_feature_stage_p99_ms": _pct(feature_steady, 99),
        "steady_decision_stage_p50_ms": _pct(decision_steady, 50),
        "steady_decision_stage_p99_ms": _pct(decision_steady, 99),
        "rows_per_decision": float(np.mean(rows)) if rows else float("nan"),
        "steady_latency_p50_ms": _pct(e2e, 50),
        "steady_latency_p99_ms": _pct(e2e, 99),
        "steady_decisions": float(len(e2e)),
        "steady_window_s": (arrived_by - steady_from) / 1000.0,
        "first_row_ts": float(first_row),
        # the steady p99 by the kind of the triggering event (rare kinds wait for their partitions' watermarks)
        **{f"steady_latency_p99_ms_{kind}": v["p99"] for kind, v in latency_by_kind(steady, arrivals, kinds).items()},
    }


def steady_rate(decisions: object) -> dict[str, float]:
    """Changelog rows (about one per valid event) the decisions of the second half of the decision span covered,
    per second of that half: the rate once both jobs are warm (the first half also pays for JIT compilation,
    planning and the Python workers' start of two jobs sharing two cores).

    >>> import pandas as pd
    >>> d = pd.DataFrame({"kafka_ts": [0, 1000, 2000], "coalesced": [{"rows": 5}, {"rows": 3}, {"rows": 4}]})
    >>> steady_rate(d)
    {'steady_rows_per_s': 7.0, 'steady_decisions_per_s': 2.0}
    """
    import pandas as pd

    if not isinstance(decisions, pd.DataFrame) or decisions.empty or "coalesced" not in decisions:
        return {}
    ts = decisions["kafka_ts"].astype("int64")
    mid = int(ts.min()) + (int(ts.max()) - int(ts.min())) // 2
    half = decisions[ts >= mid]
    half_s = max((int(ts.max()) - mid) / 1000.0, 1e-3)
    rows = sum(int(c.get("rows", 1)) if isinstance(c, dict) else 1 for c in half["coalesced"])
    return {"steady_rows_per_s": rows / half_s, "steady_decisions_per_s": len(half) / half_s}


#: Events the simulator makes per customer and simulated day (measured: 6.1-6.6 with the default mix).
EVENTS_PER_CUSTOMER_DAY = 6.3
#: Customers of the latency run (as in earlier sessions: the rows one customer sends per coalescing window, so
#: the decisions per second, depend on it; the simulated days give the traffic time).
LATENCY_CUSTOMERS = 2000


def latency_days(rate: float, traffic_s: float, min_days: float) -> float:
    """Simulated days that give about ``traffic_s`` seconds of traffic at ``rate`` events/s (at least ``min_days``).

    >>> latency_days(12_000, 100, 25), latency_days(1_000, 100, 25)
    (95.2, 25.0)
    """
    return max(float(min_days), round(rate * traffic_s / (LATENCY_CUSTOMERS * EVENTS_PER_CUSTOMER_DAY), 1))


def feature_checkpoint_interval_ms(settings: Any, environ: Mapping[str, str] | None = None) -> int:
    """The feature job's checkpoint interval in a run of :func:`pipelines.main_run.main_run`: the environment's
    ``CXM_FEATURE_JOB__CHECKPOINT_INTERVAL_MS``, else the live run's default, else the shared setting.

    >>> from cxm.config import Settings
    >>> feature_checkpoint_interval_ms(Settings.defaults(), {}), feature_checkpoint_interval_ms(
    ...     Settings.defaults(), {"CXM_FEATURE_JOB__CHECKPOINT_INTERVAL_MS": "20000"})
    (60000, 20000)
    """
    from pipelines.main_run import LIVE_FEATURE_JOB_ENV

    key = "CXM_FEATURE_JOB__CHECKPOINT_INTERVAL_MS"
    env = os.environ if environ is None else environ
    return int(env.get(key) or LIVE_FEATURE_JOB_ENV.get(key) or settings.flink.checkpoint_interval_ms)


def _one(rate: float, customers: int, days: float, one_jvm: bool = True) -> dict[str, float]:
    from cxm.config import load_settings
    from pipelines.main_run import RunOptions, main_run
    from pipelines.report import summarize

    s = load_settings()
    kafka = ManagedProcess("kafka", s.var_dir).pid()
    # unthrottled: every event is in Kafka before the jobs start (the generator does not compete with them)
    opts = RunOptions(customers=customers, days=days, rate=rate, settle_s=10.0, preload=rate == 0, one_jvm=one_jvm)
    with TreeMonitor(extra={"kafka": kafka} if kafka else None) as mon:
        result = main_run(s, opts, echo=print)
    usage = mon.usage()
    summary, decisions, lat = summarize(result)
    warmup = warmup_s(feature_checkpoint_interval_ms(s))
    stages = stage_latencies(result, decisions, warmup)
    # Unthrottled, the events are in Kafka before the jobs start: the processing span runs from the first
    # feature row or decision, whichever came first, to the last decision (JIT compilation of both jobs
    # included). Not from the first decision alone: a decision job that starts later than the feature job (both
    # in one JVM, planned one after the other) would otherwise leave the feature job's head start out of the span.
    first = int(stages.pop("first_row_ts", decisions["kafka_ts"].min())) if not decisions.empty else 0
    last_decision = int(decisions["kafka_ts"].max()) if not decisions.empty else 0
    span_s = max((last_decision - first) / 1000.0, 1e-3)
    return {
        **steady_rate(decisions),
        "events": float(summary.events_in),
        "decisions": float(summary.decisions),
        # a sanity check on the rate: events that became feature rows, and late ones beyond those injected late
        # (a partition declared idle while it waited its turn in the backlog turns its records late, cheaply)
        "feature_rows": float(summary.feature_rows),
        "late": float(summary.late),
        "late_injected": float(result.sim_summary.get("faults", {}).get("late", 0)),
        "events_per_s": summary.events_in / span_s,
        "decisions_per_s": summary.decisions / span_s,
        "latency_p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "latency_p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        # CPU of every process of the run (jobs with their JVMs, the broker, this process: simulator and Feast
        # writer), from the jobs' start-up to their stop; peak memory: the jobs' processes together
        "cpu_s": usage.total_cpu_s(),
        **{f"cpu_s_{part}": v for part, v in usage.cpu_s.items()},
        "peak_rss_mib": sum(v for k, v in usage.peak_rss_mib.items() if k.endswith(("_job", "_jobs"))),
        **{f"peak_rss_mib_{part}": v for part, v in usage.peak_rss_mib.items()},
        "wall_s": result.elapsed_s,
        "span_s": span_s,
        "warmup_s": warmup,
        **stages,
    }


def _fresh(**kwargs: Any) -> dict[str, float]:
    """:func:`_one` in a new interpreter: the simulator, the Feast writer and the decision reader of a run share
    this process, and after the unthrottled run it holds ~4.5 GB of that run's summary (1.3M events and their
    decisions read back); the latency run measured in the same process had a steady decision-stage p50 of
    336-374 ms, against 261-282 ms in a process of its own."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_one, **kwargs).result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=0.0, help="skip the unthrottled run; latency at this rate")
    parser.add_argument("--full-only", action="store_true", help="skip the half-rate latency run")
    # 16000 customers x 14 days (~1.3M events, pre-loaded): long enough that the start of two JVMs on two cores
    # (planning, ~25 CPU-s of JIT compilation per job) does not dominate the span (8000: 17.0k events/s, 16000:
    # 18.7k, second half of either: ~26k rows/s)
    parser.add_argument("--customers", type=int, default=16000, help="customers of the unthrottled run")
    parser.add_argument("--days", type=float, default=14.0, help="simulated days of the unthrottled run")
    # the latency run is sized by its traffic time: the steady window (after the warm-up, warmup_s) must hold at
    # least a minute of traffic at any rate (a fixed 25-day run gave 28 s of traffic at 12k events/s: its
    # "steady" window held only the tail of the warm-up backlog), so at least one periodic checkpoint
    parser.add_argument("--half-days", type=float, default=25.0, help="least simulated days of the latency run")
    parser.add_argument("--traffic-s", type=float, default=None, help="seconds of traffic of the latency run "
                        "(default: the warm-up and 90 s)")
    parser.add_argument("--separate-jvms", action="store_true", help="one process and JVM per job (cxm run's "
                        "--separate-jvms) instead of both jobs in one")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    one_jvm = not args.separate_jvms
    full = _fresh(rate=0.0, customers=args.customers, days=args.days, one_jvm=one_jvm) if not args.rate else {}
    half_rate = args.rate or max(full["events_per_s"] / 2.0, 500.0)
    from cxm.config import load_settings

    traffic_s = args.traffic_s or warmup_s(feature_checkpoint_interval_ms(load_settings())) + 90.0
    half_days = latency_days(half_rate, traffic_s, args.half_days)
    half = (_fresh(rate=half_rate, customers=LATENCY_CUSTOMERS, days=half_days, one_jvm=one_jvm)
            if not args.full_only else {})
    nan = float("nan")
    write_result(
        "e2e",
        {
            "e2e_events_per_s": round(full.get("events_per_s", nan), 1),
            "e2e_decisions_per_s": round(full.get("decisions_per_s", nan), 1),
            # the second half of the unthrottled run (changelog rows covered per second: ~ valid events per s)
            "e2e_steady_rows_per_s": round(full.get("steady_rows_per_s", nan), 1),
            # steady state: decisions after the start-up (warmup_s: JIT, the Python workers, the feature job's
            # first checkpoint); the whole-run figures are kept next to them
            "e2e_latency_p50_ms": round(half.get("steady_latency_p50_ms", nan), 1),
            "e2e_latency_p99_ms": round(half.get("steady_latency_p99_ms", nan), 1),
            "e2e_latency_p50_all_ms": round(half.get("latency_p50_ms", nan), 1),
            "e2e_latency_p99_all_ms": round(half.get("latency_p99_ms", nan), 1),
            "e2e_half_rate_events_per_s": round(half_rate, 1),
            "e2e_late_not_injected": max(full.get("late", nan) - full.get("late_injected", 0.0), 0.0),
            "e2e_cpu_s": round(full.get("cpu_s", nan), 1),
            "e2e_peak_rss_mib": round(max(full.get("peak_rss_mib", 0.0), half.get("peak_rss_mib", 0.0)), 1),
        },
        {"full_run": full, "half_rate_run": half, "bench_wall_s": time.monotonic() - t0, "options": vars(args)},
    )


if __name__ == "__main__":
    main()
