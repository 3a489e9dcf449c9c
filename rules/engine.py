"""The membrane: a compiled policy set that decides the next best action for one customer (pure, no I/O).

Evaluation order: blocks, gates, rejects suppression and cool-downs; channels (consent, caps, the inbound
channel); department yields; mandatory actions and weights; arbitration by
``priority = propensity x context weight x value x lever`` (mandatory actions first); channel choice (the
inbound channel if allowed, else the preferred one, else the first allowed); deferral (defer policies, then
quiet hours in the customer's time zone).

>>> from datetime import UTC, datetime
>>> ps = PolicySet.load()
>>> d = ps.decide({"days_in_crisis": 5.0, "open_complaints": 1}, {"stage": "in_crisis"},
...               DecisionContext("c1"), datetime(2026, 11, 24, 12, tzinfo=UTC))
>>> d.action_id, d.mandatory
('svc_free_service', True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from features.names import CHANNELS, defaults
from rules.catalogue import DEFAULT_ACTIONS, Catalogue, load_catalogue
from rules.decision import NO_ACTION, CandidateRow, Decision, decision_id
from rules.errors import Finding, PolicyError
from rules.policies import DEFAULT_POLICY_DIR, Policy, load_policy_dir, policy_files
from rules.symbols import SCORE_DEFAULTS

if TYPE_CHECKING:
    from rules.columns import ColumnEngine

_EMPTY: Mapping[str, float] = {}
_CONSENT = tuple((ch, f"consent_{ch}") for ch in CHANNELS)


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """What triggered a decision. ``action_history``: hours since each action id was last delivered."""

    customer_id: str
    event_id: str | None = None
    inbound_channel: str = ""
    trigger: str = ""
    features_known: bool = True
    action_history: Mapping[str, float] = field(default_factory=dict)
    #: tells apart decisions without an event id made at the same time on different contexts (see decision_id)
    context_key: str = ""


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _quiet_until(local: datetime, start: int, end: int) -> datetime | None:
    """End of the quiet window containing ``local`` (minutes of day), or None when outside it."""
    m = local.hour * 60 + local.minute
    inside = (start <= m < end) if start < end else (m >= start or m < end)
    if not inside:
        return None
    day = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    return day if day > local else day + timedelta(days=1)


class PolicySet:
    """A catalogue plus compiled policies, checked statically; immutable once built."""

    def __init__(
        self, catalogue: Catalogue, policies: list[Policy], version: str, warnings: tuple[Finding, ...] = ()
    ) -> None:
        self.catalogue, self.policies, self.version, self.warnings = (
            catalogue,
            tuple(policies),
            version,
            warnings,
        )
        self.actions = catalogue.actions
        self._defaults: dict[str, Any] = {**defaults(), **SCORE_DEFAULTS}
        self._prop_key = tuple(f"propensity_{a.kind}" for a in self.actions)
        self._reject_key = tuple(f"rejects_{a.kind}_30d" for a in self.actions)
        self._base = tuple(a.value * a.lever for a in self.actions)
        by = {
            k: [p for p in policies if p.kind == k]
            for k in (
                "block",
                "gate",
                "suppress",
                "cap",
                "consent",
                "inbound",
                "yield",
                "mandatory",
                "weight",
                "defer",
                "quiet_hours",
            )
        }
        self._blocking = tuple(p for p in policies if p.kind in ("block", "gate", "suppress"))
        self._by = {k: tuple(v) for k, v in by.items()}
        self._consent = tuple((p, frozenset(p.targets)) for p in self._by["consent"])
        self._consent_reason = {p.id: p.reason for p in self._by["consent"]}
        self._caps = tuple((p, frozenset(p.targets)) for p in self._by["cap"])
        self._dept_idx = {
            d: tuple(i for i, a in enumerate(self.actions) if a.department == d)
            for d in catalogue.departments
        }

    @classmethod
    def load(cls, policy_dir: Path = DEFAULT_POLICY_DIR, actions: Path = DEFAULT_ACTIONS) -> PolicySet:
        """Load, compile and statically check; raises :class:`PolicyError` (file, line, reason) on errors."""
        from rules.checks import static_checks

        cat = load_catalogue(actions)
        files = policy_files(policy_dir)
        pols = load_policy_dir(policy_dir, cat, files)
        findings = static_checks(cat, pols)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise PolicyError.of(errors)
        h = hashlib.sha256(cat.text.encode())
        for f in files:
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
        return cls(cat, pols, "p-" + h.hexdigest()[:12], tuple(f for f in findings if f.severity != "error"))

    @cached_property
    def columns(self) -> ColumnEngine:
        """This policy set in column form: a batch of rows decided with numpy (:mod:`rules.columns`)."""
        from rules.columns import ColumnEngine

        return ColumnEngine(self)

    def row(
        self,
        features: Mapping[str, Any] | None,
        scores: Mapping[str, Any] | None,
        ctx: DecisionContext,
        now: datetime,
    ) -> dict[str, Any]:
        """The name -> value row the conditions read (defaults for missing or None values)."""
        known = ctx.features_known and features is not None
        if features and None not in features.values():  # complete rows (derive_frame's): no filtering
            r = {**self._defaults, **features}
        else:
            r = dict(self._defaults)
            if features:
                r.update({k: v for k, v in features.items() if v is not None})
        if scores:
            r.update({k: v for k, v in scores.items() if v is not None})
        local = now.astimezone(_zone(str(r["timezone"])))
        r["inbound_channel"] = ctx.inbound_channel
        r["trigger"] = ctx.trigger
        r["context_known"] = known
        r["local_hour"] = local.hour
        r["local_weekday"] = local.weekday()
        r["__local"] = local
        return r

    def decide(
        self,
        features: Mapping[str, Any] | None,
        scores: Mapping[str, Any] | None,
        context: DecisionContext,
        now: datetime,
    ) -> Decision:
        """Decide for one customer. Never raises on bad inputs: it degrades to a context-free decision."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        try:
            return self._decide(self.row(features, scores, context, now), scores, context, now)
        except (TypeError, ValueError, KeyError, AttributeError):
            safe = DecisionContext(
                context.customer_id,
                context.event_id,
                context.inbound_channel,
                context.trigger,
                False,
                context.action_history,
            )
            return self._decide(self.row(None, None, safe, now), None, safe, now)

    def decide_many(
        self,
        inputs: Iterable[
            tuple[Mapping[str, Any] | None, Mapping[str, Any] | None, DecisionContext, datetime]
        ],
    ) -> list[Decision]:
        """Batch form: one decision per (features, scores, context, now)."""
        return [self.decide(f, s, c, t) for f, s, c, t in inputs]

    def _decide(
        self, r: dict[str, Any], scores: Mapping[str, Any] | None, ctx: DecisionContext, now: datetime
    ) -> Decision:
        acts = self.actions
        n = len(acts)
        blocked: list[tuple[str, str] | None] = [None] * n
        for p in self._blocking:
            if p.kind == "gate":
                if p.requires is None or p.requires.fn(r):
                    continue
            elif p.when is not None and not p.when.fn(r):
                continue
            if p.kind == "suppress":
                for i in p.targets:
                    c = r[self._reject_key[i]]
                    if blocked[i] is None and c >= p.rejects:
                        blocked[i] = (p.id, f"{p.reason} ({c} rejects of {acts[i].kind})")
                continue
            for i in p.targets:
                if blocked[i] is None:
                    blocked[i] = (p.id, p.reason)
        hist = ctx.action_history
        if hist:
            for i, a in enumerate(acts):
                h = hist.get(a.id)
                if h is not None and blocked[i] is None and h < a.cooldown_days * 24:
                    blocked[i] = (
                        "cooldown",
                        f"cool-down: delivered {h:.0f} h ago (min {a.cooldown_days:g} d)",
                    )
        # channel removals, in policy order (the first policy to remove a channel of an action names it):
        # (target indices, removed channels, policy id, reason or None for "<consent reason>: <channel>")
        inbound = ctx.inbound_channel
        removals: list[tuple[frozenset[int], tuple[str, ...], str, str | None]] = []
        for p, tset in self._consent:
            off = tuple(ch for ch, key in _CONSENT if not r[key])
            if off:
                removals.append((tset, off, p.id, None))
        for p, tset in self._caps:
            if r[p.counter] >= p.max and (p.when is None or p.when.fn(r)):
                chans = tuple(ch for ch in ((p.channel,) if p.channel else CHANNELS) if ch != inbound)
                if chans:
                    removals.append((tset, chans, p.id, f"{p.reason} ({r[p.counter]} in a {p.per}, max {p.max})"))
        extra: dict[int, str] = {}
        weight = [1.0] * n
        applied: list[list[str]] = [[] for _ in range(n)]
        if inbound:
            for p in self._by["inbound"]:
                if p.when is None or p.when.fn(r):
                    for i in p.targets:
                        extra[i] = p.id
                        weight[i] *= p.factor
                        applied[i].append(p.id)
        channel: list[str | None] = [None] * n
        pref = r["preferred_channel"]
        for i, a in enumerate(acts):
            if blocked[i] is not None:
                continue
            chans = a.channels if i not in extra or inbound in a.channels else (*a.channels, inbound)
            rm: dict[str, tuple[str, str]] | None = None
            for tset, gone, pid, why in removals:
                if i in tset:
                    for c in chans:
                        if c in gone and (rm is None or c not in rm):
                            if rm is None:
                                rm = {}
                            rm[c] = (pid, why if why is not None else f"{self._consent_reason[pid]}: {c}")
            ok = [c for c in chans if c not in rm] if rm else chans
            if not ok and rm:
                pid = rm[chans[0]][0]
                blocked[i] = (pid, "no allowed channel: " + "; ".join(f"{c}: {rm[c][1]}" for c in chans))
                continue
            channel[i] = inbound if inbound in ok else (pref if pref in ok else ok[0])
        for p in self._by["yield"]:
            if (p.when is None or p.when.fn(r)) and any(blocked[j] is None for j in self._dept_idx[p.to]):
                for i in p.targets:
                    if blocked[i] is None:
                        blocked[i] = (p.id, f"{p.reason} ({p.to} first)")
        mandatory: dict[int, str] = {}
        for p in self._by["mandatory"]:
            if p.when is not None and p.when.fn(r):
                for i in p.targets:
                    mandatory.setdefault(i, p.id)
        for p in self._by["weight"]:
            if p.when is None or p.when.fn(r):
                for i in p.targets:
                    weight[i] *= p.factor
                    applied[i].append(p.id)
        prio = [0.0] * n
        best, best_key = -1, (False, 0.0)
        for i in range(n):
            if blocked[i] is None:
                prio[i] = pr = float(r[self._prop_key[i]]) * weight[i] * self._base[i]
                key = (i in mandatory, pr)
                if (key[0] or pr > 0) and (best < 0 or key > best_key):
                    best, best_key = i, key
        deferred: dict[int, tuple[str, float]] = {}
        for p in self._by["defer"]:
            if p.when is not None and p.when.fn(r):
                for i in p.targets:
                    if i not in deferred or deferred[i][1] < p.hours:
                        deferred[i] = (p.id, p.hours)
        # plain tuples in Candidate's field order (a NamedTuple's constructor costs ~20x a tuple's, ~19 per
        # decision); Decision.candidates gives them as Candidate objects
        cands: list[CandidateRow] = []
        lost_to = f"lower priority than {acts[best].id}" if best >= 0 else ""
        for i, a in enumerate(acts):
            if i == best:
                continue
            b = blocked[i]
            if b is not None:
                cands.append((a.id, a.kind, a.department, "blocked", b[0], b[1], 0.0))
            elif i in deferred:
                pid, hours = deferred[i]
                cands.append((a.id, a.kind, a.department, "deferred", pid,
                              f"deferred {hours:g} h and lower priority", prio[i]))
            else:
                why = "no propensity" if prio[i] <= 0 else lost_to
                cands.append((a.id, a.kind, a.department, "lost", None, why, prio[i]))
        return self._build(
            r, scores, ctx, now, best, channel, mandatory, deferred, weight, prio, applied, cands
        )

    def _build(
        self,
        r: dict[str, Any],
        scores: Mapping[str, Any] | None,
        ctx: DecisionContext,
        now: datetime,
        best: int,
        channel: list[str | None],
        mandatory: dict[int, str],
        deferred: dict[int, tuple[str, float]],
        weight: list[float],
        prio: list[float],
        applied: list[list[str]],
        cands: list[CandidateRow],
    ) -> Decision:
        model_version = str((scores or {}).get("model_version", "none"))
        sc = {"churn_risk": float(r["churn_risk"]), "stage": str(r["stage"])}
        did = decision_id(ctx.customer_id, ctx.event_id, now, self.version, ctx.context_key)
        if best < 0:
            return Decision(
                did,
                ctx.customer_id,
                now,
                ctx.event_id,
                ctx.trigger,
                None,
                None,
                None,
                None,
                None,
                now,
                False,
                NO_ACTION,
                (),
                {},
                sc,
                model_version,
                self.version,
                bool(r["context_known"]),
                tuple(cands),
            )
        a = self.actions[best]
        ch = channel[best]
        send_at = now
        why: list[str] = []
        used = list(applied[best])
        if best in mandatory:
            used.insert(0, mandatory[best])
        if best in deferred:
            pid, hours = deferred[best]
            send_at = now + timedelta(hours=hours)
            used.append(pid)
        if ch != ctx.inbound_channel:
            for p in self._by["quiet_hours"]:
                if (
                    best in p.targets
                    and (not p.channels or ch in p.channels)
                    and (p.when is None or p.when.fn(r))
                ):
                    local = send_at.astimezone(r["__local"].tzinfo)
                    until = _quiet_until(local, p.start_min, p.end_min)
                    if until is not None:
                        send_at = until.astimezone(UTC)
                        used.append(p.id)
        why.append(f"mandatory ({mandatory[best]})" if best in mandatory else "highest priority")
        comps = {
            "propensity": float(r[self._prop_key[best]]),
            "context_weight": weight[best],
            "value": a.value,
            "lever": a.lever,
            "priority": prio[best],
        }
        return Decision(
            did,
            ctx.customer_id,
            now,
            ctx.event_id,
            ctx.trigger,
            a.id,
            a.kind,
            a.department,
            ch,
            a.format,
            send_at,
            best in mandatory,
            "; ".join(why),
            tuple(used),
            comps,
            sc,
            model_version,
            self.version,
            bool(r["context_known"]),
            tuple(cands),
        )
