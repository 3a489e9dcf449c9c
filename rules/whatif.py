"""What-if replay: run the same decision inputs through policy sets A and B and report the differences.

An input table has one row per customer x moment: feature columns, score columns and context columns
(``customer_id``, optional ``event_id``, ``inbound_channel``, ``trigger``, ``features_known`` and
``decided_at``, a timezone-aware timestamp; rows without one use ``now``).

>>> from rules.engine import PolicySet
>>> from rules.testing import random_inputs
>>> ps = PolicySet.load()
>>> rep = compare(ps, ps, random_inputs(50, seed=3), now=NOON)
>>> rep.changed, rep.total
(0, 50)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rules.decision import Decision
from rules.engine import PolicySet
from rules.inputs import split_row
from rules.testing import NOON

NO_ACTION = "(no action)"

__all__ = ["NOON", "WhatIfReport", "compare", "load_inputs", "replay"]


@dataclass
class WhatIfReport:
    """Differences between two policy sets over the same inputs."""

    version_a: str
    version_b: str
    total: int = 0
    changed: int = 0
    actions_a: Counter[str] = field(default_factory=Counter)
    actions_b: Counter[str] = field(default_factory=Counter)
    blocked_a: Counter[str] = field(default_factory=Counter)
    blocked_b: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        keys = sorted(set(self.actions_a) | set(self.actions_b))
        pols = sorted(set(self.blocked_a) | set(self.blocked_b))
        return {
            "version_a": self.version_a,
            "version_b": self.version_b,
            "total": self.total,
            "changed": self.changed,
            "actions": {k: {"a": self.actions_a[k], "b": self.actions_b[k]} for k in keys},
            "blocked_by_policy": {p: {"a": self.blocked_a[p], "b": self.blocked_b[p]} for p in pols},
            "transitions": [{"a": a, "b": b, "count": n} for (a, b), n in self.transitions.most_common()],
            "examples": self.examples,
        }

    def format(self) -> str:
        """A plain-text table for the terminal."""
        d = self.to_dict()
        out = [
            f"what-if: A={self.version_a} B={self.version_b}: {self.changed} of {self.total} decisions differ",
            "",
            f"{'action':32} {'A':>8} {'B':>8} {'B-A':>8}",
        ]
        for k, v in d["actions"].items():
            out.append(f"{k:32} {v['a']:>8} {v['b']:>8} {v['b'] - v['a']:>+8}")
        out += ["", f"{'candidates blocked by policy':32} {'A':>8} {'B':>8} {'B-A':>8}"]
        for k, v in d["blocked_by_policy"].items():
            out.append(f"{k:32} {v['a']:>8} {v['b']:>8} {v['b'] - v['a']:>+8}")
        if self.transitions:
            out += ["", "most common changes (A -> B):"]
            out += [f"  {t['a']} -> {t['b']}: {t['count']}" for t in d["transitions"][:10]]
        if self.examples:
            out += ["", "example customers:"]
            out += [f"  {e['customer_id']}: {e['a']} -> {e['b']} ({e['why_b']})" for e in self.examples]
        return "\n".join(out)


def _moment(row: Mapping[str, Any], now: datetime | None) -> datetime:
    t = row.get("decided_at")
    if t is not None and hasattr(t, "to_pydatetime"):
        t = t.to_pydatetime()
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError("decided_at must be timezone-aware")
        return t
    if now is None:
        raise ValueError("row without decided_at and no default time given")
    return now


def replay(ps: PolicySet, rows: Iterable[Mapping[str, Any]], now: datetime | None = None) -> list[Decision]:
    """Decide every row with one policy set."""
    return [ps.decide(*split_row(r), _moment(r, now)) for r in rows]


def _why(d: Decision, action_id: str | None) -> str:
    if d.action_id is not None:
        return d.reason if not d.applied else f"{d.reason}; {', '.join(d.applied)}"
    return "no allowed action"


def compare(
    a: PolicySet, b: PolicySet, rows: Iterable[Mapping[str, Any]], now: datetime | None = None, examples: int = 5
) -> WhatIfReport:
    """Replay ``rows`` through ``a`` and ``b``; count actions, blocking policies and changed decisions."""
    rep = WhatIfReport(a.version, b.version)
    for r in rows:
        f, s, c = split_row(r)
        t = _moment(r, now)
        da, db = a.decide(f, s, c, t), b.decide(f, s, c, t)
        ka, kb = da.action_id or NO_ACTION, db.action_id or NO_ACTION
        rep.total += 1
        rep.actions_a[ka] += 1
        rep.actions_b[kb] += 1
        rep.blocked_a.update(x.policy for x in da.candidates if x.status == "blocked" and x.policy)
        rep.blocked_b.update(x.policy for x in db.candidates if x.status == "blocked" and x.policy)
        if (ka, da.channel, da.send_at) != (kb, db.channel, db.send_at):
            rep.changed += 1
            rep.transitions[(ka, kb)] += 1
            if len(rep.examples) < examples:
                lost = next((x for x in db.candidates if x.action_id == ka), None)
                rep.examples.append(
                    {
                        "customer_id": c.customer_id,
                        "a": ka,
                        "b": kb,
                        "why_b": (
                            f"{ka} {lost.status} by {lost.policy}: {lost.reason}"
                            if lost and lost.policy
                            else _why(db, db.action_id)
                        ),
                    }
                )
    return rep


def load_inputs(path: Path) -> list[dict[str, Any]]:
    """Read an input table (Parquet, CSV or JSON lines) as a list of row dicts."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        df = pd.read_parquet(path)
    elif suffix == ".csv":
        df = pd.read_csv(path)
    elif suffix in (".jsonl", ".ndjson"):
        df = pd.read_json(path, lines=True)
    else:
        raise ValueError(f"unsupported input format {suffix!r}: use .parquet, .csv or .jsonl")
    if "decided_at" in df.columns:
        df["decided_at"] = pd.to_datetime(df["decided_at"], utc=True)
    return df.to_dict("records")
