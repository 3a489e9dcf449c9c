"""End-to-end benchmark: simulator -> Kafka -> feature job -> decision job -> decisions topic (mini-clusters).

Two bounded runs of the main job (``pipelines.main_run``): one with the simulator unthrottled to find the
sustained rate (events pre-loaded into Kafka divided by the time from the first decision to the last one),
then one at half of that rate to measure event-to-decision latency (broker timestamp of the event -> broker
timestamp of its decision).
CPU seconds and peak RSS are those of the job processes (``RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import resource
import time

import numpy as np

from bench.common import write_result


def _one(rate: float, customers: int, days: float) -> dict[str, float]:
    from cxm.config import load_settings
    from pipelines.main_run import RunOptions, main_run
    from pipelines.report import summarize

    s = load_settings()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = main_run(s, RunOptions(customers=customers, days=days, rate=rate, settle_s=10.0), echo=print)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary, decisions, lat = summarize(result)
    # Unthrottled, the events are in Kafka before the jobs finish starting: the processing span runs from the
    # first decision to the last one.
    first_decision = int(decisions["kafka_ts"].min()) if not decisions.empty else 0
    last_decision = int(decisions["kafka_ts"].max()) if not decisions.empty else 0
    span_s = max((last_decision - first_decision) / 1000.0, 1e-3)
    return {
        "events": float(summary.events_in),
        "decisions": float(summary.decisions),
        "events_per_s": summary.events_in / span_s,
        "decisions_per_s": summary.decisions / span_s,
        "latency_p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "latency_p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "peak_rss_mib": after.ru_maxrss / 1024.0,
        "wall_s": result.elapsed_s,
    }


def main() -> None:
    t0 = time.monotonic()
    full = _one(rate=0.0, customers=4000, days=14.0)
    half_rate = max(full["events_per_s"] / 2.0, 500.0)
    half = _one(rate=half_rate, customers=2000, days=10.0)
    write_result(
        "e2e",
        {
            "e2e_events_per_s": round(full["events_per_s"], 1),
            "e2e_decisions_per_s": round(full["decisions_per_s"], 1),
            "e2e_latency_p50_ms": round(half["latency_p50_ms"], 1),
            "e2e_latency_p99_ms": round(half["latency_p99_ms"], 1),
            "e2e_half_rate_events_per_s": round(half_rate, 1),
            "e2e_cpu_s": round(full["cpu_s"], 1),
            "e2e_peak_rss_mib": round(max(full["peak_rss_mib"], half["peak_rss_mib"]), 1),
        },
        {"full_run": full, "half_rate_run": half, "bench_wall_s": time.monotonic() - t0},
    )


if __name__ == "__main__":
    main()
