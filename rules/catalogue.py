"""The action catalogue (``rules/actions.yaml``): what each department may do, where, for what value.

>>> cat = load_catalogue()
>>> len(cat.actions) >= 20 and {a.kind for a in cat.actions} >= {"marketing", "greeting", "agent_call"}
True
>>> cat.by_id["svc_free_service"].department
'service'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rules.errors import Finding, PolicyError
from rules.schema import validate
from rules.yamlload import load_file

DEFAULT_ACTIONS = Path(__file__).resolve().parent / "actions.yaml"


@dataclass(frozen=True)
class Action:
    """One action of the catalogue."""

    id: str
    department: str
    kind: str
    channels: tuple[str, ...]
    value: float
    lever: float
    cooldown_days: float
    format: str
    file: str
    line: int


@dataclass(frozen=True)
class Catalogue:
    actions: tuple[Action, ...]
    file: str
    text: str

    @property
    def by_id(self) -> dict[str, Action]:
        return {a.id: a for a in self.actions}

    @property
    def departments(self) -> frozenset[str]:
        return frozenset(a.department for a in self.actions)


def load_catalogue(path: Path = DEFAULT_ACTIONS) -> Catalogue:
    """Load and validate the catalogue; errors name file, line and reason."""
    doc = load_file(path)
    validate(doc, "actions")
    actions: list[Action] = []
    seen: dict[str, int] = {}
    findings: list[Finding] = []
    for i, raw in enumerate(doc.data["actions"]):
        line = doc.line(("actions", i))
        if raw["id"] in seen:
            findings.append(
                Finding(
                    doc.file, line, f"duplicate action id {raw['id']!r} (first on line {seen[raw['id']]})"
                )
            )
            continue
        seen[raw["id"]] = line
        actions.append(
            Action(
                id=raw["id"],
                department=raw["department"],
                kind=raw["kind"],
                channels=tuple(raw["channels"]),
                value=float(raw["value"]),
                lever=float(raw.get("lever", 1.0)),
                cooldown_days=float(raw.get("cooldown_days", 0)),
                format=str(raw.get("format", "")),
                file=doc.file,
                line=line,
            )
        )
    if findings:
        raise PolicyError.of(findings)
    return Catalogue(tuple(actions), doc.file, path.read_text(encoding="utf-8"))
