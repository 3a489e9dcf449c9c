"""Per-customer stored features for the in-process closed loop: the batch oracle over a pruned, growing log.

The closed loop (:mod:`simulator.closedloop`) needs, after every simulated step, each customer's stored features
(``features.names.stored_features()``) as the online store would hold them at the step end: per feature group,
the row of the customer's latest event of that group. :class:`ContextTracker` keeps exactly that, computing the
rows with :func:`features.oracle.compute_features` (the same semantics as the streaming job), but only over the
history the new rows can depend on, so a step costs about the same on day 50 as on day 8:

* ``clickstream`` and ``call`` windows are at most 7 days, ``purchase`` windows 30 days: older events go;
* ``gps``: only the customer's last in-store ping (``last_store_visit_ms``) and the last minutes of pings;
* ``response``: 30 days, plus each customer's last delivered marketing/upsell (``last_marketing_ms``);
* ``complaint`` (lifecycle of open complaints), ``consent`` and ``profile`` are small and kept whole.

Rows are recomputed for events after ``cut - late_ms`` (the previous step's end minus an allowed lateness), so an
event the simulator emits up to ``late_ms`` before the step it belongs to still counts; events further back are
counted in :attr:`ContextTracker.late` and only feed later windows. Events are fed in event-time order, so the
oracle sees nothing late.

>>> from simulator.config import SimConfig
>>> from simulator.engine import Simulation
>>> sim = Simulation(SimConfig(customers=30, days=2, seed=1))
>>> tr = ContextTracker(n=30)
>>> sim.run_ticks(24); tr.add(sim.flush())
>>> ctx = tr.advance(sim.now_ms)
>>> 0 < len(ctx) <= 30, {"customer_id", "trigger", "event_ts_ms", "clicks_7d"} <= set(ctx.columns)
(True, True)
>>> bool((ctx["event_ts_ms"] <= sim.now_ms).all())
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.names import GROUPS, stored_features

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: How far back each group's windows reach (events older than ``cut - late - this`` are pruned).
WINDOW_MS: dict[str, int] = {"clickstream": 7 * DAY_MS, "call": 7 * DAY_MS, "purchase": 30 * DAY_MS,
                             "response": 30 * DAY_MS, "gps": 31 * MINUTE_MS}
_TIME_COLUMNS = ("event_time", "eta", "signup_time")


def customer_index(ids: Iterable[str]) -> np.ndarray:
    """Row numbers of simulator customer ids (``c0000042`` -> 42).

    >>> customer_index(["c0000042", "c0000007"]).tolist()
    [42, 7]
    """
    return np.array([int(str(c).lstrip("c")) for c in ids], dtype=np.int64)


def batch_frame(table: pa.Table) -> pd.DataFrame:
    """A simulator batch's typed table as the oracle's parsed flat columns (times as wire strings) + ``_ts``.

    >>> t = pa.table({"event_id": ["e1"], "customer_id": ["c1"], "kind": ["gps"],
    ...               "event_time": pa.array([1795000000123], pa.timestamp("ms", tz="UTC"))})
    >>> batch_frame(t)[["event_time", "_ts"]].values.tolist()
    [['2026-11-18T11:06:40.123Z', 1795000000123]]
    """
    ts = table.column("event_time").cast(pa.int64()).to_numpy()
    for name in _TIME_COLUMNS:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, pc.strftime(table.column(name), format="%Y-%m-%dT%H:%M:%SZ"))
    df = table.to_pandas()
    df["_ts"] = np.asarray(ts, dtype=np.int64)
    return df


class ContextTracker:
    """The online-store view of ``n`` simulated customers, advanced step by step."""

    def __init__(self, n: int, stores: list[Any] | None = None, late_ms: int = HOUR_MS) -> None:
        from features.oracle import inside_any_store
        from features.stores import load_stores

        self.n = n
        self.stores = load_stores() if stores is None else stores
        self._inside = inside_any_store
        self.late_ms = late_ms
        self.columns = stored_features()
        self.store: dict[str, np.ndarray] = {c: np.full(n, None, dtype=object) for c in self.columns}
        self.group_ts = {g: np.full(n, -1, dtype=np.int64) for g in GROUPS}
        self.hist: dict[str, pd.DataFrame] = {}
        self.pending: list[pd.DataFrame] = []
        self.cut_ms: int | None = None
        self.late = 0
        self.rows_computed = 0

    def add(self, batches: Iterable[Any]) -> None:
        """Queue the events of simulator batches (``KindBatch``); outcomes are not features and are dropped."""
        for b in batches:
            if b.kind == "outcome" or b.table.num_rows == 0:
                continue
            df = batch_frame(b.table)
            if b.kind == "gps":
                df["_inside"] = self._inside(df["lat"].to_numpy(np.float64), df["lon"].to_numpy(np.float64),
                                             self.stores)
            self.pending.append(df)

    def _take_pending(self, until_ms: int) -> dict[str, pd.DataFrame]:
        if not self.pending:
            return {}
        allp = pd.concat(self.pending, ignore_index=True) if len(self.pending) > 1 else self.pending[0]
        due = allp["_ts"].to_numpy() <= until_ms
        self.pending = [allp[~due].reset_index(drop=True)] if (~due).any() else []
        now = allp[due]
        return {str(k): f.dropna(axis=1, how="all") for k, f in now.groupby("kind", sort=True)}

    def advance(self, until_ms: int) -> pd.DataFrame:
        """Process every queued event up to ``until_ms``; return the customers whose context changed.

        One row per such customer: ``customer_id``, ``trigger`` (group of its latest new event),
        ``event_ts_ms`` (that event's time) and every stored feature as of ``until_ms``.
        """
        from features.oracle import compute_features

        new = self._take_pending(until_ms)
        sel = (self.cut_ms - self.late_ms) if self.cut_ms is not None else -1
        last_t = np.full(self.n, -1, dtype=np.int64)
        last_g = np.full(self.n, "", dtype=object)
        for group, fresh in new.items():
            old = self.hist.get(group)
            log = pd.concat([old, fresh], ignore_index=True) if old is not None else fresh.reset_index(drop=True)
            log = log.sort_values("_ts", kind="stable").reset_index(drop=True)
            self.late += int((fresh["_ts"].to_numpy() <= sel).sum())
            feed = log.drop(columns=[c for c in ("_ts", "_inside") if c in log.columns])
            rows = compute_features(feed, stores=self.stores).rows
            rows = rows[rows["event_ts_ms"].to_numpy() > sel]
            self.rows_computed += len(rows)
            if len(rows):
                latest = rows.groupby("customer_id", sort=False).tail(1)
                idx = customer_index(latest["customer_id"])
                ts = latest["event_ts_ms"].to_numpy(np.int64)
                newer = ts >= self.group_ts[group][idx]
                idx, ts, latest = idx[newer], ts[newer], latest[newer]
                self.group_ts[group][idx] = ts
                for name in GROUPS[group]:
                    col = latest[name].astype(object)
                    self.store[name][idx] = col.where(col.notna(), None).to_numpy()
            ci = customer_index(fresh["customer_id"])
            ft = fresh["_ts"].to_numpy(np.int64)
            order = np.argsort(ft, kind="stable")
            ci, ft = ci[order], ft[order]
            later = ft > last_t[ci]
            last_t[ci[later]] = ft[later]  # duplicates: the last (latest) assignment wins
            last_g[ci[later]] = group
            self.hist[group] = self._prune(group, log, until_ms - self.late_ms)
        self.cut_ms = until_ms
        changed = np.flatnonzero(last_t >= 0)
        return self.frame(changed, last_t[changed], last_g[changed])

    def frame(self, idx: np.ndarray, ts: np.ndarray, trigger: np.ndarray) -> pd.DataFrame:
        """Decision-stage input rows for customers ``idx`` (stored features as held now)."""
        cols: dict[str, Any] = {"customer_id": [f"c{i:07d}" for i in idx], "trigger": trigger,
                                "event_ts_ms": np.asarray(ts, dtype=np.int64)}
        for c in self.columns:
            cols[c] = self.store[c][idx]
        return pd.DataFrame(cols)

    def _prune(self, group: str, log: pd.DataFrame, sel: int) -> pd.DataFrame:
        """The part of ``log`` rows after ``sel`` can still depend on."""
        w = WINDOW_MS.get(group)
        if w is None:
            return log
        ts = log["_ts"].to_numpy()
        keep = ts > sel - w
        if group == "gps":
            inside = log["_inside"].to_numpy(dtype=bool)
            keep |= _last_per_customer(log, inside & ~keep)
        elif group == "response":
            mkt = (log["response"] == "delivered").to_numpy() & log["action_kind"].isin(
                ["marketing", "upsell"]).to_numpy()
            keep |= _last_per_customer(log, mkt & ~keep)
        return log[keep].reset_index(drop=True)


def _last_per_customer(log: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    """Mask of the last (by position, i.e. event time) selected row of each customer."""
    out = np.zeros(len(log), dtype=bool)
    if mask.any():
        pos = np.flatnonzero(mask)
        last = pd.Series(pos).groupby(log["customer_id"].to_numpy()[pos]).max().to_numpy()
        out[last] = True
    return out
