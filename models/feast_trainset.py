"""The Feast backend of the training sets: stored feature rows -> Feast (offline + online) -> point-in-time join.

The path a production training set takes, end to end, for a simulated population:

1. feature rows (one per customer, group and event time; here from ``features.oracle.compute_features``, in
   production from the feature job's changelog) are written by the project's own sink
   (:func:`features.writer.make_sink`: the online store through ``features.online_writers`` and the offline
   Parquet parts through ``features.offline_writer.ParquetAppender``) into a Feast deployment applied with
   :func:`features.store.apply`;
2. the samples (``customer_id``, ``ts_ms``) become Feast's entity rows and
   :func:`features.training.training_frame` runs ``get_historical_features`` per feature view (the
   point-in-time join; one view per call so a row Feast drops for one view keeps the other views' values);
3. :func:`features.derive.derive_frame` derives the time-decaying features at each sample's own time.

The rows are written uncoalesced (every row of the history), as a replay of the changelog writes them; the live
writer keeps only the newest row per key and batch, which is the same for the online store but thins the
offline history to one row per key and batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.names import GROUPS

if TYPE_CHECKING:
    from feast import FeatureStore

    from cxm.config import Settings
    from features.rows import FeatureRow


def feature_rows(rows: pd.DataFrame) -> list[FeatureRow]:
    """Oracle rows (wide: ``customer_id``, ``group``, ``event_ts_ms``, features) as changelog ``FeatureRow``s.

    Only the group's own features are kept; missing values (``<NA>``) become ``None``.

    >>> df = pd.DataFrame({"customer_id": ["c1"], "group": ["gps"], "event_ts_ms": [5],
    ...                    "last_store_visit_ms": pd.array([5], dtype="Int64"), "clicks_1h": [None]})
    >>> feature_rows(df)
    [FeatureRow(customer_id='c1', group='gps', event_ts_ms=5, values={'last_store_visit_ms': 5})]
    """
    from features.rows import FeatureRow

    out: list[FeatureRow] = []
    for group, g in rows.groupby("group", sort=False):
        names = [n for n in GROUPS[str(group)] if n in g.columns]
        vals = g[names].astype(object).where(g[names].notna(), None)
        for cid, ts, rec in zip(
            g["customer_id"].to_numpy(), g["event_ts_ms"].to_numpy(np.int64), vals.to_dict("records"), strict=True
        ):
            out.append(FeatureRow(str(cid), str(group), int(ts), {k: _py(v) for k, v in rec.items()}))
    out.sort(key=lambda r: r.event_ts_ms)
    return out


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def load_feast(settings: Settings, rows: pd.DataFrame, now_ms: int, chunk: int = 50_000) -> FeatureStore:
    """Apply the Feast repo under ``settings.var_dir`` and write ``rows`` to its online and offline stores.

    ``now_ms`` stamps the offline parts' ``created_ts`` (the write time; injected, not read from a clock).
    """
    from features.store import apply
    from features.writer import make_sink

    store = apply(settings)
    sink = make_sink(settings)
    sink.wall_ms = lambda: now_ms
    try:
        frs = feature_rows(rows)
        for i in range(0, len(frs), chunk):
            sink.write(frs[i : i + chunk])
    finally:
        sink.close()
    return store


def feast_as_of(store: Any, samples: pd.DataFrame) -> pd.DataFrame:
    """Every feature of ``features.names.FEATURES`` as of each sample (``customer_id``, ``ts_ms``) from Feast.

    Rows come back in the order of ``samples`` with columns ``customer_id``, ``ts_ms`` and the features.
    """
    from features.definitions import ENTITY_COLUMN, view_name
    from features.derive import derive_frame
    from features.training import training_frame

    ts = samples["ts_ms"].to_numpy(np.int64)
    entity_df = pd.DataFrame(
        {
            ENTITY_COLUMN: samples["customer_id"].astype(str).to_numpy(),
            "event_timestamp": pd.to_datetime(ts, unit="ms", utc=True),
        }
    )
    stored = pd.DataFrame({"customer_id": entity_df[ENTITY_COLUMN].to_numpy(), "ts_ms": ts})
    for group, names in GROUPS.items():
        got = training_frame(store, entity_df, [f"{view_name(group)}:{n}" for n in names])
        for n in names:
            stored[n] = got[n].to_numpy()
    feats = derive_frame(stored, ts)
    return pd.concat([stored[["customer_id", "ts_ms"]], feats], axis=1)
