"""The membrane over a batch: :meth:`PolicySet.decide` evaluated column-wise, one decision record per row.

The decision job decides on batches of thousands of customers; evaluating every policy once per batch with numpy
(a bool column per condition, an ``rows x actions`` matrix per step) instead of once per row leaves only the
assembly of each record to Python. The records are the ones ``PolicySet.decide(...).to_record()`` gives for the
same rows (a test compares both paths over random customers); any row the column path cannot take as it is (a
value of the wrong type, NaN propensities) sends the whole batch through the row-wise path, which degrades per
row as ``decide`` does.

>>> import numpy as np, pandas as pd
>>> from rules.engine import PolicySet
>>> from features.names import defaults
>>> ps = PolicySet.load()
>>> feats = pd.DataFrame([{**defaults(), "days_in_crisis": 5.0, "open_complaints": 1}])
>>> recs = ColumnEngine(ps).records(feats, None, ColumnContext(["c1"], [None], [""], [""], ["k"]),
...                                 np.array([1_795_000_000_000]))
>>> recs[0]["action_id"], recs[0]["mandatory"], recs[0]["context_known"]
('svc_free_service', True, False)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.names import CHANNELS, SCORES
from rules.batch_records import ColumnContext, Outcome, batch_records
from rules.vexpr import ColumnPred, column_condition

if TYPE_CHECKING:
    from rules.engine import PolicySet

_CH = {c: k for k, c in enumerate(CHANNELS)}


class ColumnFallback(ValueError):
    """The batch cannot be decided column-wise as it is: decide it row by row."""


class _Codes:
    """Interned (policy, reason) pairs of one batch: the matrices hold their index, -1 for none."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []
        self._index: dict[tuple[str, str], int] = {}

    def code(self, pid: str, reason: str) -> int:
        key = (pid, reason)
        k = self._index.get(key)
        if k is None:
            k = self._index[key] = len(self.pairs)
            self.pairs.append(key)
        return k


