"""Arm (b) of the closed loop: every department sends what it wants, independently of the others.

**What "wants" means here.** Whenever a customer's context changes (the same trigger the membrane gets), *each*
department looks at its own actions and sends its single most valuable one, ranked as the membrane would rank it
(``propensity x value x lever``, same models), among the actions that

* are in the department's own audience (``simulator/closedloop_departments/*.yaml``: service only for customers
  with a case, agent calls only for a recurring problem, retention only above its churn-score threshold, loyalty
  only for long-standing engaged customers, greetings only in a store; marketing, sales and surveys: everyone), and
* are off their own cool-down for this customer (``cooldown_days`` in ``rules/actions.yaml``, counted from the
  department's own sends);

and a department sends at most once per ``cadence_h`` (24 h: a daily campaign run) to one customer.

Nothing else: no crisis block, no survey-after-ETA, no consent check (the simulator still drops deliveries on
opted-out channels, as a real channel would), no contact caps, no suppression after rejects, no yields, no
mandatory actions, no deferral, no quiet hours. The channel is the customer's preferred one when the action
offers it, else the action's first channel. So one trigger may produce one send per department.

>>> import pandas as pd
>>> d = DepartmentsDecider()
>>> row = pd.DataFrame({"customer_id": ["c0000001"], "trigger": ["complaint"], "event_ts_ms": [1_795_000_000_000],
...                     "open_complaints": [1], "crisis_since_ms": [1_795_000_000_000 - 86_400_000]})
>>> sorted({r["department"] for r in d.decide_frame(row)})
['customer_care', 'marketing_business', 'marketing_consumer', 'sales', 'service']
>>> d.decide_frame(row.assign(event_ts_ms=1_795_000_000_000 + 3_600_000))  # an hour later: daily cadence
[]
>>> [r["action_id"] for r in d.decide_frame(row.assign(event_ts_ms=1_795_000_000_000 + 86_400_000))][:2]
['care_nps_survey', 'mb_payment_plan']
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.derive import derive_frame
from features.names import SCORES

DEPARTMENTS_DIR = Path(__file__).resolve().parent / "closedloop_departments"
_HOUR_MS = 3_600_000


def _rfc3339(ms: int) -> str:
    u = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{u:%Y-%m-%dT%H:%M:%S}.{u.microsecond // 1000:03d}Z"


class DepartmentsDecider:
    """Per trigger, one record per department that wants to send something (see the module docstring)."""

    def __init__(self, audiences: Path = DEPARTMENTS_DIR, cadence_h: float = 24.0) -> None:
        from models.scoring import Scorer
        from rules.engine import PolicySet

        self.policies = PolicySet.load(audiences)
        self.scorer = Scorer.fresh()
        self.actions = {a.id: a for a in self.policies.actions}
        self.cadence_ms = int(cadence_h * _HOUR_MS)
        self.sent: dict[str, dict[str, int]] = {}  # customer -> action id or department -> last send (epoch ms)
        self.stats = {"rows": 0, "records": 0}

    def decide_frame(self, ctx: pd.DataFrame) -> list[dict[str, Any]]:
        """Decision records (``decision_id``, ``customer_id``, ``decided_at``, ``action_id``, ``action_kind``,
        ``department``, ``channel``, ``send_at``) for rows of ``customer_id``, ``trigger``, ``event_ts_ms`` and
        stored features."""
        from rules.engine import DecisionContext

        if len(ctx) == 0:
            return []
        now_ms = ctx["event_ts_ms"].astype("int64").to_numpy()
        feats = derive_frame(ctx, now_ms)
        scores = self.scorer.score_batch(feats)
        out: list[dict[str, Any]] = []
        for i, (f, s) in enumerate(zip(feats.to_dict("records"), scores.to_dict("records"), strict=True)):
            cust = str(ctx["customer_id"].iat[i])
            t = int(now_ms[i])
            sent = self.sent.setdefault(cust, {})
            hist = {a: (t - ts) / _HOUR_MS for a, ts in sent.items()}
            sc = {k: v for k, v in s.items() if k in SCORES}
            now = datetime.fromtimestamp(t / 1000, tz=UTC)
            d = self.policies.decide(f, sc, DecisionContext(cust, action_history=hist), now)
            best: dict[str, tuple[float, str]] = {}
            if d.action_id is not None and d.department is not None:
                best[d.department] = (d.components["priority"], d.action_id)
            for c in d.candidates:
                if c.status == "lost" and c.priority > 0 and c.priority > best.get(c.department, (0.0, ""))[0]:
                    best[c.department] = (c.priority, c.action_id)
            pref = str(f["preferred_channel"])
            for dept, (_, aid) in sorted(best.items()):
                if t - sent.get(dept, t - self.cadence_ms) < self.cadence_ms:
                    continue
                a = self.actions[aid]
                ch = pref if pref in a.channels else a.channels[0]
                sent[aid] = sent[dept] = t
                stamp = _rfc3339(t)
                did = hashlib.sha256(f"{cust}|{aid}|{stamp}".encode()).hexdigest()[:32]
                out.append({"decision_id": did, "customer_id": cust, "decided_at": stamp, "action_id": aid,
                            "action_kind": a.kind, "department": dept, "channel": ch, "send_at": stamp})
        self.stats["rows"] += len(ctx)
        self.stats["records"] += len(out)
        return out
