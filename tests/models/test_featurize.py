"""The featurizer's paths agree: dict, DataFrame column by column, DataFrame in one numeric block, shared."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.derive import derive_frame
from features.names import FEATURES
from models.churn import ChurnModel
from models.featurize import Featurizer, shared_transforms
from models.propensity import PropensityModel
from models.scoring import score_frame
from models.stage import StageModel
from models.synth import synthetic_population


def _frame(n: int = 300) -> pd.DataFrame:
    """Typed feature rows with varied values (the synthetic population's daily snapshots)."""
    snaps = synthetic_population(100, days=5, seed=3).snapshots.head(n)
    return derive_frame(snaps[[c for c in FEATURES if c in snaps.columns]], snaps["ts_ms"].to_numpy(np.int64))


def test_numeric_block_equals_column_path_and_transform_one() -> None:
    df = _frame()
    fz = Featurizer()
    block = fz.transform_many(df)  # all numeric columns typed: the one-block path
    assert fz._numeric_block(df) is not None
    mixed = df.copy()
    mixed["clicks_7d"] = mixed["clicks_7d"].astype(object)  # one object column: the column-by-column path
    mixed.loc[mixed.index[0], "clicks_7d"] = None
    assert fz._numeric_block(mixed) is None
    by_column = fz.transform_many(mixed)
    expect = block.copy()
    expect.loc[expect.index[0], "clicks_7d"] = 0.0  # the missing value takes the default (0 -> log1p(0))
    pd.testing.assert_frame_equal(by_column, expect)
    for i in (0, 7, 42):
        one = fz.transform_one(df.iloc[i].to_dict())
        assert np.allclose([one[c] for c in block.columns], block.iloc[i].to_numpy())


def test_shared_transforms_give_copies_and_the_same_scores() -> None:
    df = _frame()
    churn, stage, prop = ChurnModel(), StageModel(min_learned=0), PropensityModel()
    fz = Featurizer()
    with shared_transforms():
        a = fz.transform_many(df)
        a.iloc[0, 0] = 123.0  # a caller changing its copy does not change what the next one gets
        b = Featurizer().transform_many(df)
        assert b.iloc[0, 0] != 123.0
        assert Featurizer(log_transform=False).transform_many(df).iloc[0, 0] != b.iloc[0, 0]
    shared = score_frame(df, churn, stage, prop)
    alone = pd.DataFrame(
        {"churn_risk": churn.churn_risk(df), "stage": stage.predict_many(df).to_numpy(),
         **{c: prop.propensities_many(df)[c].to_numpy() for c in prop.propensities_many(df).columns}},
        index=df.index,
    )
    pd.testing.assert_frame_equal(shared, alone[list(shared.columns)])
