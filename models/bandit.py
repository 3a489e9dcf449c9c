"""A contextual bandit over action kinds (disjoint LinUCB) and replay evaluation on logged responses.

The per-kind propensity models (:mod:`models.propensity`) only learn about the actions that policies happened to
choose; a bandit explores on purpose. ``ActionBandit`` picks one kind among the allowed ones for a context
(the featurised customer context) with an upper-confidence bonus (``alpha``), and learns from the reward
(accepted = 1). :func:`replay_evaluate` is the replay method of Li et al. (2011), as in
``river.bandit.evaluate_offline``: walk the logged (context, kind shown, reward) records, let the policy
choose; only when it agrees with the log does the record count and train it. With logs from a uniformly random
logging policy this is an unbiased estimate of the policy's acceptance rate.

River 0.23's ``bandit.LinUCBDisjoint`` (built on ``BayesianLinearRegression``) produced NaN variances and then
an ``IndexError`` on our ~80-dimensional contexts, so the arm model here is the textbook disjoint LinUCB in numpy
(ridge regression per arm with a Sherman-Morrison update of the inverse); same interface idea (``choose`` =
pull, ``update``), picklable, deterministic given ``seed``.

>>> import random
>>> rng = random.Random(0)
>>> logs = []
>>> for _ in range(3000):
...     near = rng.random() < 0.5
...     kind = rng.choice(["greeting", "marketing"])
...     p = 0.6 if (kind == "greeting") == near else 0.1
...     logs.append(({"near_store": near}, kind, rng.random() < p))
>>> res = replay_evaluate(ActionBandit(kinds=("greeting", "marketing"), seed=1), logs)
>>> res["policy_reward_rate"] > res["logged_reward_rate"]
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from features.names import ACTION_KINDS
from models.featurize import Featurizer


class ActionBandit:
    """LinUCB (disjoint) over action kinds; ``alpha`` = exploration, ``seed`` breaks ties reproducibly."""

    def __init__(self, kinds: tuple[str, ...] = ACTION_KINDS, alpha: float = 1.0, seed: int = 0) -> None:
        self.kinds = tuple(kinds)
        self.alpha = alpha
        self.seed = seed
        self.featurizer = Featurizer()
        d = len(self.featurizer.columns) + 1
        self._a_inv = {k: np.eye(d) for k in self.kinds}
        self._b = {k: np.zeros(d) for k in self.kinds}
        self._rng = np.random.default_rng(seed)
        self.n_updates = 0

    def _ctx(self, x: Mapping[str, Any]) -> np.ndarray:
        v = self.featurizer.transform_one(x)
        return np.array([1.0, *(v[c] for c in self.featurizer.columns)])

    def ucb(self, x: Mapping[str, Any], allowed: Iterable[str] | None = None) -> dict[str, float]:
        """Upper confidence bound of the expected reward of each allowed kind."""
        z = self._ctx(x)
        arms = list(allowed) if allowed is not None else list(self.kinds)
        out = {}
        for k in arms:
            a_inv = self._a_inv[k]
            theta = a_inv @ self._b[k]
            out[k] = float(theta @ z + self.alpha * np.sqrt(max(float(z @ a_inv @ z), 0.0)))
        return out

    def choose(self, x: Mapping[str, Any], allowed: Iterable[str] | None = None) -> str:
        """The kind to offer among ``allowed`` (default: all kinds); ties broken at random (seeded)."""
        scores = self.ucb(x, allowed)
        best = max(scores.values())
        ties = [k for k, v in scores.items() if v >= best - 1e-12]
        return ties[int(self._rng.integers(len(ties)))] if len(ties) > 1 else ties[0]

    def update(self, x: Mapping[str, Any], kind: str, reward: float) -> None:
        z = self._ctx(x)
        a_inv = self._a_inv[kind]
        az = a_inv @ z
        self._a_inv[kind] = a_inv - np.outer(az, az) / (1.0 + float(z @ az))
        self._b[kind] = self._b[kind] + reward * z
        self.n_updates += 1


def replay_evaluate(policy: ActionBandit, logs: Iterable[tuple[Mapping[str, Any], str, bool]]) -> dict[str, float]:
    """Replay evaluation on logged ``(context, kind, accepted)`` records (see the module doc)."""
    n = matched = 0
    logged_reward = policy_reward = 0.0
    for x, kind, accepted in logs:
        n += 1
        logged_reward += float(accepted)
        if policy.choose(x, policy.kinds) == kind:
            matched += 1
            policy_reward += float(accepted)
            policy.update(x, kind, float(accepted))
    return {
        "n_logged": float(n),
        "n_matched": float(matched),
        "logged_reward_rate": logged_reward / n if n else 0.0,
        "policy_reward_rate": policy_reward / matched if matched else 0.0,
    }
