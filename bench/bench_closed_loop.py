"""The closed loop in process: churn rate of each arm and decisions/s of the decision side of the loop.

Bounded: 2000 customers x 30 simulated days x 3 arms (about a minute on an idle 2-core machine). Metrics:
``closed_loop_churn_<arm>`` (share of customers), ``closed_loop_membrane_decisions_per_s`` (DecisionStage only:
derive, score, policies) and ``closed_loop_membrane_loop_decisions_per_s`` (features + decisions per
wall-clock second of the decision side, simulator excluded).
"""

from __future__ import annotations

from bench.common import write_result
from simulator.closedloop import ClosedLoopConfig, run_all, table

CUSTOMERS, DAYS, SEED = 2000, 30, 0


def main() -> None:
    cfg = ClosedLoopConfig(customers=CUSTOMERS, days=DAYS, seed=SEED)
    results = run_all(cfg)
    print(table(results))
    by = {r.arm: r for r in results}
    mem = by["membrane"]
    metrics = {f"closed_loop_churn_{r.arm}": round(r.churn_rate, 4) for r in results}
    metrics["closed_loop_membrane_decisions_per_s"] = round(mem.decisions_per_s, 1)
    metrics["closed_loop_membrane_loop_decisions_per_s"] = round(
        mem.decisions / (mem.decide_s + mem.features_s), 1
    )
    notes = {"customers": CUSTOMERS, "days": DAYS, "seed": SEED,
             **{f"elapsed_s_{r.arm}": round(r.elapsed_s, 1) for r in results},
             "membrane_decisions": mem.decisions, "membrane_actions": mem.actions}
    write_result("closed_loop", metrics, notes)


if __name__ == "__main__":
    main()
