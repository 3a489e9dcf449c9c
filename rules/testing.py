"""Small helpers for tests and notebooks: a baseline customer that policies can act on.

>>> base_features(days_in_crisis=4.0)["days_in_crisis"]
4.0
>>> base_scores()["stage"]
'engaged'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from features.names import ACTION_KINDS, defaults
from rules.decision import Candidate, Decision

#: Noon in Madrid on a weekday: outside quiet hours.
NOON = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)


def base_features(**over: Any) -> dict[str, Any]:
    """A calm, engaged, recently signed-up customer with no problems and full consent."""
    f = defaults()
    f.update(timezone="Europe/Madrid", preferred_channel="email", tenure_days=200.0)
    f.update(over)
    return f


def base_scores(**over: Any) -> dict[str, Any]:
    """Scores with a clear marketing propensity and small others."""
    s: dict[str, Any] = {"churn_risk": 0.1, "stage": "engaged", "model_version": "m-test"}
    s.update({f"propensity_{k}": 0.05 for k in ACTION_KINDS})
    s["propensity_marketing"] = 0.5
    s.update(over)
    return s


def candidate(d: Decision, action_id: str) -> Candidate:
    """The candidate entry of one action (KeyError when it is the chosen one)."""
    for c in d.candidates:
        if c.action_id == action_id:
            return c
    raise KeyError(f"{action_id} is the chosen action or unknown")


def random_inputs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` realistic random decision inputs (features + scores + context columns, one dict per row).

    Most customers are calm; about one in eight has an open complaint, a few are near a store or calling in.

    >>> rows = random_inputs(3, seed=1)
    >>> len(rows), rows[0]["customer_id"]
    (3, 'c000000')
    """
    import random

    from features.names import FEATURES, STAGES

    rng = random.Random(seed)
    zones = ["Europe/Madrid", "Europe/London", "America/New_York", "Asia/Tokyo", "UTC"]
    out = []
    for k in range(n):
        row: dict[str, Any] = base_features()
        trouble = rng.random() < 0.12
        recent = trouble or rng.random() < 0.1
        row.update(
            timezone=rng.choice(zones),
            preferred_channel=rng.choice(["email", "email", "sms", "push", "call"]),
            tenure_days=rng.expovariate(1 / 600),
            open_complaints=int(trouble) + int(trouble and rng.random() < 0.2),
            complaints_30d=int(recent) + int(rng.random() < 0.05),
            days_in_crisis=rng.uniform(0, 8) if trouble else 0.0,
            eta_given=trouble and rng.random() < 0.5,
            problem_recurrences_30d=rng.choice([1, 2, 3, 4, 5]) if trouble else 0,
            repeat_calls_7d=rng.choice([0, 1, 2]) if trouble else 0,
            calls_24h=int(rng.random() < 0.1),
            last_call_sentiment=rng.uniform(-1, 1),
            near_store=rng.random() < 0.03,
            contacts_24h=int(rng.random() < 0.15),
            contacts_7d=rng.choice([0, 0, 1, 2, 3]),
            contacts_email_7d=int(rng.random() < 0.3),
            contacts_sms_7d=int(rng.random() < 0.2),
        )
        for ch in ("email", "sms", "push", "call"):
            row[f"consent_{ch}"] = rng.random() < 0.9
        for name, f in FEATURES.items():
            if name.startswith("rejects_"):
                row[name] = int(rng.random() < 0.08) * rng.choice([1, 2])
            elif f.dtype == "int" and name.startswith("clicks"):
                row[name] = rng.randint(0, 40)
        stage = "in_crisis" if trouble and rng.random() < 0.7 else rng.choice((*STAGES[:3], "recovering", "at_risk"))
        row.update(stage=stage, churn_risk=rng.betavariate(2, 5), model_version="bench")
        for kind in ACTION_KINDS:
            row[f"propensity_{kind}"] = rng.betavariate(1.5, 8)
        row.update(
            customer_id=f"c{k:06d}",
            event_id=f"e{seed}-{k}",
            trigger="",
            inbound_channel=rng.choice(["call"] if rng.random() < 0.08 else [""]),
        )
        out.append(row)
    return out


#: Columns of an input row that belong to the decision context rather than to features or scores.
CONTEXT_COLUMNS = ("customer_id", "event_id", "trigger", "inbound_channel", "features_known", "decided_at")
