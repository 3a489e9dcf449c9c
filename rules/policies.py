"""Policy files (``rules/policies/*.yaml``): schema-validated, compiled against the known names at load time.

Policy kinds (see ``docs/decisions.md`` for the full reference):

==============  ==========================================================================================
``block``       while ``when`` holds (always if absent) the selected actions are not allowed
``gate``        the selected actions are allowed only when ``requires`` holds (a prerequisite)
``mandatory``   while ``when`` holds the selected actions must be done: they win arbitration over the rest
``weight``      while ``when`` holds multiply the context weight of the selected actions by ``factor``
``cap``         contact cap: at most ``max`` deliveries per ``day``/``week`` on ``channel`` (or overall)
``suppress``    block an action when the customer rejected ``rejects`` or more actions of its kind in 30 days
``quiet_hours`` no delivery on ``channels`` between ``start`` and ``end`` local time: defer to ``end``
``defer``       while ``when`` holds defer the selected actions by ``hours`` ("not now, tell them tomorrow")
``consent``     never use a channel the customer opted out of (``consent_<channel>`` false)
``inbound``     the customer contacts us (``inbound_channel``): the selected actions may use that channel too
``yield``       department conflict: ``departments`` yield to ``to`` when ``to`` has an allowed candidate
==============  ==========================================================================================

>>> from rules.catalogue import load_catalogue
>>> ps = load_policy_dir(DEFAULT_POLICY_DIR, load_catalogue())
>>> sorted({p.kind for p in ps}) == sorted(KINDS)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.catalogue import Catalogue
from rules.errors import Finding, PolicyError
from rules.expr import Condition, ExprError, compile_condition
from rules.schema import validate
from rules.yamlload import YamlDoc, load_file

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent / "policies"
KINDS: tuple[str, ...] = (
    "block",
    "gate",
    "mandatory",
    "weight",
    "cap",
    "suppress",
    "quiet_hours",
    "defer",
    "consent",
    "inbound",
    "yield",
)
_DEFAULT_REASON = {
    "block": "blocked",
    "gate": "prerequisite not met",
    "mandatory": "required",
    "weight": "weighted",
    "cap": "contact cap reached",
    "suppress": "too many recent rejects",
    "quiet_hours": "quiet hours",
    "defer": "deferred",
    "consent": "no consent for the channel",
    "inbound": "inbound opportunity",
    "yield": "department yields",
}


@dataclass(frozen=True)
class Policy:
    """One compiled policy; ``targets`` are indexes into the catalogue's actions."""

    id: str
    kind: str
    file: str
    line: int
    reason: str
    targets: tuple[int, ...]
    when: Condition | None = None
    requires: Condition | None = None
    factor: float = 1.0
    channel: str | None = None
    max: int = 0
    per: str = "week"
    counter: str = ""  # the feature a cap reads
    rejects: int = 0
    start_min: int = 0
    end_min: int = 0
    channels: frozenset[str] = field(default_factory=frozenset)
    hours: float = 0.0
    departments: frozenset[str] = field(default_factory=frozenset)
    to: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _select(
    sel: dict[str, Any] | None, cat: Catalogue, doc: YamlDoc, path: tuple[str | int, ...]
) -> tuple[int, ...]:
    if sel is None or sel.get("all"):
        return tuple(range(len(cat.actions)))
    ids, kinds, depts = set(sel.get("ids", [])), set(sel.get("kinds", [])), set(sel.get("departments", []))
    known_kinds = {a.kind for a in cat.actions}
    for key, values, known in (
        ("ids", ids, set(cat.by_id)),
        ("kinds", kinds, known_kinds),
        ("departments", depts, set(cat.departments)),
    ):
        bad = sorted(values - known)
        if bad:
            raise doc.error(
                (*path, key),
                f"unknown {key[:-1] if key != 'ids' else 'action id'} {bad[0]!r} "
                f"(known: {', '.join(sorted(known))})",
            )
    return tuple(
        i for i, a in enumerate(cat.actions) if a.id in ids or a.kind in kinds or a.department in depts
    )


