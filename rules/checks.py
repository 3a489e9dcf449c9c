"""Static checks run at load time, each finding naming file and line.

- **contradiction**: a ``mandatory`` policy requires an action that a ``block``/``gate`` policy blocks under a
  condition that may hold at the same time. Conditions are turned into disjunctions of boxes (per-name
  intervals and value sets from comparisons with literals); two conditions "may overlap" unless every pair of
  boxes is provably disjoint. Parts that cannot be analysed (arithmetic, name-to-name comparisons) count as
  "may be true", so the check can report a contradiction that domain knowledge rules out (it never misses one
  between analysable conditions). Rewrite the conditions so the exclusion is explicit to silence it.
- **unreachable action**: blocked by an unconditional block, a gate whose requirement can never hold, or every
  channel removed by an unconditional cap with ``max: 0``.
- **mandatory blocked by a cap**: a cap that applies to a mandatory action on every channel it can use.
- **never fires** (warning): a policy whose condition can never be true.

>>> from rules.catalogue import load_catalogue
>>> from rules.policies import DEFAULT_POLICY_DIR, load_policy_dir
>>> cat = load_catalogue()
>>> static_checks(cat, load_policy_dir(DEFAULT_POLICY_DIR, cat))
[]
"""

from __future__ import annotations

from rules.catalogue import Catalogue
from rules.errors import Finding
from rules.expr import Condition, _not_dnf, may_overlap, satisfiable
from rules.policies import Policy


def _blocking_condition(p: Policy) -> Condition | bool | None:
    """The condition under which ``p`` blocks its targets (None = always), False when it never blocks."""
    if p.kind == "block":
        return p.when
    if p.kind == "gate" and p.requires is not None:
        r = p.requires
        return Condition(f"not ({r.source})", lambda row: not r.fn(row), r.names, _not_dnf(r.dnf))
    return False


def static_checks(cat: Catalogue, policies: list[Policy]) -> list[Finding]:
    """Every finding for one policy set (errors and warnings)."""
    out: list[Finding] = []
    acts = cat.actions
    for p in policies:
        for name, c in (("when", p.when), ("requires", p.requires)):
            if c is not None and not satisfiable(c):
                out.append(
                    Finding(
                        p.file,
                        p.line,
                        f"policy {p.id}: {name} can never be true: {c.source!r}",
                        "warning" if name == "when" else "error",
                    )
                )
    mandatory = [p for p in policies if p.kind == "mandatory"]
    blockers = [(p, _blocking_condition(p)) for p in policies]
    for m in mandatory:
        for b, cond in blockers:
            if cond is False:
                continue
            common = sorted(set(m.targets) & set(b.targets))
            if common and may_overlap(m.when, cond if isinstance(cond, Condition) else None):
                ids = ", ".join(acts[i].id for i in common)
                out.append(
                    Finding(
                        m.file,
                        m.line,
                        f"contradiction: policy {m.id} requires {ids} but policy {b.id} ({b.where}) "
                        f"blocks it under an overlapping condition",
                    )
                )
        for cap in (p for p in policies if p.kind == "cap"):
            for i in sorted(set(m.targets) & set(cap.targets)):
                a = acts[i]
                if cap.channel is None or set(a.channels) <= {cap.channel}:
                    out.append(
                        Finding(
                            cap.file,
                            cap.line,
                            f"mandatory action {a.id} (required by {m.id}, {m.where}) can be blocked "
                            f"by cap {cap.id}: exclude it from the cap's actions",
                        )
                    )
    for i, a in enumerate(acts):
        reason = None
        for p, cond in blockers:
            if cond is False or i not in p.targets:
                continue
            if cond is None or (isinstance(cond, Condition) and cond.constant is True):
                reason = f"always blocked by policy {p.id} ({p.where})"
                break
        if reason is None:
            dead = set()
            for p in policies:
                if p.kind == "cap" and p.max == 0 and p.when is None and i in p.targets:
                    dead |= {p.channel} if p.channel else set(a.channels)
            if set(a.channels) <= dead:
                reason = "every channel is removed by an unconditional cap with max 0"
        if reason:
            out.append(Finding(cat.file, a.line, f"action {a.id} can never be chosen: {reason}"))
    return out
