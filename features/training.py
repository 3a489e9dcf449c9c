"""Point-in-time training sets from Feast that keep every label row.

Feast's dask offline store silently *drops* an entity row whose customer has feature rows, but all of them
after the row's timestamp (a customer seen only later); customers never seen are kept with nulls. With
several views, the dropped row loses the other views' values too. A training set must not lose labels, so
:func:`training_frame` tags the rows, asks Feast, and left-joins the answer back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

ROW_ID = "__cxm_row"


def _refs(features: Any) -> list[str]:
    if isinstance(features, (list, tuple)):
        return list(features)
    return [f"{p.name}:{f.name}" for p in features.feature_view_projections for f in p.features]


def training_frame(store: Any, entity_df: pd.DataFrame, features: Sequence[str] | Any) -> pd.DataFrame:
    """``entity_df`` (``customer_id``, ``event_timestamp``, labels...) with the features as of each row's time.

    ``features`` is a list of ``"view:feature"`` references or a FeatureService. Rows come back in the
    order of ``entity_df``; features with no row at or before the timestamp are null. Ask for one view
    per call when a dropped row must keep its other views' values (dask fails on some such queries).
    """
    tagged = entity_df.reset_index(drop=True).assign(**{ROW_ID: range(len(entity_df))})
    got = store.get_historical_features(tagged, _refs(features)).to_df()
    new_cols = [c for c in got.columns if c not in tagged.columns]
    out = tagged.merge(got[[ROW_ID, *new_cols]], on=ROW_ID, how="left")
    return out.sort_values(ROW_ID).drop(columns=ROW_ID).reset_index(drop=True)
