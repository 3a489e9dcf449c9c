"""Wire-fault injection on one serialised batch: malformed, missing field, duplicate, out-of-order, late.

Faults are chosen with a dedicated random stream (deterministic per seed); every injected fault is recorded
as (event_id, kind, fault, detail) so tests can follow it to the dead-letter path.

>>> import orjson
>>> from simulator.wire import encode
>>> from simulator.config import FaultRates
>>> n = 200
>>> cols = {"seq": np.arange(n, dtype=np.uint64), "cust": np.arange(n), "t_ms": np.arange(n) * 1000,
...         "outcome": np.zeros(n, dtype=np.int8)}
>>> table, lines = encode("outcome", cols, seed=0)
>>> wire = inject("outcome", table, lines, np.random.default_rng(0), FaultRates(duplicate=0.1, malformed=0.1))
>>> len(wire.lines) == n + wire.records["fault"].count("duplicate")
True
>>> sorted(set(wire.records["fault"]))
['duplicate', 'malformed']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from events.contracts import required_fields
from simulator.config import FaultRates
from simulator.wire import json_lines

FAULT_KINDS: tuple[str, ...] = ("malformed", "missing_field", "duplicate", "out_of_order", "late")


@dataclass
class WireBatch:
    """What goes on the wire for one kind: JSON lines and their keys (customer ids), in stream order."""

    kind: str
    lines: pa.StringArray
    keys: pa.StringArray
    records: dict[str, list[str]] = field(
        default_factory=lambda: {"event_id": [], "kind": [], "fault": [], "detail": []}
    )


def _pick(rng: np.random.Generator, n: int, rates: FaultRates) -> np.ndarray:
    """Fault code per row: 0 none, 1.. FAULT_KINDS index + 1 (at most one fault per row)."""
    p = np.array([rates.malformed, rates.missing_field, rates.duplicate, rates.out_of_order, rates.late])
    u = rng.random(n)
    edges = np.cumsum(p)
    code = np.searchsorted(edges, u, side="right") + 1
    code[u >= edges[-1]] = 0
    return code


def late_shift_range_s(rates: FaultRates) -> tuple[float, float]:
    """How far back (seconds) a late fault's event time goes: well beyond ``lateness_s`` (by 30 s at least).

    >>> late_shift_range_s(FaultRates(lateness_s=2.0))
    (32.0, 92.0)
    >>> late_shift_range_s(FaultRates(lateness_s=3600.0))
    (5400.0, 10800.0)
    """
    lo = max(1.5 * rates.lateness_s, rates.lateness_s + 30.0)
    return lo, max(3.0 * rates.lateness_s, lo + 60.0)


def inject(
    kind: str,
    table: pa.Table,
    lines: pa.StringArray,
    rng: np.random.Generator,
    rates: FaultRates,
    prev_ms: int | None = None,
) -> WireBatch:
    """Apply faults to a time-sorted batch; faultless batches pass through untouched (zero copies).

    An ``out_of_order`` event gets a time up to ``max_disorder_s`` behind the newest event before it on its
    topic (``prev_ms``: the newest of the kind's earlier batches, or the time before which earlier flushes
    completed the stream when that is later), a ``late`` one a time beyond ``lateness_s``
    behind it (:func:`late_shift_range_s`); the kind's very first event gets neither.
    """
    n = len(lines)
    keys = table.column("customer_id").combine_chunks()
    batch = WireBatch(kind, lines, keys)
    total = rates.malformed + rates.missing_field + rates.duplicate + rates.out_of_order + rates.late
    if total <= 0 or n == 0:
        return batch
    code = _pick(rng, n, rates)
    if not code.any():
        return batch
    ids = table.column("event_id").combine_chunks()
    rec = batch.records
    replaced: dict[int, str] = {}

    def note(rows: np.ndarray, fault: str, details: list[str]) -> None:
        rec["event_id"].extend(ids.take(pa.array(rows)).to_pylist())
        rec["kind"].extend([kind] * len(rows))
        rec["fault"].extend([fault] * len(rows))
        rec["detail"].extend(details)

    rows = np.flatnonzero(code == 1)
    if len(rows):
        cut = rng.integers(3, 12, size=len(rows))
        texts = lines.take(pa.array(rows)).to_pylist()
        for r, c, text in zip(rows.tolist(), cut.tolist(), texts, strict=True):
            replaced[r] = text[: len(text) - c]
        note(rows, "malformed", [f"truncated {c} chars" for c in cut.tolist()])
    rows = np.flatnonzero(code == 2)
    if len(rows):
        candidates = [f for f in required_fields(kind) if f not in ("event_id", "kind")]
        which = rng.integers(0, len(candidates), size=len(rows))
        texts = lines.take(pa.array(rows)).to_pylist()
        for r, w, text in zip(rows.tolist(), which.tolist(), texts, strict=True):
            obj = orjson.loads(text)
            del obj[candidates[w]]
            replaced[r] = orjson.dumps(obj).decode()
        note(rows, "missing_field", [candidates[w] for w in which.tolist()])
    if rates.out_of_order > 0 or rates.late > 0:
        # the newest event time before each row on the topic: the batch is time-sorted, and earlier batches
        # of the kind end at or before its first event (``prev_ms``)
        t_all = pc.cast(table.column("event_time"), pa.int64()).to_numpy()
        newest_before = np.concatenate([[-1 if prev_ms is None else prev_ms], t_all[:-1]])
    for fault_code, fault in ((4, "out_of_order"), (5, "late")):
        rows = np.flatnonzero(code == fault_code)
        if not len(rows):
            continue
        rows = rows[newest_before[rows] >= 0]  # nothing before the kind's very first event: no fault there
        if not len(rows):
            continue
        anchor = np.minimum(newest_before[rows], t_all[rows])
        if fault == "out_of_order":
            behind = rng.uniform(0.1, 1.0, size=len(rows)) * rates.max_disorder_s
        else:
            behind = rng.uniform(*late_shift_range_s(rates), size=len(rows))
        t = anchor - np.maximum((behind * 1000).astype(np.int64), 1)
        shift_ms = t_all[rows] - t
        sub = table.take(pa.array(rows))
        sub = sub.set_column(
            sub.column_names.index("event_time"), "event_time", pa.array(t).cast(pa.timestamp("ms", tz="UTC"))
        )
        for r, text in zip(rows.tolist(), json_lines(kind, sub).to_pylist(), strict=True):
            replaced[r] = text
        note(rows, fault, [f"shifted back {s} ms" for s in shift_ms.tolist()])
    order = np.arange(n)
    extra = [lines]
    if replaced:
        pos = np.fromiter(replaced.keys(), dtype=np.int64, count=len(replaced))
        order[pos] = n + np.arange(len(pos))
        extra.append(pa.array(list(replaced.values()), type=pa.string()))
    dup = np.flatnonzero(code == 3)
    key_order = np.arange(n)
    if len(dup):
        at = np.minimum(dup + 1 + rng.integers(0, 50, size=len(dup)), n)
        order = np.insert(order, at, dup)
        key_order = np.insert(key_order, at, dup)
        note(dup, "duplicate", ["resent"] * len(dup))
    combined = pa.concat_arrays(extra) if len(extra) > 1 else lines
    batch.lines = combined.take(pa.array(order))
    batch.keys = keys.take(pa.array(key_order))
    return batch
