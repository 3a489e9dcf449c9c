"""Decision throughput and latency of the membrane, in-process on one core.

The shipped catalogue (20 actions) and policy set (24 policies, more than the 15 of the target), realistic
random customers (``rules.testing.random_inputs``).

- ``decisions_per_s``: ``decide()`` calls per wall-clock second in one thread;
- ``decisions_per_cpu_s``: the same per CPU second of the thread (robust on a shared machine);
- ``decision_p50_ms``/``decision_p99_ms``: single-decision latency percentiles;
- ``decision_p99_cpu_ms``: the p99 of thread CPU time per decision (excludes preemption by other processes);
- ``records_per_s``: decide + JSON record bytes.
"""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime, timedelta

from bench.common import write_result
from rules.engine import PolicySet
from rules.inputs import split_row
from rules.testing import random_inputs

N = 30_000


def main() -> None:
    ps = PolicySet.load()
    rows = [split_row(r) for r in random_inputs(5_000, seed=7)]
    t0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    nows = [t0 + timedelta(minutes=7 * i) for i in range(97)]  # spread over the day: quiet hours too
    for i in range(2_000):  # warm-up
        f, s, c = rows[i % len(rows)]
        ps.decide(f, s, c, nows[i % 97])
    gc.freeze()  # a long-running decision service freezes its start-up objects the same way
    lat = []
    pc = time.perf_counter_ns
    cpu0 = time.thread_time()
    start = pc()
    for i in range(N):
        f, s, c = rows[i % len(rows)]
        a = pc()
        ps.decide(f, s, c, nows[i % 97])
        lat.append(pc() - a)
    total_s = (pc() - start) / 1e9
    cpu_s = time.thread_time() - cpu0
    tc = time.thread_time_ns
    cpu_lat = []
    for i in range(N // 3):  # CPU time per decision: latency without the other tenants' preemption
        f, s, c = rows[i % len(rows)]
        a = tc()
        ps.decide(f, s, c, nows[i % 97])
        cpu_lat.append(tc() - a)
    cpu_lat.sort()
    lat.sort()
    start = pc()
    for i in range(N // 3):
        f, s, c = rows[i % len(rows)]
        ps.decide(f, s, c, nows[i % 97]).to_json()
    rec_s = (pc() - start) / 1e9
    chosen = sum(1 for f, s, c in rows[:2000] if ps.decide(f, s, c, nows[0]).action_id is not None)
    write_result(
        "rules",
        {
            "decisions_per_s": round(N / total_s, 1),
            "decisions_per_cpu_s": round(N / cpu_s, 1),
            "decision_p50_ms": round(lat[len(lat) // 2] / 1e6, 4),
            "decision_p99_ms": round(lat[int(len(lat) * 0.99)] / 1e6, 4),
            "decision_p99_cpu_ms": round(cpu_lat[int(len(cpu_lat) * 0.99)] / 1e6, 4),
            "records_per_s": round((N // 3) / rec_s, 1),
        },
        {
            "actions": len(ps.actions),
            "policies": len(ps.policies),
            "decisions": N,
            "threads": 1,
            "share_with_an_action": round(chosen / 2000, 3),
            "policy_version": ps.version,
        },
    )


if __name__ == "__main__":
    main()