def local_parts(ts_ms: np.ndarray, zones: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local hour and weekday (Monday 0) of each UTC millisecond time in each row's IANA zone (UTC if unknown).

    >>> h, d = local_parts(np.array([1_795_000_000_000, 1_795_000_000_000]), np.array(["UTC", "Asia/Tokyo"]))
    >>> h.tolist(), d.tolist()
    ([11, 20], [2, 2])
    """
    from rules.engine import _zone

    ts = np.asarray(ts_ms, dtype=np.int64)
    local = np.empty(len(ts), dtype=np.int64)
    if len(ts):
        lo, hi = (datetime.fromtimestamp(int(t) / 1000, tz=UTC) for t in (ts.min(), ts.max()))
        for name in pd.unique(zones):
            m = zones == name
            zone = _zone(str(name))
            off = lo.astimezone(zone).utcoffset()
            # one offset at both ends of a batch of less than a month: no transition inside it
            if off is not None and off == hi.astimezone(zone).utcoffset() and (hi - lo).days < 28:
                local[m] = ts[m] + int(off.total_seconds() * 1000)
            else:
                utc = pd.to_datetime(ts[m], unit="ms", utc=True).tz_convert(zone).tz_localize(None)
                local[m] = utc.to_numpy().astype("datetime64[ms]").astype(np.int64)
    days = np.floor_divide(local, 86_400_000)
    return np.floor_divide(local - days * 86_400_000, 3_600_000), (days + 3) % 7  # 1970-01-01 was a Thursday


def factorize_rows(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of an integer matrix (one representative row index each) and each row's distinct index.

    Hash-based (``numpy.unique(axis=0)`` sorts the rows as opaque bytes: ten times slower here).

    >>> rep, inv = factorize_rows(np.array([[1, 2], [3, 4], [1, 2]]))
    >>> rep.tolist(), inv.tolist()
    ([2, 1], [0, 1, 0])
    """
    m = np.ascontiguousarray(mat, dtype=np.int64)
    n = len(m)
    w = m.shape[1] * 8 if m.ndim == 2 else 8
    raw = m.tobytes()
    keys = np.empty(n, dtype=object)
    keys[:] = [raw[i : i + w] for i in range(0, n * w, w)]
    inverse, uniques = pd.factorize(keys)
    rep = np.empty(len(uniques), dtype=np.int64)
    rep[inverse] = np.arange(n)
    return rep, inverse


class ColumnEngine:
    """A compiled policy set's column form (built once per :class:`PolicySet`)."""

    def __init__(self, ps: PolicySet) -> None:
        self.ps = ps
        self.conds: dict[int, ColumnPred] = {}
        for p in ps.policies:
            for c in (p.when, p.requires):
                if c is not None and id(c) not in self.conds:
                    self.conds[id(c)] = column_condition(c)
        acts = ps.actions
        self.base = np.array(ps._base, dtype=np.float64)
        self.chan_codes = [np.array([_CH[c] for c in a.channels], dtype=np.int64) for a in acts]
        self.quiet_targets = [frozenset(p.targets) for p in ps._by["quiet_hours"]]

    def _when(self, cond: Any, cols: dict[str, np.ndarray], n: int) -> np.ndarray:
        """The rows a condition holds for (every row for an absent condition)."""
        if cond is None:
            return np.full(n, True)
        return self.conds[id(cond)](cols, n)

    @staticmethod
    def _no_channel(codes: _Codes, own: tuple[str, ...], removed: np.ndarray, added: np.ndarray) -> np.ndarray:
        """The blocking code of each row whose channels were all removed (``removed``: rows x channels codes;
        ``added``: the inbound channel the row's action may also use, -1 none): one reason per distinct row."""
        both = np.column_stack([removed, added])
        rep, inverse = factorize_rows(both)
        out = []
        for *rm, inc in both[rep].tolist():
            chans = [*own, CHANNELS[inc]] if inc >= 0 else list(own)
            why = [codes.pairs[rm[_CH[c]]] for c in chans]
            out.append(codes.code(why[0][0], "no allowed channel: "
                                  + "; ".join(f"{c}: {w[1]}" for c, w in zip(chans, why, strict=True))))
        return np.array(out, dtype=np.int64)[inverse]

    def columns(self, feats: pd.DataFrame, scores: pd.DataFrame | None, ctx: ColumnContext,
                ts_ms: np.ndarray, known: bool) -> dict[str, np.ndarray]:
        """The ``name -> column`` mapping the conditions read: ``PolicySet.row`` for every row at once."""
        n = len(feats)
        cols: dict[str, np.ndarray] = {}
        for name, default in self.ps._defaults.items():
            src = scores if scores is not None and name in SCORES and name in scores.columns else feats
            if name in src.columns:
                col = src[name].to_numpy()
                if col.dtype == object and any(v is None for v in col):
                    raise ColumnFallback(f"{name}: missing values")
                cols[name] = col
            else:
                cols[name] = np.full(n, default, dtype=object if isinstance(default, str) else None)
        cols["inbound_channel"] = np.asarray(ctx.inbound, dtype=object)
        cols["trigger"] = np.asarray(ctx.triggers, dtype=object)
        cols["context_known"] = np.full(n, known)
        cols["local_hour"], cols["local_weekday"] = local_parts(ts_ms, cols["timezone"].astype(str))
        return cols

    def records(self, feats: pd.DataFrame, scores: pd.DataFrame | None, ctx: ColumnContext,
                ts_ms: np.ndarray) -> list[dict[str, Any]]:
        """One published decision record per row (``scores`` None: decided without context)."""
        known = scores is not None
        cols = self.columns(feats, scores, ctx, ts_ms, known)
        return self._decide(cols, scores, ctx, np.asarray(ts_ms, dtype=np.int64), len(feats))

    def _decide(self, cols: dict[str, np.ndarray], scores: pd.DataFrame | None, ctx: ColumnContext,
                ts_ms: np.ndarray, n: int) -> list[dict[str, Any]]:
        ps, acts = self.ps, self.ps.actions
        na = len(acts)
        codes = _Codes()
        blocked = np.full((n, na), -1, dtype=np.int64)
        for p in ps._blocking:
            if p.kind == "gate":
                m = ~self._when(p.requires, cols, n)
            else:
                m = self._when(p.when, cols, n)
            if not m.any():
                continue
            if p.kind == "suppress":
                for i in p.targets:
                    c = cols[ps._reject_key[i]]
                    hit = m & (c >= p.rejects) & (blocked[:, i] < 0)
                    for v in pd.unique(c[hit]).tolist():
                        code = codes.code(p.id, f"{p.reason} ({v} rejects of {acts[i].kind})")
                        blocked[hit & (c == v), i] = code
                continue
            t = list(p.targets)
            sub = blocked[:, t]
            sub[m[:, None] & (sub < 0)] = codes.code(p.id, p.reason)
            blocked[:, t] = sub
        inbound = cols["inbound_channel"]
        in_code = np.array([_CH.get(c, -2) if c else -1 for c in inbound.tolist()], dtype=np.int64)
        if (in_code == -2).any():
            raise ColumnFallback("an inbound channel that is not a known channel")
        # Channel removals, in policy order: per removal, the rows x channels it removes and its code there; the
        # first removal that targets an action and names a channel gives the code of (row, action, channel).
        nc = len(CHANNELS)
        sources: list[tuple[frozenset[int], np.ndarray, np.ndarray]] = []
        for p, tset in ps._consent:
            gone = np.column_stack([~cols[f"consent_{ch}"].astype(bool) for ch in CHANNELS])
            if gone.any():
                kc = np.array([codes.code(p.id, f"{ps._consent_reason[p.id]}: {ch}") for ch in CHANNELS])
                sources.append((tset, gone, np.broadcast_to(kc, (n, nc))))
        for p, tset in ps._caps:
            counter = cols[p.counter]
            m = (counter >= p.max) & self._when(p.when, cols, n)
            if not m.any():
                continue
            per_row = np.full(n, -1, dtype=np.int64)
            for v in pd.unique(counter[m]).tolist():
                per_row[m & (counter == v)] = codes.code(p.id, f"{p.reason} ({v} in a {p.per}, max {p.max})")
            named = np.zeros(nc, dtype=bool)
            named[[_CH[ch] for ch in ((p.channel,) if p.channel else CHANNELS)]] = True
            gone = m[:, None] & named[None, :] & (in_code[:, None] != np.arange(nc)[None, :])
            sources.append((tset, gone, np.broadcast_to(per_row[:, None], (n, nc))))
        # actions targeted by the same removals share their rows x channels codes
        removed_by: dict[tuple[int, ...], np.ndarray] = {}
        removed_of: list[np.ndarray] = []
        for i in range(na):
            sig = tuple(k for k, (tset, _, _) in enumerate(sources) if i in tset)
            rm = removed_by.get(sig)
            if rm is None:
                rm = np.full((n, nc), -1, dtype=np.int64)
                for k in sig:
                    _, gone, kc = sources[k]
                    upd = gone & (rm < 0)
                    rm[upd] = kc[upd]
                removed_by[sig] = rm
            removed_of.append(rm)
        extra = np.zeros((n, na), dtype=bool)
        weight = np.ones((n, na))
        applied: list[tuple[str, np.ndarray, frozenset[int]]] = []  # (policy, rows, targets) in order
        has_in = in_code >= 0
        for p in ps._by["inbound"]:
            m = has_in & self._when(p.when, cols, n)
            if m.any():
                t = list(p.targets)
                extra[:, t] |= m[:, None]
                weight[:, t] = np.where(m[:, None], weight[:, t] * p.factor, weight[:, t])
                applied.append((p.id, m, frozenset(p.targets)))
        pref_code = np.array([_CH.get(c, -1) for c in cols["preferred_channel"].astype(str).tolist()])
        channel = np.full((n, na), -1, dtype=np.int64)
        rows = np.arange(n)
        in_safe = np.where(in_code >= 0, in_code, 0)
        for i, a in enumerate(acts):
            open_ = blocked[:, i] < 0
            cc = self.chan_codes[i]
            rm = removed_of[i]
            ok = rm[:, cc] < 0  # rows x the action's own channels
            add = extra[:, i] & ~np.isin(in_code, cc)
            ok_in = add & (rm[rows, in_safe] < 0)
            none_ok = open_ & ~(ok.any(axis=1) | ok_in)
            stuck = np.flatnonzero(none_ok)
            if len(stuck):
                added = np.where(add[stuck], in_code[stuck], -1)
                blocked[stuck, i] = self._no_channel(codes, a.channels, rm[stuck], added)
            in_ok = (ok & (in_code[:, None] == cc)).any(axis=1) | ok_in
            pref_ok = (ok & (pref_code[:, None] == cc)).any(axis=1) | (ok_in & (pref_code == in_code))
            first = np.where(ok.any(axis=1), cc[np.argmax(ok, axis=1)], in_code)
            channel[:, i] = np.where(in_ok, in_code, np.where(pref_ok, pref_code, first))
        for p in ps._by["yield"]:
            dept = list(ps._dept_idx[p.to])
            m = self._when(p.when, cols, n) & (blocked[:, dept] < 0).any(axis=1)
            if m.any():
                t = list(p.targets)
                sub = blocked[:, t]
                sub[m[:, None] & (sub < 0)] = codes.code(p.id, f"{p.reason} ({p.to} first)")
                blocked[:, t] = sub
        mandatory = np.full((n, na), -1, dtype=np.int64)
        mand_ids = [p.id for p in ps._by["mandatory"]]
        for k, p in enumerate(ps._by["mandatory"]):
            if p.when is not None:
                m = self._when(p.when, cols, n)
                t = list(p.targets)
                sub = mandatory[:, t]
                sub[m[:, None] & (sub < 0)] = k
                mandatory[:, t] = sub
        for p in ps._by["weight"]:
            m = self._when(p.when, cols, n)
            if m.any():
                t = list(p.targets)
                weight[:, t] = np.where(m[:, None], weight[:, t] * p.factor, weight[:, t])
                applied.append((p.id, m, frozenset(p.targets)))
        prop = np.column_stack([np.asarray(cols[k], dtype=np.float64) for k in ps._prop_key])
        free = blocked < 0
        prio = np.where(free, prop * weight * self.base, 0.0)
        if not np.isfinite(prio).all():
            raise ColumnFallback("priorities that are not finite numbers")
        is_mand = mandatory >= 0
        elig = free & (is_mand | (prio > 0))
        mand_elig = elig & is_mand
        pool = np.where(mand_elig.any(axis=1)[:, None], mand_elig, elig)
        best = np.where(pool.any(axis=1), np.argmax(np.where(pool, prio, -np.inf), axis=1), -1)
        deferred = np.full((n, na), -1, dtype=np.int64)
        hours = np.zeros((n, na))
        defer_pols = ps._by["defer"]
        for k, p in enumerate(defer_pols):
            if p.when is not None:
                m = self._when(p.when, cols, n)
                t = list(p.targets)
                upd = m[:, None] & ((deferred[:, t] < 0) | (hours[:, t] < p.hours))
                deferred[:, t] = np.where(upd, k, deferred[:, t])
                hours[:, t] = np.where(upd, p.hours, hours[:, t])
        quiet = [(p, self._when(p.when, cols, n), tset)
                 for p, tset in zip(ps._by["quiet_hours"], self.quiet_targets, strict=True)]
        return batch_records(Outcome(
            policy_set=ps, cols=cols, scores=scores, ctx=ctx, ts_ms=ts_ms, pairs=codes.pairs, blocked=blocked,
            channel=channel, mandatory=mandatory, mandatory_ids=mand_ids, deferred=deferred, defer_policies=defer_pols,
            weight=weight, prio=prio, prop=prop, best=best, applied=applied, quiet=quiet))
