"""A tiny feature-level population for model tests and benchmarks that must not depend on the event simulator.

It skips events entirely: each customer walks a daily Markov chain over ``features.names.STAGES`` and gets one
feature snapshot per day drawn from stage-dependent distributions, plus a churn outcome drawn from a
stage-dependent hazard. The real path (simulator -> events -> features) is in :mod:`models.trainset`; this one
exists so the model contract can be tested in milliseconds and with a known ground truth.

>>> pop = synthetic_population(n_customers=50, days=10, seed=1)
>>> set(pop.snapshots["true_stage"]) <= set(STAGES)
True
>>> bool((pop.outcomes["outcome"] == "churned").all())
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from features.names import CHANNELS, FEATURES, STAGES

DAY_MS = 86_400_000
#: Default start of simulated time (2026-01-01 UTC).
DEFAULT_START_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)

# stage index: 0 onboarding, 1 engaged, 2 dormant, 3 in_crisis, 4 recovering, 5 at_risk
_TRANSITIONS = np.array(
    [
        # onb    eng    dor    cri    rec    risk
        [0.930, 0.050, 0.010, 0.008, 0.000, 0.002],
        [0.000, 0.960, 0.020, 0.012, 0.000, 0.008],
        [0.000, 0.030, 0.940, 0.010, 0.000, 0.020],
        [0.000, 0.000, 0.000, 0.880, 0.080, 0.040],
        [0.000, 0.060, 0.000, 0.030, 0.880, 0.030],
        [0.000, 0.030, 0.020, 0.020, 0.000, 0.930],
    ]
)
_HAZARD = np.array([0.0008, 0.0004, 0.003, 0.010, 0.004, 0.030])
# Poisson means per stage for count features
_MEANS: dict[str, list[float]] = {
    "clicks_7d": [15, 20, 1, 10, 8, 9],
    "cancel_page_visits_7d": [0.02, 0.02, 0.05, 0.4, 0.2, 2.0],
    "help_page_visits_7d": [1.0, 0.3, 0.1, 3.0, 1.0, 0.8],
    "calls_7d": [0.5, 0.1, 0.05, 2.0, 0.6, 0.7],
    "complaints_30d": [0.1, 0.05, 0.05, 2.0, 1.5, 0.5],
    "purchases_30d": [2.0, 3.0, 0.2, 1.0, 1.5, 0.7],
}
_SENTIMENT = [0.3, 0.5, 0.1, -0.5, 0.0, -0.3]


@dataclass(frozen=True)
class Population:
    """Daily snapshots (``customer_id``, ``ts_ms``, ``true_stage`` and every feature) and churn outcomes."""

    snapshots: pd.DataFrame
    outcomes: pd.DataFrame


def synthetic_population(
    n_customers: int = 1000, days: int = 60, seed: int = 0, start_ms: int = DEFAULT_START_MS
) -> Population:
    """Simulate ``n_customers`` for ``days`` days (deterministic given ``seed``)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:07d}" for i in range(n_customers)])
    tenure0 = np.where(
        rng.random(n_customers) < 0.1, rng.uniform(0, 10, n_customers), rng.uniform(30, 1500, n_customers)
    )
    stage = np.where(tenure0 < 30, 0, rng.choice([1, 2, 3, 5], size=n_customers, p=[0.7, 0.2, 0.05, 0.05]))
    crisis_days = np.zeros(n_customers)
    alive = np.ones(n_customers, dtype=bool)
    pref = rng.choice(list(CHANNELS), size=n_customers)
    cum = _TRANSITIONS.cumsum(axis=1)
    frames: list[pd.DataFrame] = []
    churn_ids: list[str] = []
    churn_ts: list[int] = []
    for d in range(days):
        # churn during the day, after the snapshot of the previous day
        hazard = _HAZARD[stage] * (1.0 + 0.05 * np.minimum(crisis_days, 20))
        churn = alive & (rng.random(n_customers) < hazard)
        t_churn = start_ms + d * DAY_MS + (rng.random(n_customers) * DAY_MS).astype(np.int64)
        churn_ids.extend(ids[churn].tolist())
        churn_ts.extend(t_churn[churn].tolist())
        alive &= ~churn
        # stage transition (onboarding ends at 30 days of tenure)
        u = rng.random(n_customers)[:, None]
        stage = np.where(alive, (u > cum[stage]).sum(axis=1), stage)
        stage = np.minimum(stage, 5)
        tenure = tenure0 + d
        stage = np.where((stage == 0) & (tenure >= 30), 1, stage)
        crisis_days = np.where(stage == 3, crisis_days + 1, 0.0)
        idx = np.flatnonzero(alive)
        st = stage[idx]
        snap: dict[str, object] = {
            "customer_id": ids[idx],
            "ts_ms": start_ms + (d + 1) * DAY_MS - 1,
            "true_stage": np.array(STAGES)[st],
        }
        for name, means in _MEANS.items():
            snap[name] = rng.poisson(np.array(means)[st])
        snap["clicks_24h"] = rng.binomial(np.asarray(snap["clicks_7d"]), 1 / 7)
        snap["clicks_1h"] = rng.binomial(np.asarray(snap["clicks_24h"]), 1 / 24)
        snap["calls_24h"] = rng.binomial(np.asarray(snap["calls_7d"]), 1 / 7)
        snap["repeat_calls_7d"] = np.maximum(np.asarray(snap["calls_7d"]) - 1, 0)
        snap["open_complaints"] = np.where(st == 3, 1 + rng.poisson(0.3, len(idx)), 0)
        snap["complaints_7d"] = rng.binomial(np.asarray(snap["complaints_30d"]), 0.3)
        snap["problem_recurrences_30d"] = np.where(st == 3, rng.poisson(1.5, len(idx)), 0)
        snap["eta_given"] = np.where(st == 3, rng.random(len(idx)) < 0.4, True)
        snap["days_in_crisis"] = crisis_days[idx]
        snap["last_call_sentiment"] = np.clip(np.array(_SENTIMENT)[st] + rng.normal(0, 0.3, len(idx)), -1, 1)
        snap["mean_wait_s_7d"] = np.where(np.asarray(snap["calls_7d"]) > 0, rng.exponential(120, len(idx)), 0.0)
        snap["spend_30d"] = np.asarray(snap["purchases_30d"]) * rng.gamma(2.0, 25.0, len(idx))
        snap["days_since_purchase"] = np.where(
            np.asarray(snap["purchases_30d"]) > 0, rng.uniform(0, 30, len(idx)), rng.uniform(30, 999, len(idx))
        )
        snap["tenure_days"] = tenure[idx]
        snap["preferred_channel"] = pref[idx]
        snap["last_call_reason"] = np.where(st == 3, "terminal_connection", np.where(st == 5, "cancellation", "other"))
        frames.append(pd.DataFrame(snap))
    snapshots = pd.concat(frames, ignore_index=True)
    for f in FEATURES.values():
        if f.name not in snapshots.columns:
            snapshots[f.name] = f.default
    outcomes = pd.DataFrame(
        {"customer_id": churn_ids, "ts_ms": np.array(churn_ts, dtype=np.int64), "outcome": "churned"}
    )
    return Population(snapshots=snapshots, outcomes=outcomes)
