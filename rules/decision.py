"""Decisions and their published record (schema: ``rules/schemas/decision.json``).

>>> from datetime import UTC, datetime
>>> rfc3339(datetime(2026, 11, 24, 9, 30, 0, 123456, tzinfo=UTC))
'2026-11-24T09:30:00.123Z'
>>> decision_id("c1", "evt-9", None, "p1") == decision_id("c1", "evt-9", None, "p1")
True
>>> len(decision_id("c1", None, datetime(2026, 11, 24, tzinfo=UTC), "p1"))
32
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

#: 2: ``candidates`` grouped by status, blocked ones by policy and reason, without the catalogue's kind and
#: department of each (version 1 repeated them per candidate: ~4.2 of a record's ~4.9 kB, the largest byte stream
#: of the whole pipeline).
SCHEMA_VERSION = 2


def rfc3339(ts: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``; naive datetimes are rejected."""
    if ts.tzinfo is None:
        raise ValueError("timezone-aware datetime required")
    u = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
    return u.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"  # truncates to ms, like strftime


def decision_id(
    customer_id: str, event_id: str | None, decided_at: datetime | str | None, policy_version: str,
    context_key: str = "",
) -> str:
    """Deterministic id: a replay of the same trigger under the same policies yields the same id.

    ``decided_at`` is a time or its :func:`rfc3339` text (what a batch path has already formatted).

    ``context_key`` tells apart decisions without an event id made at the same event time on different contexts
    (two coalesced windows of one customer can end with events of the same millisecond): without it a reader
    de-duplicating on the id would drop one of them.

    >>> t = datetime(2026, 11, 24, tzinfo=UTC)
    >>> decision_id("c1", None, t, "p1", "a") != decision_id("c1", None, t, "p1", "b")
    True
    >>> decision_id("c1", None, t, "p1") == decision_id("c1", None, t, "p1", "") == decision_id("c1", None,
    ...     "2026-11-24T00:00:00.000Z", "p1")
    True
    """
    if event_id:
        anchor = f"e:{event_id}"
    elif decided_at is not None:
        anchor = f"t:{decided_at if isinstance(decided_at, str) else rfc3339(decided_at)}"
    else:
        raise ValueError("decision_id needs an event id or a decision time")
    if context_key:
        anchor += f"|k:{context_key}"
    return hashlib.sha256(f"{customer_id}|{anchor}|{policy_version}".encode()).hexdigest()[:32]


#: The reason of a decision without a chosen action.
NO_ACTION = "no allowed action with a positive priority"

#: A candidate as the engine builds it: a plain tuple in :class:`Candidate`'s field order (action_id, kind,
#: department, status, policy, reason, priority).
CandidateRow = tuple[str, str, str, str, str | None, str, float]

#: (doctests) a decision time
_T = datetime(2026, 11, 24, tzinfo=UTC)


class Candidate(NamedTuple):
    """A candidate that was not chosen: status lost, blocked or deferred, with the policy and reason.

    An immutable named tuple (about 20 per decision: cheaper to build than a frozen dataclass).

    >>> Candidate("a1", "marketing", "mkt", "lost", None, "no propensity", 0.1234567).status
    'lost'
    """

    action_id: str
    kind: str
    department: str
    status: str  # lost | blocked | deferred
    policy: str | None
    reason: str
    priority: float


def round6(x: float) -> float:
    """``x`` to 6 decimals as ``numpy.rint(x * 1e6) / 1e6`` gives it (the column path rounds whole matrices that
    way; Python's ``round(x, 6)`` can differ in the last digit); ints, zeros and non-finite values unchanged.

    >>> round6(0.1234567), round6(2), round6(-1e-7), round6(float("inf"))
    (0.123457, 2, -0.0, inf)
    """
    if not x or isinstance(x, int) or not math.isfinite(x):
        return x
    return math.copysign(round(x * 1e6), x) / 1e6


