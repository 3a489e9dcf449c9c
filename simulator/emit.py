"""Columnar event buffer: the engine appends numpy columns per kind; nothing per event is a Python object.

Every appended event gets the next value of one global counter (its ``seq``); the event id is a hash of it,
so ids are unique and deterministic given the seed and the order of appends.

>>> buf = EventBuffer()
>>> buf.add("outcome", np.array([3, 5]), np.array([10, 20]), outcome=np.array([0, 1]))
>>> buf.pending, buf.counts["outcome"]
(2, 2)
>>> chunk = buf.take()["outcome"]
>>> chunk["seq"].tolist(), chunk["cust"].tolist(), buf.pending
([0, 1], [3, 5], 0)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt

Columns = dict[str, Any]


class EventBuffer:
    """Per-kind lists of column chunks, concatenated on :meth:`take`."""

    def __init__(self) -> None:
        self._chunks: dict[str, list[Columns]] = {}
        self.seq = 0
        self.pending = 0
        self.counts: Counter[str] = Counter()

    def add(
        self, kind: str, cust: npt.NDArray[np.integer], t_ms: npt.NDArray[np.integer], **fields: Any
    ) -> None:
        """Append events of one kind: customer indices, event times (epoch ms) and one array per field."""
        n = len(cust)
        if n == 0:
            return
        for name, col in fields.items():
            if len(col) != n:
                raise ValueError(f"{kind}.{name}: {len(col)} values for {n} events")
        cols: Columns = {
            "seq": np.arange(self.seq, self.seq + n, dtype=np.uint64),
            "cust": np.asarray(cust, dtype=np.int64),
            "t_ms": np.asarray(t_ms, dtype=np.int64),
            **fields,
        }
        self._chunks.setdefault(kind, []).append(cols)
        self.seq += n
        self.pending += n
        self.counts[kind] += n

    def take(self, before_ms: int | None = None) -> dict[str, Columns]:
        """Buffered events per kind (chunks concatenated), removed from the buffer.

        With ``before_ms``, only events with ``t_ms < before_ms`` are taken; later ones (a session or a call
        that runs past the end of the tick, a response minutes after a delivery) stay buffered for a later
        take, so that successive takes never go back in event time.

        >>> buf = EventBuffer()
        >>> buf.add("gps", np.array([1, 2, 3]), np.array([30, 10, 20]), lat=np.zeros(3))
        >>> buf.take(before_ms=25)["gps"]["t_ms"].tolist(), buf.pending
        ([10, 20], 1)
        >>> buf.take()["gps"]["t_ms"].tolist(), buf.pending, buf.take()
        ([30], 0, {})
        """
        out: dict[str, Columns] = {}
        kept: dict[str, list[Columns]] = {}
        pending = 0
        for kind, chunks in self._chunks.items():
            names = chunks[0].keys()
            cols: Columns = {
                name: (
                    np.concatenate([c[name] for c in chunks])
                    if isinstance(chunks[0][name], np.ndarray)
                    else [v for c in chunks for v in c[name]]
                )
                for name in names
            }
            if before_ms is not None:
                due = cols["t_ms"] < before_ms
                if not due.all():
                    later = np.flatnonzero(~due)
                    kept[kind] = [_select(cols, later)]
                    pending += len(later)
                    if not due.any():
                        continue
                    cols = _select(cols, np.flatnonzero(due))
            out[kind] = cols
        self._chunks = kept
        self.pending = pending
        return out


def _select(cols: Columns, rows: npt.NDArray[np.integer]) -> Columns:
    return {k: (v[rows] if isinstance(v, np.ndarray) else [v[i] for i in rows.tolist()]) for k, v in cols.items()}
