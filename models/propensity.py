"""Action propensity: one online response model per action kind, learnt from response events.

Like the adaptive models of commercial decision hubs: for each kind in ``features.names.ACTION_KINDS`` a River
logistic regression estimates P(accepted | customer context). Labels come from response events: ``accepted`` = 1,
``rejected`` and ``ignored`` = 0; ``delivered``, ``opened``, ``clicked`` and ``unsubscribed`` are not final
answers to the offer and teach nothing here. :class:`ResponseLearner` logs the features at decision time by
``decision_id`` so a response trains on the context the offer was made in (as for churn, no leakage).

The River interface: ``x`` carries the action kind under ``"action_kind"``; ``predict_proba_one(x)`` is the
propensity of that kind; :meth:`PropensityModel.propensities_many` gives every ``propensity_<kind>`` score.

>>> m = PropensityModel()
>>> round(m.predict_proba_one({"action_kind": "greeting"})[True], 3)  # the prior before any response
0.1
>>> for _ in range(300):
...     m.learn_one({"action_kind": "greeting", "near_store": True}, True)
...     m.learn_one({"action_kind": "greeting", "near_store": False}, False)
>>> m.predict_proba_one({"action_kind": "greeting", "near_store": True})[True] > 0.5
True
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from river import base, linear_model, optim

from features.names import ACTION_KINDS
from models.featurize import Featurizer
from models.scaler import StandardScaler

#: Response values that settle an offer, and their label.
RESPONSE_LABELS: dict[str, bool] = {"accepted": True, "rejected": False, "ignored": False}


class PropensityModel(base.Classifier):
    """Per-kind StandardScaler | LogisticRegression; ``prior`` is P(accepted) before any response."""

    def __init__(self, lr: float = 0.02, l2: float = 1e-4, prior: float = 0.1, batch_size: int = 64, seed: int = 0):
        self.lr = lr
        self.l2 = l2
        self.prior = prior
        self.batch_size = batch_size
        self.seed = seed
        self.featurizer = Featurizer()
        logit = math.log(prior / (1.0 - prior))
        self.heads = {
            k: StandardScaler()
            | linear_model.LogisticRegression(optimizer=optim.SGD(lr), l2=l2, intercept_init=logit, intercept_lr=lr)
            for k in ACTION_KINDS
        }
        self.n_learned = dict.fromkeys(ACTION_KINDS, 0)

    @property
    def _multiclass(self) -> bool:
        return False

    @staticmethod
    def _kind(x: Mapping[str, Any]) -> str:
        kind = x.get("action_kind")
        if kind not in ACTION_KINDS:
            raise ValueError(f"unknown or missing action_kind {kind!r}; expected one of {ACTION_KINDS}")
        return str(kind)

    def predict_proba_one(self, x: Mapping[str, Any], **kwargs: Any) -> dict[bool, float]:  # type: ignore[override]
        p = float(self.heads[self._kind(x)].predict_proba_one(self.featurizer.transform_one(x)).get(True, 0.0))
        return {False: 1.0 - p, True: p}

    def learn_one(self, x: Mapping[str, Any], y: bool, **kwargs: Any) -> None:  # type: ignore[override]
        kind = self._kind(x)
        self.heads[kind].learn_one(self.featurizer.transform_one(x), bool(y))
        self.n_learned[kind] += 1

    def propensities_one(self, x: Mapping[str, Any]) -> dict[str, float]:
        """``propensity_<kind>`` for every kind."""
        fx = self.featurizer.transform_one(x)
        return {f"propensity_{k}": float(h.predict_proba_one(fx).get(True, 0.0)) for k, h in self.heads.items()}

    def propensities_many(self, X: pd.DataFrame) -> pd.DataFrame:
        """``propensity_<kind>`` columns for every row of a feature DataFrame."""
        fx = self.featurizer.transform_many(X)
        return pd.DataFrame({f"propensity_{k}": self._p_many(h, fx) for k, h in self.heads.items()}, index=X.index)

    @staticmethod
    def _p_many(head: Any, fx: pd.DataFrame) -> np.ndarray:
        out = head.predict_proba_many(fx)
        return out[True].to_numpy(float) if True in out.columns else np.zeros(len(fx))

    def predict_proba_many(self, X: pd.DataFrame) -> pd.DataFrame:
        kinds = X["action_kind"].to_numpy(object)
        fx = self.featurizer.transform_many(X)
        p = np.zeros(len(X))
        for k in set(kinds.tolist()):
            mask = kinds == k
            p[mask] = self._p_many(self.heads[self._kind({"action_kind": k})], fx[mask])
        return pd.DataFrame({False: 1.0 - p, True: p}, index=X.index)

    def learn_many(self, X: pd.DataFrame, y: pd.Series) -> None:
        kinds = X["action_kind"].to_numpy(object)
        labels = np.asarray(y, dtype=bool)
        fx = self.featurizer.transform_many(X)
        for k in sorted(set(kinds.tolist())):
            mask = kinds == k
            head = self.heads[self._kind({"action_kind": k})]
            fk, yk = fx[mask], pd.Series(labels[mask], index=fx.index[mask])
            for i in range(0, len(fk), self.batch_size):
                head.learn_many(fk.iloc[i : i + self.batch_size], yk.iloc[i : i + self.batch_size])
            self.n_learned[k] += int(mask.sum())


class ResponseLearner:
    """Logs the context of each decided action by ``decision_id``; learns when a final response arrives.

    ``max_pending`` bounds the log (oldest decisions are forgotten first, counted in ``n_evicted``).

    >>> r = ResponseLearner(PropensityModel())
    >>> r.log_decision("d1", "greeting", {"near_store": True})
    >>> r.on_response("d1", "delivered"), r.on_response("d1", "accepted"), r.on_response("d1", "accepted")
    (False, True, False)
    >>> r.model.n_learned["greeting"]
    1
    """

    def __init__(self, model: PropensityModel, max_pending: int = 1_000_000) -> None:
        self.model = model
        self.max_pending = max_pending
        self._pending: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.n_evicted = 0
        self.n_learned = 0

    def log_decision(self, decision_id: str, action_kind: str, features: Mapping[str, Any]) -> None:
        self._pending[decision_id] = {**features, "action_kind": action_kind}
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
            self.n_evicted += 1

    def on_response(self, decision_id: str, response: str) -> bool:
        """Learn from a final response (accepted / rejected / ignored); returns whether it trained."""
        if response not in RESPONSE_LABELS or decision_id not in self._pending:
            return False
        x = self._pending.pop(decision_id)
        self.model.learn_one(x, RESPONSE_LABELS[response])
        self.n_learned += 1
        return True