def candidate_records(candidates: Iterable[CandidateRow]) -> dict[str, list[dict[str, Any]]]:
    """The published ``candidates`` object: ``blocked`` grouped by policy and reason (the actions in catalogue
    order), ``deferred`` and ``lost`` one entry each with their priority (rounded to 6 digits). An action's kind
    and department are the catalogue's (``rules/actions.yaml``), identified by ``policy_version``.

    >>> r = candidate_records((Candidate("a1", "marketing", "mkt", "blocked", "p", "why", 0.0),
    ...                        Candidate("a2", "upsell", "sales", "blocked", "p", "why", 0.0),
    ...                        Candidate("a3", "service", "svc", "lost", None, "lower priority than a0", 0.1234567)))
    >>> r["blocked"]
    [{'policy': 'p', 'reason': 'why', 'actions': ['a1', 'a2']}]
    >>> r["lost"][0]["priority"], r["deferred"]
    (0.123457, [])
    """
    blocked: dict[tuple[str | None, str], list[str]] = {}
    deferred: list[dict[str, Any]] = []
    lost: list[dict[str, Any]] = []
    for a, _kind, _dep, st, pol, why, p in candidates:
        if st == "blocked":
            blocked.setdefault((pol, why), []).append(a)
        elif st == "deferred":
            deferred.append({"action_id": a, "policy": pol, "reason": why, "priority": round6(p)})
        else:
            lost.append({"action_id": a, "reason": why, "priority": round6(p)})
    return {
        "blocked": [{"policy": pol, "reason": why, "actions": acts} for (pol, why), acts in blocked.items()],
        "deferred": deferred,
        "lost": lost,
    }


def blocked_by_policy(candidates: Iterable[dict[str, Any]]) -> Counter[str]:
    """Blocked actions by policy over the ``candidates`` objects of published records.

    >>> blocked_by_policy([{"blocked": [{"policy": "p", "reason": "x", "actions": ["a", "b"]}]},
    ...                    {"blocked": [{"policy": "p", "reason": "y", "actions": ["c"]}]}])
    Counter({'p': 3})
    """
    out: Counter[str] = Counter()
    for cands in candidates:
        for g in cands["blocked"]:
            out[g["policy"]] += len(g["actions"])
    return out


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one decision: the chosen action (or None), channel, send time, why, and every loser."""

    decision_id: str
    customer_id: str
    decided_at: datetime
    event_id: str | None
    trigger: str
    action_id: str | None
    action_kind: str | None
    department: str | None
    channel: str | None
    format: str | None
    send_at: datetime
    mandatory: bool
    reason: str
    applied: tuple[str, ...]
    components: dict[str, float]
    scores: dict[str, Any]
    model_version: str
    policy_version: str
    context_known: bool
    #: the candidates that were not chosen, as plain tuples in :class:`Candidate`'s field order (the engine builds
    #: ~19 per decision; see :attr:`candidates` for them as named tuples)
    candidate_rows: tuple[CandidateRow, ...] = field(default_factory=tuple)

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The candidates that were not chosen (lost, blocked or deferred), in catalogue order.

        >>> d = Decision("d", "c", _T, None, "", None, None, None, None, None, _T, False, "", (), {}, {}, "m", "p",
        ...              True, (("a1", "marketing", "mkt", "blocked", "p", "why", 0.0),))
        >>> d.candidates[0].status, d.candidates[0].policy
        ('blocked', 'p')
        """
        return tuple(map(Candidate._make, self.candidate_rows))

    @property
    def deferred(self) -> bool:
        return self.send_at > self.decided_at

    def to_record(self) -> dict[str, Any]:
        """The published record (a JSON-able dict) described by ``rules/schemas/decision.json``.

        Candidates go through :func:`candidate_records`.
        """
        decided = rfc3339(self.decided_at)
        return {
            "schema_version": SCHEMA_VERSION,
            "decision_id": self.decision_id,
            "customer_id": self.customer_id,
            "decided_at": decided,
            "event_id": self.event_id,
            "trigger": self.trigger,
            "action_id": self.action_id,
            "action_kind": self.action_kind,
            "department": self.department,
            "channel": self.channel,
            "format": self.format,
            "send_at": decided if self.send_at == self.decided_at else rfc3339(self.send_at),
            "deferred": self.deferred,
            "mandatory": self.mandatory,
            "reason": self.reason,
            "applied_policies": list(self.applied),
            "components": {k: round6(v) for k, v in self.components.items()},
            "scores": self.scores,
            "model_version": self.model_version,
            "policy_version": self.policy_version,
            "context_known": self.context_known,
            "candidates": candidate_records(self.candidate_rows),
        }

    def to_json(self) -> bytes:
        """The record as compact UTF-8 JSON bytes (the Kafka message value)."""
        return json.dumps(self.to_record(), separators=(",", ":"), allow_nan=False).encode()
