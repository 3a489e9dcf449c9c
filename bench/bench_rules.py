"""Decision throughput and latency of the membrane, in-process on one core.

The shipped catalogue (20 actions) and policy set (24 policies, more than the 15 of the target), realistic
random customers (``rules.testing.random_inputs``).

- ``decisions_per_s``: ``decide()`` calls per wall-clock second in one thread;
- ``decisions_per_cpu_s``: the same per CPU second of the thread (robust on a shared machine);
- ``decision_p50_ms``/``decision_p99_ms``: single-decision latency percentiles;
- ``decision_p99_cpu_ms``: the p99 of thread CPU time per decision (excludes preemption by other processes);
- ``records_per_s``: decide + JSON record bytes.
- ``column_records_per_s`` / ``column_records_per_cpu_s``: published records per second from the column-wise
  path the decision job uses (``PolicySet.columns``: every policy once per batch with numpy, batches of
  ``COLUMN_BATCH`` rows), against ``row_records_per_cpu_s``: ``decide(...).to_record()`` per row on the same rows.
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
COLUMN_BATCH = 1_000


def _column_rates(ps: PolicySet, rows: list[dict[str, object]], t0: datetime) -> dict[str, float]:
    """Records per wall and CPU second, column-wise (batches) and row-wise, over the same rows."""
    import numpy as np
    import pandas as pd

    from features.names import FEATURES, SCORES
    from rules.batch_records import ColumnContext
    from rules.engine import DecisionContext

    n = len(rows)
    feats = pd.DataFrame([{k: r[k] for k in FEATURES} for r in rows])
    scores = pd.DataFrame([{**{k: r[k] for k in SCORES}, "model_version": "bench"} for r in rows])
    base = int(t0.timestamp() * 1000)
    ts = np.array([base + 7 * 60_000 * (i % 97) for i in range(n)], dtype=np.int64)
    ctx = ColumnContext([str(r["customer_id"]) for r in rows], [str(r["event_id"]) for r in rows],
                        [""] * n, [str(r["inbound_channel"]) for r in rows], [""] * n)
    batches = [slice(a, min(a + COLUMN_BATCH, n)) for a in range(0, n, COLUMN_BATCH)]

    def columns() -> None:
        for b in batches:
            sub = ColumnContext(*(list(getattr(ctx, f)[b]) for f in ("customers", "event_ids", "triggers",
                                                                       "inbound", "context_keys")))
            ps.columns.records(feats.iloc[b], scores.iloc[b], sub, ts[b])

    frows, srows = feats.to_dict("records"), scores.to_dict("records")
    contexts = [DecisionContext(ctx.customers[i], ctx.event_ids[i], ctx.inbound[i]) for i in range(n)]
    whens = [datetime.fromtimestamp(int(t) / 1000, tz=UTC) for t in ts.tolist()]

    def row_wise() -> None:
        for i in range(n):
            ps.decide(frows[i], srows[i], contexts[i], whens[i]).to_record()

    columns()  # warm-up
    out: dict[str, float] = {}
    for name, fn in (("column", columns), ("row", row_wise)):
        wall, cpu = time.perf_counter(), time.thread_time()
        fn()
        out[f"{name}_records_per_s"] = round(n / (time.perf_counter() - wall), 1)
        out[f"{name}_records_per_cpu_s"] = round(n / (time.thread_time() - cpu), 1)
    return out


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
    rates = _column_rates(ps, random_inputs(10_000, seed=8), t0)
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
            "column_records_per_s": rates["column_records_per_s"],
            "column_records_per_cpu_s": rates["column_records_per_cpu_s"],
            "row_records_per_cpu_s": rates["row_records_per_cpu_s"],
        },
        {
            "actions": len(ps.actions),
            "policies": len(ps.policies),
            "decisions": N,
            "threads": 1,
            "column_batch": COLUMN_BATCH,
            "share_with_an_action": round(chosen / 2000, 3),
            "policy_version": ps.version,
        },
    )


if __name__ == "__main__":
    main()
