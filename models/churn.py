"""Churn risk: an online River logistic regression over the featurised customer context.

``ChurnModel`` follows River's classifier interface (``learn_one``/``predict_proba_one`` on feature dicts,
``learn_many``/``predict_proba_many`` on DataFrames) and tracks progressive-validation metrics: every example
is scored *before* the model learns from it, so ``metrics()`` is an honest out-of-sample estimate.

The label (what ``y`` means) is defined by :mod:`models.delayed`: churn within the label window after the
prediction time. Calibration is checked with :func:`models.evaluate.reliability_table`.

>>> m = ChurnModel()
>>> for _ in range(300):
...     m.learn_one({"cancel_page_visits_7d": 3}, True)
...     m.learn_one({"cancel_page_visits_7d": 0}, False)
>>> m.predict_proba_one({"cancel_page_visits_7d": 3})[True] > 0.5 > m.predict_proba_one({})[True]
True
>>> m.metrics()["n"]
600
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from river import base, linear_model, metrics, optim

from models.featurize import Featurizer
from models.scaler import StandardScaler


class ChurnModel(base.Classifier):
    """StandardScaler | LogisticRegression over :class:`~models.featurize.Featurizer` output.

    Parameters are attributes (River convention, so ``clone()`` works): ``lr`` (SGD learning rate), ``l2``,
    ``intercept_init`` (log-odds prior; the default matches a few percent monthly churn), ``batch_size`` (River's
    ``learn_many`` takes one SGD step on the mean gradient of a batch, so large batches are split into chunks of
    this size to keep enough steps), ``track_metrics``,
    ``seed`` (unused: the model is deterministic; kept so every model has one).
    """

    def __init__(
        self,
        lr: float = 0.05,
        l2: float = 1e-4,
        intercept_init: float = -3.0,
        batch_size: int = 32,
        track_metrics: bool = True,
        seed: int = 0,
    ) -> None:
        self.lr = lr
        self.l2 = l2
        self.intercept_init = intercept_init
        self.batch_size = batch_size
        self.track_metrics = track_metrics
        self.seed = seed
        self.featurizer = Featurizer()
        self.pipeline = StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(lr), l2=l2, intercept_init=intercept_init, intercept_lr=lr
        )
        self.auc = metrics.RollingROCAUC(window_size=20_000)
        self.logloss = metrics.LogLoss()
        self.n_learned = 0

    @property
    def _multiclass(self) -> bool:
        return False

    # --- single ---------------------------------------------------------------------------------------------
    def _p_one(self, fx: dict[str, float]) -> float:
        return float(self.pipeline.predict_proba_one(fx).get(True, 0.0))

    def predict_proba_one(self, x: Mapping[str, Any], **kwargs: Any) -> dict[bool, float]:  # type: ignore[override]
        p = self._p_one(self.featurizer.transform_one(x))
        return {False: 1.0 - p, True: p}

    def learn_one(self, x: Mapping[str, Any], y: bool, **kwargs: Any) -> None:  # type: ignore[override]
        fx = self.featurizer.transform_one(x)
        if self.track_metrics:
            p = self._p_one(fx)
            self.auc.update(bool(y), {False: 1.0 - p, True: p})
            self.logloss.update(bool(y), {False: 1.0 - p, True: p})
        self.pipeline.learn_one(fx, bool(y))
        self.n_learned += 1

    # --- batched --------------------------------------------------------------------------------------------
    def predict_proba_many(self, X: pd.DataFrame) -> pd.DataFrame:
        if len(X) == 0:
            return pd.DataFrame({False: [], True: []}, dtype=float)
        out = self.pipeline.predict_proba_many(self.featurizer.transform_many(X))
        p = out[True].to_numpy(float) if True in out.columns else np.zeros(len(X))
        return pd.DataFrame({False: 1.0 - p, True: p}, index=X.index)

    def churn_risk(self, X: pd.DataFrame) -> np.ndarray:
        """P(churn) per row of a feature DataFrame (the ``churn_risk`` score)."""
        return self.predict_proba_many(X)[True].to_numpy(float)

    def learn_many(self, X: pd.DataFrame, y: pd.Series) -> None:
        if len(X) == 0:
            return
        y = pd.Series(np.asarray(y, dtype=bool), index=X.index)
        fx = self.featurizer.transform_many(X)
        for i in range(0, len(fx), self.batch_size):
            fc, yc = fx.iloc[i : i + self.batch_size], y.iloc[i : i + self.batch_size]
            if self.track_metrics:  # progressive validation: score each chunk before learning from it
                ps = self.pipeline.predict_proba_many(fc)
                p_true = ps[True].to_numpy(float) if True in ps.columns else np.zeros(len(fc))
                for yi, pi in zip(yc.to_numpy(), p_true, strict=True):
                    proba = {False: 1.0 - float(pi), True: float(pi)}
                    self.auc.update(bool(yi), proba)
                    self.logloss.update(bool(yi), proba)
            self.pipeline.learn_many(fc, yc)
        self.n_learned += len(X)

    # --- metrics --------------------------------------------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        """Progressive-validation metrics: ROC AUC, log loss and the number of labelled examples."""
        return {"roc_auc": float(self.auc.get()), "log_loss": float(self.logloss.get()), "n": self.n_learned}
