"""Batched scoring, snapshots and parallel scorers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.names import SCORES, STAGES
from models.churn import ChurnModel
from models.propensity import PropensityModel
from models.registry import ModelRegistry
from models.scoring import CHURN, PROPENSITY, STAGE, Scorer
from models.stage import StageModel
from models.synth import synthetic_population


def _publish(reg: ModelRegistry, frame: pd.DataFrame, watermark: int) -> None:
    churn, stage, prop = ChurnModel(), StageModel(min_learned=0), PropensityModel()
    churn.learn_many(frame, frame["cancel_page_visits_7d"] > 0)
    stage.learn_many(frame, frame["true_stage"])
    pf = frame.assign(action_kind="greeting")
    prop.learn_many(pf, pf["purchases_30d"] > 1)
    for name, m in ((CHURN, churn), (STAGE, stage), (PROPENSITY, prop)):
        reg.save(name, m, watermark_ms=watermark, now_ms=watermark)


def test_two_scorers_on_one_snapshot_agree_and_pick_up_new_versions(tmp_path: Path) -> None:
    frame = synthetic_population(n_customers=300, days=5, seed=3).snapshots
    reg = ModelRegistry(tmp_path)
    _publish(reg, frame, watermark=1)
    a, b = Scorer.from_registry(reg), Scorer.from_registry(reg)  # parallelism 2: two scorer instances
    half = len(frame) // 2
    sa = pd.concat([a.score_batch(frame.iloc[:half]), a.score_batch(frame.iloc[half:])])
    sb = b.score_batch(frame)
    pd.testing.assert_frame_equal(sa, sb)
    assert list(sa.columns) == list(SCORES)
    assert set(sa["stage"]) <= set(STAGES)
    assert sa["churn_risk"].between(0, 1).all()
    assert a.versions == {CHURN: 1, STAGE: 1, PROPENSITY: 1}
    assert not a.poll()
    _publish(reg, frame.iloc[::-1].reset_index(drop=True), watermark=2)  # a new snapshot, no restart
    assert a.poll()
    assert a.versions[CHURN] == 2
    latest = reg.latest(CHURN)
    assert latest is not None
    assert latest.watermark_ms == 2
    assert not np.array_equal(a.score_batch(frame)["churn_risk"], sb["churn_risk"])
    assert b.poll()
    pd.testing.assert_frame_equal(a.score_batch(frame), b.score_batch(frame))


def test_cold_start_scores_with_defaults_for_missing_columns() -> None:
    out = Scorer.fresh().score_batch(pd.DataFrame({"customer_id": ["x", "y"], "open_complaints": [2, 0]}))
    assert out["stage"].tolist()[0] == "in_crisis"
    assert np.allclose(out["propensity_greeting"], 0.1)
