"""One contract over every model (like River's ``utils.estimator_checks``): persistence, batch/single
consistency, determinism given the seed."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.names import ACTION_KINDS, STAGES
from models.bandit import ActionBandit
from models.churn import ChurnModel
from models.propensity import PropensityModel
from models.registry import ModelRegistry
from models.stage import StageModel
from models.synth import synthetic_population


@dataclass
class Spec:
    make: Callable[[int], Any]
    target: Callable[[pd.DataFrame], pd.Series]
    prepare: Callable[[pd.DataFrame], pd.DataFrame] = lambda df: df


def _kinds(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["action_kind"] = np.array(ACTION_KINDS, dtype=object)[np.arange(len(df)) % 3]
    return out


SPECS: dict[str, Spec] = {
    "churn": Spec(lambda s: ChurnModel(seed=s), lambda df: df["cancel_page_visits_7d"] > 0),
    "stage": Spec(lambda s: StageModel(seed=s, min_learned=0), lambda df: df["true_stage"]),
    "propensity": Spec(lambda s: PropensityModel(seed=s), lambda df: df["purchases_30d"] > 1, _kinds),
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synthetic_population(n_customers=150, days=4, seed=7).snapshots.reset_index(drop=True)


def _trained(spec: Spec, frame: pd.DataFrame, seed: int = 0) -> Any:
    m = spec.make(seed)
    m.learn_many(frame, spec.target(frame))
    return m


def _proba(m: Any, frame: pd.DataFrame) -> np.ndarray:
    return m.predict_proba_many(frame).to_numpy(float)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_pickle_round_trip_gives_identical_predictions(name: str, data: pd.DataFrame, tmp_path: Any) -> None:
    spec = SPECS[name]
    frame = spec.prepare(data)
    m = _trained(spec, frame)
    before = _proba(m, frame)
    assert np.ptp(before) > 0  # a model that learnt something
    restored = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(_proba(restored, frame), before)
    reg = ModelRegistry(tmp_path)
    reg.save(name, m, watermark_ms=1, now_ms=0)
    np.testing.assert_array_equal(_proba(reg.load(name), frame), before)
    # the restored model keeps learning exactly like the original
    more = frame.iloc[:50]
    m.learn_many(more, spec.target(more))
    restored.learn_many(more, spec.target(more))
    np.testing.assert_array_equal(_proba(restored, frame), _proba(m, frame))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_predict_one_matches_predict_many(name: str, data: pd.DataFrame) -> None:
    spec = SPECS[name]
    frame = spec.prepare(data)
    m = _trained(spec, frame)
    many = m.predict_proba_many(frame.iloc[:40])
    for i, (_, row) in enumerate(frame.iloc[:40].iterrows()):
        one = m.predict_proba_one(row.to_dict())
        for col in many.columns:
            assert one[col] == pytest.approx(many.iloc[i][col], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_learn_one_matches_learn_many_of_single_rows(name: str, data: pd.DataFrame) -> None:
    spec = SPECS[name]
    frame = spec.prepare(data).iloc[:120]
    y = spec.target(frame)
    a, b = spec.make(0), spec.make(0)
    for i, (_, row) in enumerate(frame.iterrows()):
        a.learn_one(row.to_dict(), y.iloc[i])
        b.learn_many(frame.iloc[i : i + 1], y.iloc[i : i + 1])
    np.testing.assert_allclose(_proba(a, frame), _proba(b, frame), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_clone_with_same_seed_gives_same_results(name: str, data: pd.DataFrame) -> None:
    spec = SPECS[name]
    frame = spec.prepare(data)
    m = _trained(spec, frame, seed=3)
    fresh = m.clone()
    assert fresh.seed == 3
    assert fresh._get_params() == m._get_params()
    fresh.learn_many(frame, spec.target(frame))
    np.testing.assert_array_equal(_proba(fresh, frame), _proba(m, frame))


def test_bandit_contract(data: pd.DataFrame) -> None:
    rows = data.iloc[:200].to_dict("records")

    def run(b: ActionBandit) -> list[str]:
        out = []
        for i, x in enumerate(rows):
            k = b.choose(x)
            out.append(k)
            b.update(x, k, float(i % 3 == 0))
        return out

    a, b = ActionBandit(seed=5), ActionBandit(seed=5)
    assert run(a) == run(b)  # same seed, same choices
    restored = pickle.loads(pickle.dumps(a))
    assert [restored.ucb(x) for x in rows[:20]] == [a.ucb(x) for x in rows[:20]]
    assert set(run(ActionBandit(seed=6))) <= set(ACTION_KINDS)


def test_stage_model_predicts_only_known_stages(data: pd.DataFrame) -> None:
    m = _trained(SPECS["stage"], data)
    assert set(m.predict_many(data)) <= set(STAGES)
