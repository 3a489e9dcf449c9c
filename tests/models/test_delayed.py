"""No leakage: a churn label trains only on the features logged at its prediction time."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from models.churn import ChurnModel
from models.delayed import DAY_MS, DelayedLabelLearner


class SpyModel(ChurnModel):
    """Records every example it learns (features + label)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[dict[str, Any], bool]] = []

    def learn_many(self, X: pd.DataFrame, y: pd.Series) -> None:
        self.seen.extend(zip(X.to_dict("records"), [bool(v) for v in y], strict=True))
        super().learn_many(X, y)


def test_label_trains_on_features_at_prediction_time_not_later() -> None:
    spy = SpyModel()
    d = DelayedLabelLearner(spy, learn_batch=1, min_gap_ms=DAY_MS)
    x = {"cancel_page_visits_7d": 1, "clicks_7d": 5}
    d.score_one("c1", 0, x)
    # the caller's dict changes afterwards (the context moved on): the log must keep the old values
    x["cancel_page_visits_7d"] = 9
    d.score_one("c1", 2 * DAY_MS, {"cancel_page_visits_7d": 7, "clicks_7d": 0})
    d.score_one("c1", 10 * DAY_MS, {"cancel_page_visits_7d": 99, "clicks_7d": 0})  # after the churn: never labelled
    d.on_outcome("c1", 5 * DAY_MS, "churned")
    assert [(s["cancel_page_visits_7d"], y) for s, y in spy.seen] == [(1, True), (7, True)]
    assert d.n_pending == 1  # the score after the outcome stays pending, untouched by the earlier outcome


def test_no_learned_example_uses_features_from_after_its_prediction_time() -> None:
    """Scores every day with a feature that encodes the day; every learnt example must carry its own day."""
    spy = SpyModel()
    d = DelayedLabelLearner(spy, learn_batch=7, min_gap_ms=DAY_MS, window_ms=10 * DAY_MS, grace_ms=0)
    d.keep_learned_keys = True
    for day in range(40):
        for c in ("a", "b"):
            d.score_one(c, day * DAY_MS, {"tenure_days": float(day)})
        if day == 25:
            d.on_outcome("a", day * DAY_MS + 1, "churned")
        d.advance(day * DAY_MS)
    d.flush()
    assert len(spy.seen) == len(d.learned_keys) > 20
    for (features, label), (cid, ts) in zip(spy.seen, d.learned_keys, strict=True):
        assert features["tenure_days"] == ts / DAY_MS  # the features of the prediction time, never later ones
        if label:
            assert cid == "a"
            assert 25 * DAY_MS - 10 * DAY_MS <= ts <= 25 * DAY_MS
    positives = {ts // DAY_MS for (f, y), (c, ts) in zip(spy.seen, d.learned_keys, strict=True) if y}
    assert positives == set(range(16, 26))


def test_window_negative_and_late_churn() -> None:
    d = DelayedLabelLearner(ChurnModel(), learn_batch=1, window_ms=30 * DAY_MS, grace_ms=DAY_MS)
    d.score_one("c", 0, {})
    assert d.advance(30 * DAY_MS) == 0  # the grace period is not over yet
    assert d.advance(31 * DAY_MS) == 1
    assert d.on_outcome("c", 32 * DAY_MS, "churned") == 0  # churn after the window does not relabel
    assert (d.n_positive, d.n_negative) == (0, 1)


def test_buffer_is_bounded_and_renewals_configurable() -> None:
    d = DelayedLabelLearner(ChurnModel(), max_pending=10, min_gap_ms=0)
    for i in range(25):
        d.score_one(f"c{i}", i, {})
    assert d.n_pending == 10
    assert d.n_evicted == 15
    assert d.on_outcome("c24", 100, "renewed") == 0
    r = DelayedLabelLearner(ChurnModel(), renewal_resolves=True, learn_batch=1)
    r.score_one("c", 0, {})
    assert r.on_outcome("c", 5, "renewed") == 1
    assert r.n_negative == 1
    with pytest.raises(ValueError, match="unknown outcome"):
        r.on_outcome("c", 5, "paused")
