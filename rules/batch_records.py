"""Decision records from a column-wise evaluation (:mod:`rules.columns`): the per-row part, kept small.

Rows of a batch share few outcome patterns (which action was chosen, which were blocked by which policy and
reason, deferred or lost): the candidate lists are laid out once per pattern (``numpy.unique`` over the rows), and
each row only fills in its own numbers (priorities, components), ids and times. The records equal
``Decision.to_record()``'s for the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.names import CHANNELS
from rules.decision import NO_ACTION, SCHEMA_VERSION, decision_id, rfc3339, round6

if TYPE_CHECKING:
    from rules.engine import PolicySet
    from rules.policies import Policy

_CHOSEN, _NO_PROPENSITY, _LOST = -(2**40), -(2**40) + 1, -1


@dataclass(frozen=True)
class ColumnContext:
    """Per row: customer id, event id (or None), trigger, inbound channel and the context key of the decision id.

    No delivery history: cool-downs (``DecisionContext.action_history``) are decided by ``PolicySet.decide``.
    """

    customers: Sequence[str]
    event_ids: Sequence[str | None]
    triggers: Sequence[str]
    inbound: Sequence[str]
    context_keys: Sequence[str]


@dataclass(frozen=True)
class Outcome:
    """What the column-wise evaluation found, ``rows x actions`` matrices (-1: none) and per-row columns."""

    policy_set: PolicySet
    cols: dict[str, np.ndarray]
    scores: pd.DataFrame | None
    ctx: ColumnContext
    ts_ms: np.ndarray
    pairs: list[tuple[str, str]]  # (policy, reason) of each blocking code
    blocked: np.ndarray
    channel: np.ndarray  # channel index per action
    mandatory: np.ndarray  # index into mandatory_ids
    mandatory_ids: list[str]
    deferred: np.ndarray  # index into defer_policies
    defer_policies: Sequence[Policy]
    weight: np.ndarray
    prio: np.ndarray
    prop: np.ndarray
    best: np.ndarray  # chosen action per row, -1 none
    applied: list[tuple[str, np.ndarray, frozenset[int]]]  # (policy, rows, targets) in the order they apply
    quiet: list[tuple[Policy, np.ndarray, frozenset[int]]]  # quiet-hours policies with the rows they apply to


@dataclass(frozen=True)
class _Layout:
    blocked: list[tuple[str, str, tuple[str, ...]]]
    deferred: list[tuple[int, str, str, str]]  # (action, id, policy, reason)
    lost: list[tuple[int, str, str]]  # (action, id, reason)


def _round6(a: np.ndarray) -> np.ndarray:
    """:func:`rules.decision.round6` of every element (finite values)."""
    return np.rint(a * 1e6) / 1e6


def _layouts(o: Outcome) -> tuple[list[_Layout], list[int]]:
    """The candidate layout of each distinct outcome pattern, and each row's pattern."""
    ids = [a.id for a in o.policy_set.actions]
    pat = np.where(o.blocked >= 0, o.blocked,
                   np.where(o.deferred >= 0, -2 - o.deferred, np.where(o.prio > 0, _LOST, _NO_PROPENSITY)))
    rows = np.flatnonzero(o.best >= 0)
    pat[rows, o.best[rows]] = _CHOSEN
    from rules.columns import factorize_rows

    rep, inverse = factorize_rows(pat)
    layouts = []
    for p in pat[rep].tolist():
        chosen = p.index(_CHOSEN) if _CHOSEN in p else -1
        lost_to = f"lower priority than {ids[chosen]}" if chosen >= 0 else ""
        groups: dict[int, list[str]] = {}
        deferred: list[tuple[int, str, str, str]] = []
        lost: list[tuple[int, str, str]] = []
        for i, code in enumerate(p):
            if code >= 0:
                groups.setdefault(code, []).append(ids[i])
            elif code == _LOST or code == _NO_PROPENSITY:
                lost.append((i, ids[i], lost_to if code == _LOST else "no propensity"))
            elif code <= -2 and code != _CHOSEN:
                pol = o.defer_policies[-2 - code]
                deferred.append((i, ids[i], pol.id, f"deferred {pol.hours:g} h and lower priority"))
        blocked = [(o.pairs[c][0], o.pairs[c][1], tuple(a)) for c, a in groups.items()]
        layouts.append(_Layout(blocked, deferred, lost))
    return layouts, inverse.tolist()


