"""Batched scoring for the streaming path: features in, ``features.names.SCORES`` out.

``score_batch(df)`` is what a pandas UDF / batch operator of the decision job calls, and what the rule stage
consumes (the column names are ``SCORES``: ``churn_risk``, ``stage``, ``propensity_<kind>``). Input rows carry
the customer's features as in ``features.names.FEATURES`` (derived features included, i.e. after
``features.derive.derive_frame``); missing columns take the contract defaults.

**Parallelism.** A :class:`Scorer` never learns: it holds read-only snapshots loaded from a
:class:`~models.registry.ModelRegistry` and polls for newer versions (``poll()``, e.g. once per bundle or every
N seconds). One learner job publishes snapshots; with parallelism N there are N scorers on the same snapshots,
so they give identical scores for identical rows (tested with two scorer instances).

>>> import pandas as pd
>>> s = Scorer.fresh()
>>> out = s.score_batch(pd.DataFrame([{"open_complaints": 1}, {"clicks_7d": 12, "tenure_days": 300.0}]))
>>> list(out.columns) == list(SCORES), out["stage"].tolist()
(True, ['in_crisis', 'engaged'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from features.names import SCORES
from models.churn import ChurnModel
from models.featurize import shared_transforms
from models.propensity import PropensityModel
from models.registry import ModelRegistry, SnapshotWatcher
from models.stage import StageModel

#: Registry names of the three scoring models.
CHURN, STAGE, PROPENSITY = "churn", "stage", "propensity"


def score_frame(df: pd.DataFrame, churn: ChurnModel, stage: StageModel, propensity: PropensityModel) -> pd.DataFrame:
    """Every score for every row of ``df`` (same index), columns in ``SCORES`` order. The models featurize the
    batch once between them (:func:`models.featurize.shared_transforms`) and the result is built in one go: the
    decision job scores many small batches, so the fixed cost per batch matters."""
    if len(df) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "stage" else float) for c in SCORES}, index=df.index)
    with shared_transforms():
        cols: dict[str, object] = {"churn_risk": churn.churn_risk(df), "stage": stage.predict_many(df).to_numpy()}
        props = propensity.propensities_many(df)
    for col in props.columns:
        cols[col] = props[col].to_numpy()
    return pd.DataFrame({c: cols[c] for c in SCORES}, index=df.index)


@dataclass
class Scorer:
    """Read-only scoring models, optionally kept up to date from a registry."""

    churn: ChurnModel
    stage: StageModel
    propensity: PropensityModel
    watchers: dict[str, SnapshotWatcher] = field(default_factory=dict)

    @classmethod
    def fresh(cls) -> Scorer:
        """Untrained models (priors and the stage rules): a sensible cold start."""
        return cls(ChurnModel(), StageModel(), PropensityModel())

    @classmethod
    def from_registry(cls, registry: ModelRegistry) -> Scorer:
        """The latest snapshots of ``churn``, ``stage`` and ``propensity`` (each must exist)."""
        w = {n: SnapshotWatcher(registry, n) for n in (CHURN, STAGE, PROPENSITY)}
        return cls(w[CHURN].model, w[STAGE].model, w[PROPENSITY].model, w)

    @property
    def versions(self) -> dict[str, int]:
        """Snapshot version per model (0 = not from a registry): goes into decision records."""
        return {n: (self.watchers[n].version if n in self.watchers else 0) for n in (CHURN, STAGE, PROPENSITY)}

    def poll(self) -> bool:
        """Pick up newer snapshots, if any were published; returns whether anything changed."""
        changed = False
        for name, w in self.watchers.items():
            if w.poll():
                changed = True
                setattr(self, name, w.model)
        return changed

    def score_batch(self, df: pd.DataFrame) -> pd.DataFrame:
        return score_frame(df, self.churn, self.stage, self.propensity)
