"""River's ``StandardScaler`` with two fixes the batched path needs (river 0.23).

1. ``learn_many`` computed the batch variance as ``E[x^2] - E[x]^2``, which can come out slightly negative for a
   constant column and then makes ``transform_many`` fail on a complex square root; here the batch variance is
   ``np.var`` and the merged variance is clamped at 0.
2. ``transform_many`` left ``x - mean`` where the std is 0, while ``transform_one`` gives 0 (``safe_div``);
   here both give 0, so single and batched scoring agree.
3. A column that is constant so far can get a variance of 1e-33 instead of 0 from rounding, and dividing the
   rounding noise of ``x - mean`` by its square root gave values like 10 (single and batched paths then
   disagree wildly); here a std below ``MIN_STD`` counts as 0 in both paths.

>>> import pandas as pd
>>> s = StandardScaler()
>>> s.learn_many(pd.DataFrame({"a": [1.0, 1.0, 1.0]}))
>>> batched = float(s.transform_many(pd.DataFrame({"a": [5.0]}))["a"].iloc[0])
>>> s.vars["a"] >= 0.0, batched, s.transform_one({"a": 5.0})["a"]
(True, 0.0, 0.0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from river import preprocessing

#: Standard deviations below this are treated as 0 (a constant column).
MIN_STD = 1e-9


class StandardScaler(preprocessing.StandardScaler):
    """Numerically safe batched standard scaler (see the module doc)."""

    def transform_one(self, x: dict) -> dict:
        if not self.with_std:
            return {i: xi - self.means[i] for i, xi in x.items()}
        out = {}
        for i, xi in x.items():
            std = max(self.vars[i], 0.0) ** 0.5
            out[i] = (xi - self.means[i]) / std if std >= MIN_STD else 0.0
        return out

    def learn_many(self, X: pd.DataFrame) -> None:
        if len(X) == 0:
            return
        values = X.to_numpy(dtype=float)
        new_means = values.mean(axis=0)
        new_vars = values.var(axis=0)
        n = len(values)
        for col, new_mean, new_var in zip(X.columns, new_means, new_vars, strict=True):
            old_mean = self.means[col]
            old_var = self.vars[col]
            old_count = self.counts[col]
            a = old_count / (old_count + n)
            b = n / (old_count + n)
            self.means[col] = float(a * old_mean + b * new_mean)
            if self.with_std:
                self.vars[col] = max(0.0, float(a * old_var + b * new_var + a * b * (old_mean - new_mean) ** 2))
            self.counts[col] += n

    def transform_many(self, X: pd.DataFrame) -> pd.DataFrame:
        means = np.array([self.means[c] for c in X.columns], dtype=float)
        Xt = X.to_numpy(dtype=float) - means
        if self.with_std:
            stds = np.sqrt(np.array([max(self.vars[c], 0.0) for c in X.columns], dtype=float))
            safe = np.where(stds >= MIN_STD, stds, 1.0)
            Xt = np.where(stds >= MIN_STD, Xt / safe, 0.0)
        return pd.DataFrame(Xt, index=X.index, columns=X.columns, copy=False)
