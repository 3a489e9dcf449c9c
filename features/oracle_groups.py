"""One function per feature group: on-time events of one kind -> one row per (customer, event time).

Each function gets the kind's on-time events (``features.oracle_ingest``) and returns a DataFrame with
``customer_id``, ``event_ts_ms`` and the group's stored features (``features.names.GROUPS``). All values are
"as of" the row's event time ``t`` over events with event time ``<= t`` (peers included) -- see
``features/SEMANTICS.md`` and the interpretations in ``features/oracle.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.names import ACTION_KINDS, CHANNELS, GROUPS
from features.oracle_windows import (
    DAY_MS,
    HOUR_MS,
    IntArray,
    Keyspace,
    asof_index,
    count_in_window,
    count_upto,
    first_greater,
    sum_in_window,
)

W_1H, W_24H, W_7D, W_30D = HOUR_MS, 24 * HOUR_MS, 7 * DAY_MS, 30 * DAY_MS


@dataclass
class Prepared:
    """Events of one kind sorted by (customer, ts, event_id) with keys; ``q`` marks the rows' events."""

    ev: pd.DataFrame
    ks: Keyspace
    code: IntArray
    key: IntArray
    q: np.ndarray  # bool mask: last event (largest event_id) of each (customer, ts)

    @classmethod
    def of(cls, events: pd.DataFrame) -> Prepared:
        code0 = pd.factorize(events["customer_id"], sort=True)[0].astype(np.int64)
        ts0 = events["ts"].to_numpy(dtype=np.int64)
        order = np.lexsort((ts0, code0))
        # ties (same customer and ts) are rare: order only those by event_id (string sort of a small subset)
        peers = pd.DataFrame({"c": code0[order], "t": ts0[order]}).duplicated(keep=False).to_numpy()
        if peers.any():
            pos = np.flatnonzero(peers)
            sub = pd.DataFrame({"c": code0[order[pos]], "t": ts0[order[pos]],
                                "e": events["event_id"].to_numpy()[order[pos]], "i": order[pos]})
            order[pos] = sub.sort_values(["c", "t", "e"], kind="stable")["i"].to_numpy()
        ev = events.take(order).reset_index(drop=True)
        code, ts = code0[order], ts0[order]
        ks = Keyspace.for_times(ts, int(code.max()) + 1 if len(code) else 0)
        q = ~pd.DataFrame({"c": code, "t": ts}).duplicated(keep="last").to_numpy()
        return cls(ev=ev, ks=ks, code=code, key=ks.key(code, ts), q=q)

    @property
    def qkey(self) -> IntArray:
        return self.key[self.q]

    @property
    def qcode(self) -> IntArray:
        return self.code[self.q]

    def col(self, name: str) -> pd.Series:
        return self.ev[name]

    def keys_where(self, mask: np.ndarray | pd.Series) -> IntArray:
        """Sorted keys of the events selected by ``mask`` (a subset of a sorted array stays sorted)."""
        return self.key[np.asarray(mask, dtype=bool)]

    def count(self, mask: np.ndarray | pd.Series | None, w_ms: int) -> IntArray:
        data = self.key if mask is None else self.keys_where(mask)
        return count_in_window(data, self.qkey, w_ms)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "customer_id": self.ev["customer_id"].to_numpy()[self.q],
            "event_ts_ms": self.ev["ts"].to_numpy(dtype=np.int64)[self.q],
        })


def clickstream(p: Prepared) -> pd.DataFrame:
    out = p.frame()
    page = p.col("page").to_numpy()
    out["clicks_1h"] = p.count(None, W_1H)
    out["clicks_24h"] = p.count(None, W_24H)
    out["clicks_7d"] = p.count(None, W_7D)
    out["cancel_page_visits_7d"] = p.count(page == "cancel", W_7D)
    out["help_page_visits_7d"] = p.count(page == "help", W_7D)
    return out


def call(p: Prepared) -> pd.DataFrame:
    out = p.frame()
    reason = p.col("reason").astype(str).to_numpy()
    calls_7d = p.count(None, W_7D)
    distinct = np.zeros(len(calls_7d), dtype=np.int64)
    for r in np.unique(reason):
        distinct += p.count(reason == r, W_7D) > 0
    inbound = p.col("direction").to_numpy() == "inbound"
    n_in = p.count(inbound, W_7D)
    wait_sum = sum_in_window(p.keys_where(inbound), p.code[inbound],
                             p.col("wait_s").to_numpy(dtype=np.float64)[inbound], p.qkey, W_7D)
    out["calls_24h"] = p.count(None, W_24H)
    out["calls_7d"] = calls_7d
    out["repeat_calls_7d"] = calls_7d - distinct
    out["mean_wait_s_7d"] = np.divide(wait_sum, n_in, out=np.zeros(len(n_in)), where=n_in > 0)
    # "of the event itself": the row's representative event (largest event_id among peers)
    out["last_call_sentiment"] = p.col("sentiment").to_numpy(dtype=np.float64)[p.q]
    out["last_call_reason"] = reason[p.q]
    return out


