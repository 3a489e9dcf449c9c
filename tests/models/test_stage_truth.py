"""Stage inference evaluated against the simulator's true stage (per-stage precision/recall, macro F1)."""

from __future__ import annotations

import pytest

from models.delayed import CHURN_WINDOW_MS, DAY_MS
from models.evaluate import stage_report
from models.stage import StageModel, rule_stage_many
from models.trainset import build_training_set, simulate_log


@pytest.fixture(scope="module")
def frame():
    log = simulate_log(customers=400, days=24, seed=11)
    return log, build_training_set(log)


def test_learnt_stage_beats_the_rules_on_a_held_out_period(frame) -> None:
    log, df = frame
    mid = log.start_ms + 12 * DAY_MS
    train, test = df[df["ts_ms"] < mid], df[df["ts_ms"] >= mid]
    assert len(train) > 1000
    assert len(test) > 1000
    model = StageModel()
    model.learn_many(train, train["true_stage"])
    learnt = stage_report(test["true_stage"].tolist(), model.predict_many(test).tolist())
    rules = stage_report(test["true_stage"].tolist(), rule_stage_many(test).tolist())
    assert learnt.macro_f1 > rules.macro_f1
    assert learnt.macro_f1 > 0.5
    assert int(learnt.confusion.to_numpy().sum()) == len(test)
    assert (learnt.per_stage[["precision", "recall"]].to_numpy() <= 1).all()


def test_point_in_time_features_never_come_from_the_future(frame) -> None:
    log, df = frame
    # tenure is derived at the sample time; a sample time before signup would give a negative tenure
    assert (df["tenure_days"] >= 0).all()
    labelled = df[df["label"].notna()]
    assert labelled["label"].isin([0.0, 1.0]).all()
    assert (labelled["ts_ms"] + CHURN_WINDOW_MS <= log.end_ms).sum() + (labelled["label"] == 1).sum() >= len(labelled)
