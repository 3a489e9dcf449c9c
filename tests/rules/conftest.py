"""Fixtures for the rules tests: the shipped policy set and a ``decide`` shortcut on a baseline customer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from rules.decision import Decision
from rules.engine import DecisionContext, PolicySet
from rules.testing import NOON, base_features, base_scores


@pytest.fixture(scope="session")
def policy_set() -> PolicySet:
    return PolicySet.load()


@pytest.fixture
def decide(policy_set: PolicySet) -> Callable[..., Decision]:
    def run(
        features: dict[str, Any] | None = None,
        scores: dict[str, Any] | None = None,
        now: datetime = NOON,
        **ctx: Any,
    ) -> Decision:
        ctx.setdefault("customer_id", "c-1")
        return policy_set.decide(
            base_features(**(features or {})), base_scores(**(scores or {})), DecisionContext(**ctx), now
        )

    return run
