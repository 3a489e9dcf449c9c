"""Errors and findings of the policy compiler, each naming a file, a line and the reason.

>>> print(PolicyError("rules/policies/a.yaml", 7, "unknown name 'foo'"))
rules/policies/a.yaml:7: unknown name 'foo'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Finding:
    """One problem found while loading or checking policies."""

    file: str
    line: int
    reason: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}: {tag}{self.reason}"


class PolicyError(Exception):
    """A policy or catalogue file was rejected; ``findings`` holds every problem (file, line, reason).

    >>> e = PolicyError("a.yaml", 3, "bad")
    >>> (e.file, e.line, e.reason)
    ('a.yaml', 3, 'bad')
    """

    def __init__(self, file: str, line: int, reason: str, findings: list[Finding] | None = None) -> None:
        self.findings: list[Finding] = findings or [Finding(file, line, reason)]
        first = self.findings[0]
        self.file, self.line, self.reason = first.file, first.line, first.reason
        super().__init__("\n".join(str(f) for f in self.findings))

    @classmethod
    def of(cls, findings: list[Finding]) -> PolicyError:
        """One error carrying several findings (the first names file, line and reason)."""
        if not findings:
            raise ValueError("PolicyError.of needs at least one finding")
        f = findings[0]
        return cls(f.file, f.line, f.reason, findings)
