"""scikit-learn baseline for churn, trained offline on a point-in-time training set, and the comparison table.

The training set comes from :func:`models.trainset.build_training_set` (oracle or Feast backend): the same
rows, features and labels the River model sees, so the comparison is like for like. The baseline is a
``HistGradientBoostingClassifier`` over the same :class:`~models.featurize.Featurizer` output.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"cancel_page_visits_7d": rng.poisson(1.0, 400)})
>>> y = pd.Series(df["cancel_page_visits_7d"] > 1)
>>> b = SklearnChurnBaseline(seed=0).fit(df, y)
>>> bool(b.predict_proba(df)[y.to_numpy()].mean() > b.predict_proba(df)[~y.to_numpy()].mean())
True
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from models.churn import ChurnModel
from models.evaluate import churn_summary
from models.featurize import Featurizer


class SklearnChurnBaseline:
    """Offline gradient-boosted trees over the featurised context."""

    def __init__(self, max_iter: int = 200, learning_rate: float = 0.1, seed: int = 0) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.seed = seed
        self.featurizer = Featurizer()
        self.clf = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=learning_rate, random_state=seed)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> SklearnChurnBaseline:
        self.clf.fit(self.featurizer.transform_many(X), np.asarray(y, dtype=bool))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.clf.predict_proba(self.featurizer.transform_many(X))[:, 1], dtype=float)


def _latency_ms(score: Any, X: pd.DataFrame, n: int = 200) -> tuple[float, float]:
    """p50 and p99 of scoring one customer (a one-row DataFrame), milliseconds."""
    rows = [X.iloc[i : i + 1] for i in range(min(n, len(X)))]
    times = []
    for r in rows:
        t = time.perf_counter()
        score(r)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def compare(train: pd.DataFrame, test: pd.DataFrame, label: str = "label", seed: int = 0) -> pd.DataFrame:
    """Train the River churn model and the baseline on ``train``, evaluate both on ``test`` (held-out period).

    Columns: roc_auc, log_loss, ece, train_s, score_per_s (batched), latency_p50_ms / latency_p99_ms (one row).
    """
    y_train = train[label].astype(bool)
    y_test = test[label].to_numpy(float)
    out: dict[str, dict[str, float]] = {}

    river = ChurnModel(seed=seed, track_metrics=False)
    t = time.perf_counter()
    river.learn_many(train, y_train)
    river_train = time.perf_counter() - t
    skl = SklearnChurnBaseline(seed=seed)
    t = time.perf_counter()
    skl.fit(train, y_train)
    skl_train = time.perf_counter() - t

    for name, model, train_s, score in (
        ("river_logreg", river, river_train, river.churn_risk),
        ("sklearn_hgb", skl, skl_train, skl.predict_proba),
    ):
        t = time.perf_counter()
        p = score(test)
        score_s = time.perf_counter() - t
        p50, p99 = _latency_ms(score, test)
        out[name] = {
            **churn_summary(p, y_test),
            "train_s": train_s,
            "score_per_s": len(test) / score_s if score_s > 0 else float("inf"),
            "latency_p50_ms": p50,
            "latency_p99_ms": p99,
        }
        del model
    return pd.DataFrame(out).T