def batch_records(o: Outcome) -> list[dict[str, Any]]:
    """One published record per row (the fields and order of ``Decision.to_record()``)."""
    from rules.engine import _quiet_until, _zone

    ps, acts, ctx = o.policy_set, o.policy_set.actions, o.ctx
    n = len(o.best)
    layouts, pattern = _layouts(o)
    ts_ms = o.ts_ms
    decided = [s + "Z" for s in np.datetime_as_string(ts_ms.astype("datetime64[ms]"), unit="ms").tolist()]
    if o.scores is not None and "model_version" in o.scores.columns:
        versions = [str(v) for v in o.scores["model_version"].tolist()]
    else:
        versions = ["none"] * n
    known = bool(o.cols["context_known"][0]) if n else False
    churn = np.asarray(o.cols["churn_risk"], dtype=np.float64).tolist()
    stage = [str(s) for s in o.cols["stage"].tolist()]
    zones = o.cols["timezone"].tolist()
    rows = np.arange(n)
    b_safe = np.where(o.best >= 0, o.best, 0)
    best_l = o.best.tolist()
    chan_b = o.channel[rows, b_safe].tolist()
    mand_b = o.mandatory[rows, b_safe].tolist()
    def_b = o.deferred[rows, b_safe].tolist()
    prop_b, weight_b = _round6(o.prop[rows, b_safe]).tolist(), _round6(o.weight[rows, b_safe]).tolist()
    prio_l = _round6(o.prio).tolist()
    value = [(round6(a.value), round6(a.lever)) for a in acts]
    applied = [(pid, m.tolist(), tset) for pid, m, tset in o.applied]
    quiet = [(p, m.tolist(), tset) for p, m, tset in o.quiet]
    version = ps.version
    out: list[dict[str, Any]] = []
    for r in range(n):
        lay, pr, b = layouts[pattern[r]], prio_l[r], best_l[r]
        cands = {
            "blocked": [{"policy": p, "reason": w, "actions": list(a)} for p, w, a in lay.blocked],
            "deferred": [{"action_id": aid, "policy": pid, "reason": why, "priority": pr[i]}
                         for i, aid, pid, why in lay.deferred],
            "lost": [{"action_id": aid, "reason": why, "priority": pr[i]}
                     for i, aid, why in lay.lost],
        }
        event_id = ctx.event_ids[r] or None
        key = "" if event_id else ctx.context_keys[r]
        rec: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "decision_id": decision_id(ctx.customers[r], event_id, decided[r], version, key),
            "customer_id": ctx.customers[r],
            "decided_at": decided[r],
            "event_id": event_id,
            "trigger": ctx.triggers[r],
        }
        if b < 0:
            rec.update(action_id=None, action_kind=None, department=None, channel=None, format=None,
                       send_at=decided[r], deferred=False, mandatory=False, reason=NO_ACTION,
                       applied_policies=[], components={})
        else:
            a = acts[b]
            ch = CHANNELS[chan_b[r]]
            used = [pid for pid, m, tset in applied if m[r] and b in tset]
            mk = mand_b[r]
            if mk >= 0:
                used.insert(0, o.mandatory_ids[mk])
            now = send_at = None
            if def_b[r] >= 0:
                pol = o.defer_policies[def_b[r]]
                now = datetime.fromtimestamp(ts_ms[r].item() / 1000, tz=UTC)
                send_at = now + timedelta(hours=pol.hours)
                used.append(pol.id)
            if ch != ctx.inbound[r]:
                for pol, m, tset in quiet:
                    if m[r] and b in tset and (not pol.channels or ch in pol.channels):
                        if now is None or send_at is None:
                            now = send_at = datetime.fromtimestamp(ts_ms[r].item() / 1000, tz=UTC)
                        until = _quiet_until(send_at.astimezone(_zone(str(zones[r]))), pol.start_min, pol.end_min)
                        if until is not None:
                            send_at = until.astimezone(UTC)
                            used.append(pol.id)
            later = send_at is not None and now is not None and send_at > now
            rec.update(action_id=a.id, action_kind=a.kind, department=a.department, channel=ch, format=a.format,
                       send_at=rfc3339(send_at) if later and send_at is not None else decided[r],
                       deferred=later, mandatory=mk >= 0,
                       reason=f"mandatory ({o.mandatory_ids[mk]})" if mk >= 0 else "highest priority",
                       applied_policies=used,
                       components={"propensity": prop_b[r], "context_weight": weight_b[r],
                                   "value": value[b][0], "lever": value[b][1], "priority": pr[b]})
        rec.update(scores={"churn_risk": churn[r], "stage": stage[r]}, model_version=versions[r],
                   policy_version=version, context_known=known, candidates=cands)
        out.append(rec)
    return out
