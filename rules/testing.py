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
