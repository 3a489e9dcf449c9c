"""Split a flat input row (features + scores + context columns, as in a what-if table) for decide().

>>> row = {"customer_id": "c1", "days_in_crisis": 4.0, "stage": "in_crisis", "inbound_channel": "call"}
>>> f, s, c = split_row(row)
>>> (f, s, c.customer_id, c.inbound_channel)
({'days_in_crisis': 4.0}, {'stage': 'in_crisis'}, 'c1', 'call')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from features.names import FEATURES, SCORES
from rules.engine import DecisionContext


def _clean(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def split_row(row: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], DecisionContext]:
    """(features, scores, context) of one flat row; NaN/None values are left out (defaults apply)."""
    clean = {k: _clean(v) for k, v in row.items()}
    feats = {k: v for k, v in clean.items() if k in FEATURES and v is not None}
    scores = {k: v for k, v in clean.items() if (k in SCORES or k == "model_version") and v is not None}
    ev = _clean(row.get("event_id"))
    ctx = DecisionContext(
        customer_id=str(row["customer_id"]),
        event_id=str(ev) if ev is not None else None,
        inbound_channel=str(_clean(row.get("inbound_channel")) or ""),
        trigger=str(_clean(row.get("trigger")) or ""),
        features_known=bool(_clean(row.get("features_known", True)) is not False),
    )
    return feats, scores, ctx