def _min_ts(p: Prepared, mask: np.ndarray, by: IntArray, n: int) -> IntArray:
    """Per complaint (``by`` = its code), min relative event time of its events in ``mask``, else never."""
    out = np.full(n, p.ks.never_rel, dtype=np.int64)
    rel = p.ks.rel(p.col("ts").to_numpy(dtype=np.int64))
    np.minimum.at(out, by[mask], rel[mask])
    return out


def complaint(p: Prepared) -> pd.DataFrame:
    out = p.frame()
    ks, never = p.ks, p.ks.never_rel
    status = p.col("status").to_numpy()
    opened = status == "opened"
    out["complaints_7d"] = p.count(opened, W_7D)
    out["complaints_30d"] = p.count(opened, W_30D)
    # recurrences: opened events with the same (customer, problem_id) as the row's event, in 30 d
    pair = pd.factorize(pd.MultiIndex.from_arrays([p.code, p.col("problem_id").astype(str).to_numpy()]))[0]
    pks = Keyspace.for_times(p.col("ts").to_numpy(dtype=np.int64), int(pair.max()) + 1 if len(pair) else 0)
    pair_key = pks.key(pair, p.col("ts").to_numpy(dtype=np.int64))
    order = np.argsort(pair_key, kind="stable")
    opened_pair_keys = pair_key[order][opened[order]]
    out["problem_recurrences_30d"] = count_in_window(opened_pair_keys, pair_key[p.q], W_30D)

    # lifecycle per complaint (customer, complaint_id), over all on-time events; times relative to ks
    complaint_ids = p.col("complaint_id").astype(str).to_numpy()
    cid, uniq = pd.factorize(pd.MultiIndex.from_arrays([p.code, complaint_ids]))
    n = len(uniq)
    ccode = np.asarray(uniq.get_level_values(0), dtype=np.int64)
    a = _min_ts(p, opened | (status == "updated"), cid, n)  # first opened/updated: open from here
    r = _min_ts(p, status == "resolved", cid, n)  # first resolved: closed from here
    e = _min_ts(p, p.col("eta_given").to_numpy(dtype=bool), cid, n)  # first ETA
    o = _min_ts(p, opened, cid, n)  # the opened event
    has = a < never
    qk, qblock = p.qkey, ks.block_start(p.qcode)

    def upto(rel: IntArray, sel: np.ndarray) -> IntArray:
        return count_upto(np.sort(ks.key_rel(ccode[sel], rel[sel])), qk, qblock)

    open_n = upto(a, has) - upto(np.maximum(a, r), has & (r < never))  # open on [a, r)
    ended_or_eta = np.maximum(a, np.minimum(r, e))  # open without ETA on [a, min(r, e))
    no_eta = upto(a, has) - upto(ended_or_eta, has & (np.minimum(r, e) < never))
    out["open_complaints"] = open_n
    out["eta_given"] = no_eta == 0
    # crisis start: min over open complaints of (opened time if seen else first opened/updated time). Each
    # complaint gives constant-valued intervals [a, min(o, r)) -> a and [o, r) -> o; the value is the
    # interval start, so the answer is the earliest start among active intervals: the first (by start)
    # interval whose end exceeds t, found with a running max of the ends.
    starts = np.concatenate([a[has], o[has]])
    ends = np.concatenate([np.minimum(o, r)[has], r[has]])
    icode = np.concatenate([ccode[has], ccode[has]])
    keep = ends > starts
    starts, ends, icode = starts[keep], ends[keep], icode[keep]
    order = np.lexsort((starts, icode))
    starts, ends, icode = starts[order], ends[order], icode[order]
    run_end = pd.Series(ends).groupby(icode).cummax().to_numpy(dtype=np.int64)
    j = first_greater(ks.key_rel(icode, run_end), qk)
    qrel = ks.rel(out["event_ts_ms"].to_numpy(dtype=np.int64))
    crisis = np.zeros(len(qk), dtype=np.int64)
    if len(starts):
        jj = np.minimum(j, len(starts) - 1)
        found = (j < len(starts)) & (icode[jj] == p.qcode) & (starts[jj] <= qrel)
        crisis[found] = starts[jj][found] - ks.rel(0)
    out["crisis_since_ms"] = crisis
    return out


