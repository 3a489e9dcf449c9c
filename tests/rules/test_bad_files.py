"""Bad policy files of every kind are rejected with file, line and reason (data in tests/rules/data/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.catalogue import load_catalogue
from rules.engine import PolicySet
from rules.errors import PolicyError

DATA = Path(__file__).resolve().parent / "data"


def expected_location(case: str) -> tuple[str, int]:
    """The file and line carrying the ``# expect-error`` marker."""
    for f in sorted((DATA / case).glob("*.yaml")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if "# expect-error" in line:
                return str(f), n
    raise AssertionError(f"no marker in {case}")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("bad_yaml", "bad YAML"),
        ("schema_unknown_key", "unexpected key 'whne'"),
        ("schema_missing", "'max' is a required property"),
        ("unknown_name", "unknown name 'days_in_crysis'"),
        ("type_error", "cannot compare bool with num"),
        ("not_boolean", "a condition must be true or false"),
        ("unknown_stage", "'crisis' is not a known value of stage"),
        ("unknown_action", "unknown action id 'svc_free_servise'"),
        ("code_injection", "unsupported syntax: Call"),
        ("duplicate_id", "duplicate policy id 'same'"),
        ("duplicate_key", "duplicate key 'when'"),
        ("contradiction", "contradiction: policy free_service_in_crisis requires svc_free_service"),
        ("cap_blocks_mandatory", "mandatory action svc_agent_callback"),
        ("bad_quiet", "does not match"),
    ],
)
def test_bad_policy_file_is_rejected_with_file_line_reason(case: str, reason: str) -> None:
    with pytest.raises(PolicyError) as err:
        PolicySet.load(DATA / case)
    file, line = expected_location(case)
    hits = [f for f in err.value.findings if reason in f.reason]
    assert hits, f"{reason!r} not in {err.value}"
    assert (hits[0].file, hits[0].line) == (file, line), str(err.value)
    assert f"{Path(file).name}:{line}:" in str(err.value)


def test_contradiction_check_accepts_disjoint_conditions() -> None:
    with pytest.raises(PolicyError) as err:
        PolicySet.load(DATA / "contradiction")
    assert not any("disjoint_is_fine" in f.reason for f in err.value.findings)
    assert any("no_service_while_at_risk" in f.reason for f in err.value.findings)


def test_unreachable_action_is_reported_at_the_catalogue_line() -> None:
    with pytest.raises(PolicyError) as err:
        PolicySet.load(DATA / "unreachable")
    greeting = load_catalogue().by_id["store_usual_order_greeting"]
    f = next(f for f in err.value.findings if "can never be chosen" in f.reason)
    assert (f.file, f.line) == (greeting.file, greeting.line)
    assert "never_greet" in f.reason
    assert str(DATA / "unreachable" / "p.yaml") in f.reason


def test_bad_catalogue_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "actions.yaml"
    bad.write_text("actions:\n  - {id: a, department: d, kind: marketing, channels: [fax], value: 1}\n")
    with pytest.raises(PolicyError) as err:
        load_catalogue(bad)
    assert err.value.line == 2
    assert "fax" in err.value.reason
