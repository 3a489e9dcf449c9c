"""Relationship stage: rule-seeded, then learnt online over ``features.names.STAGES``.

``rule_stage`` is a transparent first guess from the context (what a CX analyst would write down); the
``StageModel`` is one-vs-rest River logistic regressions over the featurised context *plus* the rule's guess
(one-hot), learning online from labelled stages (the simulator's ground truth, or analysts' labels in
production). Until it has learnt ``min_learned`` examples it answers with the rule, so a fresh deployment is
sensible from the first event.

>>> rule_stage({"open_complaints": 1})
'in_crisis'
>>> m = StageModel(min_learned=0)
>>> for _ in range(200):
...     m.learn_one({"clicks_7d": 0, "purchases_30d": 0, "tenure_days": 400}, "dormant")
...     m.learn_one({"clicks_7d": 30, "purchases_30d": 4, "tenure_days": 400}, "engaged")
>>> m.predict_one({"clicks_7d": 25, "purchases_30d": 3, "tenure_days": 400})
'engaged'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from river import base, linear_model, optim

from features.names import FEATURES, STAGES
from models.featurize import Featurizer
from models.scaler import StandardScaler


def _get(x: Mapping[str, Any], name: str) -> Any:
    v = x.get(name)
    return FEATURES[name].default if v is None else v


def rule_stage(x: Mapping[str, Any]) -> str:
    """The rule-of-thumb stage of one customer (first matching rule wins)."""
    if _get(x, "open_complaints") > 0 or _get(x, "days_in_crisis") > 0:
        return "in_crisis"
    if _get(x, "cancel_page_visits_7d") > 0:
        return "at_risk"
    if _get(x, "complaints_30d") > 0:
        return "recovering"
    if _get(x, "tenure_days") < 30:
        return "onboarding"
    if _get(x, "clicks_7d") == 0 and _get(x, "purchases_30d") == 0:
        return "dormant"
    return "engaged"


def rule_stage_many(df: pd.DataFrame) -> np.ndarray:
    """:func:`rule_stage` vectorised over a DataFrame (same result row by row)."""

    def col(name: str) -> np.ndarray:
        if name in df.columns:
            return pd.to_numeric(df[name], errors="coerce").fillna(FEATURES[name].default).to_numpy(float)
        return np.full(len(df), float(FEATURES[name].default))

    conditions = [
        (col("open_complaints") > 0) | (col("days_in_crisis") > 0),
        col("cancel_page_visits_7d") > 0,
        col("complaints_30d") > 0,
        col("tenure_days") < 30,
        (col("clicks_7d") == 0) & (col("purchases_30d") == 0),
    ]
    choices = ["in_crisis", "at_risk", "recovering", "onboarding", "dormant"]
    return np.select(conditions, choices, default="engaged").astype(object)


class StageModel(base.Classifier):
    """One-vs-rest River logistic regressions over features + the rule's guess (see the module doc)."""

    def __init__(self, lr: float = 0.05, l2: float = 0.0, min_learned: int = 200, batch_size: int = 64, seed: int = 0):
        self.lr = lr
        self.l2 = l2
        self.min_learned = min_learned
        self.batch_size = batch_size
        self.seed = seed
        self.featurizer = Featurizer()
        self.scaler = StandardScaler()
        self.heads = {
            s: linear_model.LogisticRegression(optimizer=optim.SGD(lr), l2=l2, intercept_lr=lr) for s in STAGES
        }
        self.n_learned = 0

    @property
    def _multiclass(self) -> bool:
        return True

    def _vec_one(self, x: Mapping[str, Any]) -> dict[str, float]:
        fx = self.featurizer.transform_one(x)
        r = rule_stage(x)
        for s in STAGES:
            fx[f"rule={s}"] = 1.0 if r == s else 0.0
        return fx

    def _vec_many(self, df: pd.DataFrame) -> pd.DataFrame:
        fx = self.featurizer.transform_many(df)
        r = rule_stage_many(df)
        for s in STAGES:
            fx[f"rule={s}"] = (r == s).astype(float)
        return fx

    def predict_proba_one(self, x: Mapping[str, Any], **kwargs: Any) -> dict[str, float]:  # type: ignore[override]
        if self.n_learned < self.min_learned:
            r = rule_stage(x)
            return {s: 1.0 if s == r else 0.0 for s in STAGES}
        z = self.scaler.transform_one(self._vec_one(x))
        raw = {s: float(h.predict_proba_one(z).get(True, 0.0)) for s, h in self.heads.items()}
        total = sum(raw.values()) or 1.0
        return {s: v / total for s, v in raw.items()}

    def learn_one(self, x: Mapping[str, Any], y: str, **kwargs: Any) -> None:  # type: ignore[override]
        v = self._vec_one(x)
        self.scaler.learn_one(v)
        z = self.scaler.transform_one(v)
        for s, h in self.heads.items():
            h.learn_one(z, y == s)
        self.n_learned += 1

    def predict_proba_many(self, X: pd.DataFrame) -> pd.DataFrame:
        if self.n_learned < self.min_learned:
            r = rule_stage_many(X)
            return pd.DataFrame({s: (r == s).astype(float) for s in STAGES}, index=X.index)
        z = self.scaler.transform_many(self._vec_many(X))
        raw = pd.DataFrame(
            {s: h.predict_proba_many(z)[True].to_numpy(float) for s, h in self.heads.items()}, index=X.index
        )
        total = raw.sum(axis=1).replace(0.0, 1.0)
        return raw.div(total, axis=0)

    def predict_many(self, X: pd.DataFrame) -> pd.Series:
        proba = self.predict_proba_many(X)
        return pd.Series(np.array(STAGES, dtype=object)[proba.to_numpy().argmax(axis=1)], index=X.index)

    def learn_many(self, X: pd.DataFrame, y: pd.Series) -> None:
        if len(X) == 0:
            return
        labels = np.asarray(y, dtype=object)
        v = self._vec_many(X)
        for i in range(0, len(v), self.batch_size):
            chunk = v.iloc[i : i + self.batch_size]
            self.scaler.learn_many(chunk)
            z = self.scaler.transform_many(chunk)
            lab = labels[i : i + self.batch_size]
            for s, h in self.heads.items():
                h.learn_many(z, pd.Series(lab == s, index=z.index))
        self.n_learned += len(X)