def _cond(
    raw: dict[str, Any], key: str, doc: YamlDoc, path: tuple[str | int, ...], pid: str
) -> Condition | None:
    src = raw.get(key)
    if src is None:
        return None
    try:
        return compile_condition(str(src))
    except ExprError as exc:
        raise doc.error(
            (*path, key), f"policy {pid}: {key}: {exc.reason} (column {exc.col} of {src!r})"
        ) from None


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _compile(raw: dict[str, Any], i: int, doc: YamlDoc, cat: Catalogue) -> Policy:
    path: tuple[str | int, ...] = ("policies", i)
    kind, pid = raw["kind"], raw["id"]
    kw: dict[str, Any] = {
        "id": pid,
        "kind": kind,
        "file": doc.file,
        "line": doc.line(path),
        "reason": raw.get("reason", _DEFAULT_REASON[kind]),
        "targets": _select(raw.get("actions"), cat, doc, (*path, "actions")),
        "when": _cond(raw, "when", doc, path, pid),
        "requires": _cond(raw, "requires", doc, path, pid),
    }
    if kind in ("weight", "inbound"):
        kw["factor"] = float(raw.get("factor", 1.0))
    if kind == "cap":
        ch, per = raw.get("channel"), raw["per"]
        window = "24h" if per == "day" else "7d"
        kw.update(
            channel=ch,
            max=int(raw["max"]),
            per=per,
            counter=f"contacts_{ch}_{window}" if ch else f"contacts_{window}",
        )
    if kind == "suppress":
        kw["rejects"] = int(raw["rejects"])
    if kind == "quiet_hours":
        kw.update(
            start_min=_minutes(raw["start"]),
            end_min=_minutes(raw["end"]),
            channels=frozenset(raw.get("channels", ())),
        )
        if kw["start_min"] == kw["end_min"]:
            raise doc.error((*path, "end"), f"policy {pid}: quiet hours start and end are equal")
    if kind == "defer":
        kw["hours"] = float(raw["hours"])
    if kind == "yield":
        depts = set(raw["departments"]) | {raw["to"]}
        bad = sorted(depts - cat.departments)
        if bad:
            raise doc.error(
                (*path, "departments"),
                f"policy {pid}: unknown department {bad[0]!r} (known: {', '.join(sorted(cat.departments))})",
            )
        if raw["to"] in raw["departments"]:
            raise doc.error((*path, "to"), f"policy {pid}: a department cannot yield to itself")
        kw.update(
            departments=frozenset(raw["departments"]),
            to=raw["to"],
            targets=tuple(j for j, a in enumerate(cat.actions) if a.department in raw["departments"]),
        )
    if kind in ("block", "gate", "mandatory", "weight", "defer", "inbound") and not kw["targets"]:
        raise doc.error((*path, "actions"), f"policy {pid}: selects no action")
    return Policy(**kw)


def load_policy_file(path: Path, cat: Catalogue) -> list[Policy]:
    """Load one policy file; every error names file, line and reason."""
    doc = load_file(path)
    if doc.data is None:
        raise PolicyError(doc.file, 1, "empty policy file")
    validate(doc, "policies")
    return [_compile(raw, i, doc, cat) for i, raw in enumerate(doc.data["policies"])]


def policy_files(directory: Path) -> list[Path]:
    """The policy files of a directory, in name order (the order policies are applied and reported)."""
    if not directory.is_dir():
        raise PolicyError(str(directory), 1, "not a directory")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_policy_dir(directory: Path, cat: Catalogue, files: Iterable[Path] | None = None) -> list[Policy]:
    """Load every policy file of ``directory``; collects the errors of all files before raising."""
    findings: list[Finding] = []
    out: list[Policy] = []
    seen: dict[str, Policy] = {}
    for path in files if files is not None else policy_files(directory):
        try:
            pols = load_policy_file(path, cat)
        except PolicyError as exc:
            findings.extend(exc.findings)
            continue
        for p in pols:
            if p.id in seen:
                findings.append(
                    Finding(p.file, p.line, f"duplicate policy id {p.id!r} (first at {seen[p.id].where})")
                )
            seen[p.id] = p
            out.append(p)
    if findings:
        raise PolicyError.of(findings)
    return out
