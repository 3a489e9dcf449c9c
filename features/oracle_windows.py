"""Vectorised event-time window primitives of the batch oracle (``features/oracle.py``).

Every (customer, event time) pair becomes one sortable int64 *key*: ``code * mult + (ts - t0 + PAD)``. Keys
of one customer are contiguous and ordered by time, keys of different customers never interleave, and ``key
- w`` for any window ``w <= MAX_WINDOW_MS`` stays inside the customer's block. A closed window ``[t - w,
t]`` over a sorted key array is then two ``searchsorted`` calls (``'left'`` at ``key - w``, ``'right'`` at
``key``, so peers with the same timestamp are included), and "the latest event at or before t" is one
``'right'`` search.

>>> ks = Keyspace.for_times(np.array([0, 10, 20]), n_codes=2)
>>> data = ks.key(np.array([0, 0, 0, 1]), np.array([0, 10, 20, 10]))
>>> count_in_window(data, ks.key(np.array([0, 1]), np.array([20, 20])), 10).tolist()
[2, 1]
>>> q_codes = np.array([1, 0])
>>> asof_index(data, np.array([0, 0, 0, 1]), ks.key(q_codes, np.array([5, 15])), q_codes).tolist()
[-1, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: The longest window any feature uses (30 days).
MAX_WINDOW_MS = 30 * DAY_MS
_PAD = MAX_WINDOW_MS + 1
_MAX_KEY = 2**62


@dataclass(frozen=True)
class Keyspace:
    """Maps (customer code, epoch ms) to sortable int64 keys; ``never`` is a time after every event."""

    t0: int
    mult: int
    never_rel: int

    @classmethod
    def for_times(cls, ts: npt.ArrayLike, n_codes: int) -> Keyspace:
        """A keyspace for event times ``ts`` and customer codes ``0 .. n_codes-1``."""
        arr = np.asarray(ts, dtype=np.int64)
        t0 = int(arr.min()) if arr.size else 0
        span = int(arr.max()) - t0 if arr.size else 0
        never_rel = span + 2 * _PAD
        mult = never_rel + _PAD + 1
        if max(n_codes, 1) * mult >= _MAX_KEY:
            raise ValueError(f"event log too large for int64 keys: {n_codes} customers over {span} ms")
        return cls(t0=t0, mult=mult, never_rel=never_rel)

    def rel(self, ts: npt.ArrayLike) -> IntArray:
        """Time relative to the keyspace (``PAD`` for the earliest event)."""
        return np.asarray(ts, dtype=np.int64) - self.t0 + _PAD

    def key(self, code: npt.ArrayLike, ts: npt.ArrayLike) -> IntArray:
        """Keys of (code, ts) pairs."""
        return np.asarray(code, dtype=np.int64) * self.mult + self.rel(ts)

    def key_rel(self, code: npt.ArrayLike, rel: npt.ArrayLike) -> IntArray:
        """Keys of (code, relative time) pairs (``rel`` may be ``never_rel``)."""
        return np.asarray(code, dtype=np.int64) * self.mult + np.asarray(rel, dtype=np.int64)

    def block_start(self, code: npt.ArrayLike) -> IntArray:
        """The smallest key of a customer's block."""
        return np.asarray(code, dtype=np.int64) * self.mult


def count_in_window(data_keys: IntArray, q_keys: IntArray, w_ms: int) -> IntArray:
    """Number of sorted ``data_keys`` in the closed window ``[q - w, q]`` of each query key."""
    if w_ms > MAX_WINDOW_MS:
        raise ValueError(f"window {w_ms} ms longer than MAX_WINDOW_MS")
    hi = np.searchsorted(data_keys, q_keys, side="right")
    lo = np.searchsorted(data_keys, q_keys - w_ms, side="left")
    return (hi - lo).astype(np.int64)


def count_upto(data_keys: IntArray, q_keys: IntArray, q_block: IntArray) -> IntArray:
    """Number of sorted ``data_keys`` of the query's customer (block start ``q_block``) up to the query."""
    hi = np.searchsorted(data_keys, q_keys, side="right")
    lo = np.searchsorted(data_keys, q_block, side="left")
    return (hi - lo).astype(np.int64)


def sum_in_window(data_keys: IntArray, data_codes: IntArray, values: FloatArray, q_keys: IntArray,
                  w_ms: int) -> FloatArray:
    """Sum of ``values`` (aligned with sorted ``data_keys``) in ``[q - w, q]``.

    Prefix sums restart for each customer so that a window sum never subtracts two large global totals.

    >>> keys, codes = np.array([1, 2, 3]), np.array([0, 0, 0])
    >>> sum_in_window(keys, codes, np.array([1.0, 2.0, 4.0]), np.array([3, 1]), 1)
    array([6., 1.])
    """
    hi = np.searchsorted(data_keys, q_keys, side="right")
    lo = np.searchsorted(data_keys, q_keys - w_ms, side="left")
    out = np.zeros(len(q_keys), dtype=np.float64)
    if len(data_keys) == 0:
        return out
    v = np.asarray(values, dtype=np.float64)
    incl = pd.Series(v).groupby(np.asarray(data_codes)).cumsum().to_numpy(dtype=np.float64)
    excl = incl - v
    has = hi > lo
    out[has] = incl[hi[has] - 1] - excl[lo[has]]
    return out


def asof_index(data_keys: IntArray, data_codes: IntArray, q_keys: IntArray, q_codes: IntArray) -> IntArray:
    """Index of the last sorted data key at or before each query key within the same customer, else -1.

    With data sorted by (customer, time, event_id) this is the latest event by event time, ties broken by the
    larger event_id, peers of the query included.
    """
    idx = np.searchsorted(data_keys, q_keys, side="right") - 1
    ok = idx >= 0
    ok[ok] = np.asarray(data_codes)[idx[ok]] == np.asarray(q_codes)[ok]
    return np.where(ok, idx, -1).astype(np.int64)


def first_greater(data_keys: IntArray, q_keys: IntArray) -> IntArray:
    """Index of the first sorted data key strictly greater than each query key (``len`` when none)."""
    return np.searchsorted(data_keys, q_keys, side="right").astype(np.int64)
