"""Read-time features: turn stored values (timestamps included) into the full ``FEATURES`` dict at ``now``.

Time-decaying features are stored as epoch-millisecond timestamps (0 = never) and derived here, so they are
never stale (SEMANTICS.md, "Derived at read time"). Pure functions; ``now_ms`` is always passed in.

>>> DAY = 86_400_000
>>> f = derive({"crisis_since_ms": 10 * DAY, "last_store_visit_ms": 12 * DAY - 60_000, "clicks_1h": 3},
...            now_ms=12 * DAY)
>>> f["days_in_crisis"], f["near_store"], f["clicks_1h"], f["days_since_purchase"], f["consent_sms"]
(2.0, True, 3, 999.0, True)
>>> len(f) == len(FEATURES)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.names import DERIVED_FROM, FEATURES, defaults

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000
NEAR_STORE_MS = 30 * 60 * 1000
NEVER_DAYS = 999.0
NEVER_HOURS = 9999.0

_PLAIN = [n for n in FEATURES if n not in DERIVED_FROM]


def _ts(stored: Mapping[str, Any], name: str) -> int:
    v = stored.get(name)
    return int(v) if v else 0


def derive(stored: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """All features of one customer at ``now_ms`` from its stored values (missing ones take defaults).

    >>> derive({}, now_ms=0) == defaults()
    True
    >>> derive({"signup_ms": 1, "last_marketing_ms": 1}, now_ms=1 + 2 * MS_PER_DAY)["hours_since_marketing"]
    48.0
    """
    out = defaults()
    for n in _PLAIN:
        v = stored.get(n)
        if v is not None:
            out[n] = v
    crisis = _ts(stored, "crisis_since_ms")
    store = _ts(stored, "last_store_visit_ms")
    purchase = _ts(stored, "last_purchase_ms")
    marketing = _ts(stored, "last_marketing_ms")
    signup = _ts(stored, "signup_ms")
    out["days_in_crisis"] = (now_ms - crisis) / MS_PER_DAY if crisis else 0.0
    out["near_store"] = bool(store) and now_ms - store <= NEAR_STORE_MS
    out["days_since_store_visit"] = (now_ms - store) / MS_PER_DAY if store else NEVER_DAYS
    out["days_since_purchase"] = (now_ms - purchase) / MS_PER_DAY if purchase else NEVER_DAYS
    out["hours_since_marketing"] = (now_ms - marketing) / MS_PER_HOUR if marketing else NEVER_HOURS
    out["tenure_days"] = (now_ms - signup) / MS_PER_DAY if signup else 0.0
    return out


def _ts_col(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df:
        return np.zeros(len(df), dtype=np.int64)
    col = df[name]
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(dtype=np.int64)
    return pd.to_numeric(col, errors="coerce").fillna(0).to_numpy(dtype=np.int64)


_NUMPY_DTYPE = {"int": np.int64, "float": np.float64, "bool": np.bool_}


def _plain_col(col: pd.Series, dtype: str, default: Any) -> np.ndarray:
    """A stored column with missing values (None/NaN) replaced by ``default``, as the feature's numpy dtype.

    >>> _plain_col(pd.Series([1, None], dtype=object), "int", 0).tolist()
    [1, 0]
    >>> _plain_col(pd.Series(["fr", None]), "str", "UTC").tolist()
    ['fr', 'UTC']
    """
    values = col.to_numpy()
    missing = pd.isna(values)
    if missing.any():
        values = values.astype(object) if dtype == "str" or values.dtype.kind not in "fiub" else values.copy()
        values[missing] = default
    if dtype == "str":
        return values.astype(str).astype(object)
    return values.astype(_NUMPY_DTYPE[dtype])


def derive_frame(stored: pd.DataFrame, now_ms: int | np.ndarray) -> pd.DataFrame:
    """Vectorised :func:`derive`: one row per customer, columns = ``FEATURES`` (same index as ``stored``).

    ``now_ms`` is a scalar or one time per row (e.g. the label times of a training set). Column-wise numpy and
    one frame built at the end: the decision job calls this once per small batch, so its fixed cost matters.

    >>> df = pd.DataFrame({"last_purchase_ms": [0, MS_PER_DAY], "clicks_7d": [None, 4]})
    >>> out = derive_frame(df, now_ms=3 * MS_PER_DAY)
    >>> out["days_since_purchase"].tolist(), out["clicks_7d"].tolist()
    ([999.0, 2.0], [0, 4])
    >>> all(derive_frame(df, 3 * MS_PER_DAY).iloc[i].to_dict() == derive(df.iloc[i].dropna().to_dict(),
    ...     3 * MS_PER_DAY) for i in range(2))
    True
    """
    n = len(stored)
    now = np.broadcast_to(np.asarray(now_ms, dtype=np.int64), (n,))
    crisis, store = _ts_col(stored, "crisis_since_ms"), _ts_col(stored, "last_store_visit_ms")
    purchase, marketing = _ts_col(stored, "last_purchase_ms"), _ts_col(stored, "last_marketing_ms")
    signup = _ts_col(stored, "signup_ms")

    def since(ts: np.ndarray, unit: int, never: float) -> np.ndarray:
        return np.where(ts != 0, (now - ts) / unit, never)

    derived: dict[str, np.ndarray] = {
        "days_in_crisis": since(crisis, MS_PER_DAY, 0.0),
        "near_store": (store != 0) & (now - store <= NEAR_STORE_MS),
        "days_since_store_visit": since(store, MS_PER_DAY, NEVER_DAYS),
        "days_since_purchase": since(purchase, MS_PER_DAY, NEVER_DAYS),
        "hours_since_marketing": since(marketing, MS_PER_HOUR, NEVER_HOURS),
        "tenure_days": since(signup, MS_PER_DAY, 0.0),
    }
    cols: dict[str, Any] = {}
    for name, f in FEATURES.items():
        if name in derived:
            cols[name] = derived[name]
        elif name in stored:
            cols[name] = _plain_col(stored[name], f.dtype, f.default)
        elif f.dtype == "str":
            cols[name] = np.full(n, f.default, dtype=object)
        else:
            cols[name] = np.full(n, f.default, dtype=_NUMPY_DTYPE[f.dtype])
    return pd.DataFrame(cols, index=stored.index)