def gps(p: Prepared, inside: np.ndarray) -> pd.DataFrame:
    """``inside``: per event (in ``p.ev`` order), the ping lies in a store geofence."""
    out = p.frame()
    idx = asof_index(p.keys_where(inside), p.code[inside], p.qkey, p.qcode)
    ts_in = p.col("ts").to_numpy(dtype=np.int64)[inside]
    out["last_store_visit_ms"] = np.where(idx >= 0, ts_in[np.maximum(idx, 0)] if len(ts_in) else 0, 0)
    return out


def purchase(p: Prepared) -> pd.DataFrame:
    out = p.frame()
    amount = p.col("amount").to_numpy(dtype=np.float64)
    out["spend_30d"] = sum_in_window(p.key, p.code, amount, p.qkey, W_30D)
    out["purchases_30d"] = p.count(None, W_30D)
    out["last_purchase_ms"] = out["event_ts_ms"]  # max event time of purchases <= t is t itself
    return out


def response(p: Prepared) -> pd.DataFrame:
    out = p.frame()
    resp = p.col("response").to_numpy()
    channel = p.col("channel").to_numpy()
    akind = p.col("action_kind").to_numpy()
    delivered = resp == "delivered"
    out["contacts_24h"] = p.count(delivered, W_24H)
    out["contacts_7d"] = p.count(delivered, W_7D)
    mkt = delivered & np.isin(akind, ["marketing", "upsell"])
    idx = asof_index(p.keys_where(mkt), p.code[mkt], p.qkey, p.qcode)
    ts_m = p.col("ts").to_numpy(dtype=np.int64)[mkt]
    out["last_marketing_ms"] = np.where(idx >= 0, ts_m[np.maximum(idx, 0)] if len(ts_m) else 0, 0)
    for ch in CHANNELS:
        out[f"contacts_{ch}_24h"] = p.count(delivered & (channel == ch), W_24H)
        out[f"contacts_{ch}_7d"] = p.count(delivered & (channel == ch), W_7D)
    rejected = resp == "rejected"
    for k in ACTION_KINDS:
        out[f"rejects_{k}_30d"] = p.count(rejected & (akind == k), W_30D)
    return out


def consent(p: Prepared) -> pd.DataFrame:
    out = p.frame()
    channel = p.col("channel").to_numpy()
    granted = p.col("granted").to_numpy(dtype=bool)
    for ch in CHANNELS:
        sel = channel == ch
        idx = asof_index(p.keys_where(sel), p.code[sel], p.qkey, p.qcode)
        g = granted[sel]
        out[f"consent_{ch}"] = np.where(idx >= 0, g[np.maximum(idx, 0)] if len(g) else True, True)
    return out


def profile(p: Prepared) -> pd.DataFrame:
    # The latest profile event at or before t (ties: larger event_id) is the row's representative itself.
    out = p.frame()
    out["timezone"] = p.col("timezone").astype(str).to_numpy()[p.q]
    out["preferred_channel"] = p.col("preferred_channel").astype(str).to_numpy()[p.q]
    out["signup_ms"] = signup_ms(p.col("signup_time")).to_numpy()[p.q]
    return out


def signup_ms(times: pd.Series) -> pd.Series:
    """Epoch ms of ``signup_time`` (any ISO 8601 time with a zone, naive = UTC), 0 when unparsable.

    >>> signup_ms(pd.Series(["1970-01-01T00:00:02.000Z", "yesterday"])).tolist()
    [2000, 0]
    """
    dt = pd.to_datetime(times.astype("string"), format="ISO8601", errors="coerce", utc=True)
    out = pd.Series(0, index=times.index, dtype=np.int64)
    ok = dt.notna()
    out[ok] = (dt[ok] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")
    return out


#: Group -> event kind (the same name) and its function (gps takes the geofence mask too).
SIMPLE: dict[str, Callable[[Prepared], pd.DataFrame]] = {
    "clickstream": clickstream,
    "call": call,
    "complaint": complaint,
    "purchase": purchase,
    "response": response,
    "consent": consent,
    "profile": profile,
}


def check_columns(group: str, frame: pd.DataFrame, extra: Sequence[str] = ("customer_id", "event_ts_ms")
                  ) -> None:
    """Raise if a group function's output does not have exactly the contract's columns."""
    want = [*extra, *GROUPS[group]]
    if sorted(frame.columns) != sorted(want):
        got = sorted(frame.columns)
        raise RuntimeError(f"oracle group {group}: columns {got} != contract {sorted(want)}")
