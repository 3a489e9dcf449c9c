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
    return pd.to_numeric(df[name], errors="coerce").fillna(0).to_numpy(dtype=np.int64)


def derive_frame(stored: pd.DataFrame, now_ms: int | np.ndarray) -> pd.DataFrame:
    """Vectorised :func:`derive`: one row per customer, columns = ``FEATURES`` (same index as ``stored``).

    ``now_ms`` is a scalar or one time per row (e.g. the label times of a training set).

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
    cols: dict[str, Any] = {}
    for name in _PLAIN:
        f = FEATURES[name]
        if name in stored:
            col = stored[name].where(stored[name].notna(), f.default)
            py = {"int": "int64", "float": "float64", "bool": "bool", "str": "object"}[f.dtype]
            cols[name] = col.astype(py) if f.dtype != "str" else col.astype(str)
        else:
            cols[name] = np.full(n, f.default, dtype=object if f.dtype == "str" else None)
    crisis, store = _ts_col(stored, "crisis_since_ms"), _ts_col(stored, "last_store_visit_ms")
    purchase, marketing = _ts_col(stored, "last_purchase_ms"), _ts_col(stored, "last_marketing_ms")
    signup = _ts_col(stored, "signup_ms")

    def since(ts: np.ndarray, unit: int, never: float) -> np.ndarray:
        return np.where(ts != 0, (now - ts) / unit, never)

    cols["days_in_crisis"] = since(crisis, MS_PER_DAY, 0.0)
    cols["near_store"] = (store != 0) & (now - store <= NEAR_STORE_MS)
    cols["days_since_store_visit"] = since(store, MS_PER_DAY, NEVER_DAYS)
    cols["days_since_purchase"] = since(purchase, MS_PER_DAY, NEVER_DAYS)
    cols["hours_since_marketing"] = since(marketing, MS_PER_HOUR, NEVER_HOURS)
    cols["tenure_days"] = since(signup, MS_PER_DAY, 0.0)
    out = pd.DataFrame(cols, index=stored.index)
    return out[list(FEATURES)]
