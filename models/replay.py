"""Online replay: run a churn model through a simulated period the way production runs it, and score it honestly.

Day by day in event time: every sample of the day is scored by the model *as it is at the start of that day*
(it has learnt only from labels resolved before), the predictions are logged by
:class:`~models.delayed.DelayedLabelLearner`, the day's ``churned`` outcomes resolve positives, the label
watermark moves to the end of the day (negatives resolve once their window has passed) and the model learns
from everything resolved. The returned frame holds each sample's score as made at the time, so the AUC over a
late part of the period is the AUC a deployed model would have had there, without any offline split.

>>> import pandas as pd
>>> from models.churn import ChurnModel
>>> from models.delayed import DAY_MS
>>> rows = [{"customer_id": f"c{i}", "ts_ms": d * DAY_MS + i, "cancel_page_visits_7d": 3 * (i % 4 == 0)}
...         for d in range(20) for i in range(40)]
>>> out = [{"customer_id": f"c{i}", "ts_ms": 40 * DAY_MS, "outcome": "churned"} for i in range(0, 40, 4)]
>>> r = replay(pd.DataFrame(rows), pd.DataFrame(out), ChurnModel(), start_ms=0, window_ms=60 * DAY_MS)
>>> len(r), bool(r["score"].notna().all())
(800, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.delayed import CHURN_WINDOW_MS, DAY_MS, DelayedLabelLearner


def replay(
    frame: pd.DataFrame,
    outcomes: pd.DataFrame,
    model: Any,
    start_ms: int,
    window_ms: int = CHURN_WINDOW_MS,
    grace_ms: int = 0,
) -> pd.DataFrame:
    """Score-then-learn through ``frame`` (``customer_id``, ``ts_ms``, features) day by day; see the module doc.

    Returns ``customer_id``, ``ts_ms`` and ``score`` (P(churn) made at ``ts_ms`` by the model of that day), in
    the order of ``frame``. The samples must be at most one per customer and day (``min_gap_ms`` = 0 here, so
    every sample is logged for its label).
    """
    learner = DelayedLabelLearner(
        model, window_ms=window_ms, grace_ms=grace_ms, min_gap_ms=0, learn_batch=1 << 30
    )
    f = frame.assign(_i=np.arange(len(frame)), _day=(frame["ts_ms"].to_numpy(np.int64) - start_ms) // DAY_MS)
    churn = outcomes[outcomes["outcome"] == "churned"].sort_values("ts_ms", kind="stable")
    o_day = (churn["ts_ms"].to_numpy(np.int64) - start_ms) // DAY_MS
    scores = np.full(len(frame), np.nan)
    feature_cols = [c for c in frame.columns if c not in ("label", "true_stage")]
    last_day = int(max(f["_day"].max() if len(f) else 0, o_day.max() if len(o_day) else 0))
    by_day = dict(tuple(f.groupby("_day", sort=True)))
    for day in range(last_day + 1):
        today = by_day.get(day)
        if today is not None:
            scores[today["_i"].to_numpy()] = learner.score_many(today[feature_cols])
        for cid, ts in churn.loc[o_day == day, ["customer_id", "ts_ms"]].itertuples(index=False):
            learner.on_outcome(str(cid), int(ts), "churned")
        learner.advance(start_ms + (day + 1) * DAY_MS)
        learner.flush()
    return pd.DataFrame(
        {"customer_id": frame["customer_id"].to_numpy(), "ts_ms": frame["ts_ms"].to_numpy(), "score": scores},
        index=frame.index,
    )
