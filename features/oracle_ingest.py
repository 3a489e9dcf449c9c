"""The oracle's input stage: validate -> de-duplicate -> classify late, over an event log in arrival order.

Follows ``features/SEMANTICS.md`` (Input 1-4). Returns the on-time events split by kind, each a DataFrame with
the kind's fields plus ``ts`` (event time, epoch ms) and ``arrival`` (position in the log).

>>> log = pd.DataFrame({"topic": ["events.consent"] * 4, "value": [
...     b'{"event_id":"e0000001","customer_id":"c1","kind":"consent","schema_version":1,'
...     b'"event_time":"2026-11-24T10:00:00.000Z","channel":"sms","granted":false}',
...     b'{"event_id":"e0000001","customer_id":"c1","kind":"consent","schema_version":1,'
...     b'"event_time":"2026-11-24T10:00:00.000Z","channel":"sms","granted":false}',
...     b'not json',
...     b'{"event_id":"e0000002","customer_id":"c1","kind":"consent","schema_version":1,'
...     b'"event_time":"2026-11-24T09:00:00.000Z","channel":"sms","granted":true}']})
>>> out = ingest(log, watermark_delay_s=2.0)
>>> out.invalid, out.duplicates, out.late, out.late_event_ids
(1, 1, 1, ['e0000002'])
>>> out.by_kind["consent"][["event_id", "ts"]].values.tolist()
[['e0000001', 1795514400000]]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from events.contracts import KINDS, field_types, required_fields
from events.validate import Invalid, validate_bytes

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_EPOCH = pd.Timestamp(0, tz="UTC")
_ENVELOPE = ["event_id", "customer_id", "kind", "event_time"]


@dataclass
class Ingested:
    """On-time events by kind, and what was dropped on the way."""

    by_kind: dict[str, pd.DataFrame]
    invalid: int = 0
    duplicates: int = 0
    late: int = 0
    invalid_event_ids: list[str] = field(default_factory=list)
    late_event_ids: list[str] = field(default_factory=list)
    duplicate_event_ids: list[str] = field(default_factory=list)
    invalid_reasons: dict[str, int] = field(default_factory=dict)


def parse_event_time_ms(times: pd.Series) -> pd.Series:
    """Epoch ms of wire-format event times; ``<NA>`` for unparsable ones (e.g. 2026-02-30).

    >>> parse_event_time_ms(pd.Series(["1970-01-01T00:00:01.250Z", "2026-02-30T10:00:00.000Z"])).tolist()
    [1250, <NA>]
    """
    dt = pd.to_datetime(times.astype("string"), format=_TIME_FORMAT, errors="coerce", utc=True)
    out = pd.Series(pd.NA, index=times.index, dtype="Int64")
    ok = dt.notna()
    out[ok] = (dt[ok] - _EPOCH) // pd.Timedelta(1, "ms")
    return out


def _validate_raw(values: Any) -> tuple[dict[str, list[int]], dict[str, list[dict[str, Any]]], list[Invalid]]:
    positions: dict[str, list[int]] = {}
    events: dict[str, list[dict[str, Any]]] = {}
    failures: list[Invalid] = []
    for pos, raw in enumerate(values):
        if isinstance(raw, float) and np.isnan(raw):  # a null cell in the log
            raw = None
        res = validate_bytes(raw)
        if isinstance(res, Invalid):
            failures.append(res)
            continue
        ev = res.event
        kind = ev["kind"]
        positions.setdefault(kind, []).append(pos)
        events.setdefault(kind, []).append(ev)
    return positions, events, failures


def _split_parsed(frame: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], list[Invalid]]:
    """Already-parsed flat columns: light checks (known kind, required fields present), not the schema."""
    failures: list[Invalid] = []
    frames: dict[str, pd.DataFrame] = {}
    missing_env = [c for c in _ENVELOPE if c not in frame.columns]
    if missing_env:
        raise ValueError(f"parsed event log lacks envelope columns {missing_env}")
    df = frame.reset_index(drop=True)
    df["arrival"] = np.arange(len(df), dtype=np.int64)
    known = df["kind"].isin(KINDS)
    for eid in df.loc[~known, "event_id"]:
        eid_or_none = eid if isinstance(eid, str) else None
        failures.append(Invalid("unknown_kind", "unknown kind", "kind", None, eid_or_none))
    for kind, sub in df[known].groupby("kind", sort=False):
        types = field_types(str(kind))
        need = [f for f in required_fields(str(kind)) if f != "schema_version" and "null" not in types[f]]
        absent = [f for f in need if f not in sub.columns]
        if absent:
            bad = pd.Series(True, index=sub.index)
        else:
            bad = sub[need].isna().any(axis=1)
        for eid in sub.loc[bad, "event_id"]:
            failures.append(Invalid("missing_field", "missing field", None, str(kind),
                                    eid if isinstance(eid, str) else None))
        good = sub[~bad]
        cols = [c for c in good.columns if c == "arrival" or good[c].notna().any() or c in need]
        frames[str(kind)] = good[cols].reset_index(drop=True)
    return frames, failures


def ingest(events: pd.DataFrame, watermark_delay_s: float = 2.0, tolerance_s: float = 0.0,
           late_scope: str = "global") -> Ingested:
    """Validate, de-duplicate (first arrival wins) and drop late events of a log in arrival order.

    ``late_scope="global"`` (SEMANTICS.md): late = below the max event time of *all* earlier arrivals minus the
    delay; ``"topic"``: of earlier arrivals on the same topic (``topic`` column, else ``events.<kind>``), like
    ``events.deadletter.Router`` -- closer to Flink's per-partition watermarks when topics are produced in
    per-kind batches.
    """
    if late_scope not in ("global", "topic"):
        raise ValueError(f"late_scope must be 'global' or 'topic', not {late_scope!r}")
    if "value" in events.columns:
        positions, dicts, failures = _validate_raw(events["value"].tolist())
        frames = {}
        for kind, evs in dicts.items():
            f = pd.DataFrame.from_records(evs)
            f["arrival"] = np.asarray(positions[kind], dtype=np.int64)
            frames[kind] = f
    else:
        frames, failures = _split_parsed(events)
    reasons = Counter(f.error_kind for f in failures)
    invalid_ids = [f.event_id for f in failures if f.event_id]

    env_parts = [f[["arrival", "event_id", "event_time"]].assign(kind=k) for k, f in frames.items()]
    if env_parts:
        env = pd.concat(env_parts, ignore_index=True).sort_values("arrival", kind="stable")
        env = env.reset_index(drop=True)
    else:
        env = pd.DataFrame({"arrival": pd.Series(dtype=np.int64), "event_id": pd.Series(dtype=object),
                            "event_time": pd.Series(dtype=object), "kind": pd.Series(dtype=object)})
    ts = parse_event_time_ms(env["event_time"])
    bad_time = ts.isna().to_numpy()
    if bad_time.any():
        reasons["bad_event_time"] += int(bad_time.sum())
        invalid_ids.extend(env.loc[bad_time, "event_id"].astype(str).tolist())
    env = env[~bad_time].copy()
    env["ts"] = ts[~bad_time].astype(np.int64).to_numpy()

    dup = env["event_id"].duplicated(keep="first").to_numpy()
    dup_ids = env.loc[dup, "event_id"].astype(str).tolist()
    env = env[~dup]
    t = env["ts"].to_numpy(dtype=np.int64)
    if late_scope == "global":
        prev_max = np.maximum.accumulate(t)
        before = np.concatenate([[np.iinfo(np.int64).min], prev_max[:-1]]) if len(t) else prev_max
    else:
        arrival = env["arrival"].to_numpy()
        if "topic" in events.columns:
            topic = events["topic"].astype(str).to_numpy()[arrival]
        else:
            topic = ("events." + env["kind"].astype(str)).to_numpy()
        run_max = pd.Series(t).groupby(topic).cummax()
        before = run_max.groupby(topic).shift(1).fillna(np.iinfo(np.int64).min).to_numpy(dtype=np.float64)
    threshold = before.astype(np.float64) - watermark_delay_s * 1000.0 - tolerance_s * 1000.0
    late = t.astype(np.float64) < threshold
    late_ids = env.loc[late, "event_id"].astype(str).tolist()
    on_time = env[~late]

    ts_by_arrival = pd.Series(on_time["ts"].to_numpy(), index=on_time["arrival"].to_numpy())
    by_kind: dict[str, pd.DataFrame] = {}
    for kind, f in frames.items():
        keep = f["arrival"].isin(ts_by_arrival.index).to_numpy()
        sub = f[keep].reset_index(drop=True)
        sub["ts"] = ts_by_arrival.reindex(sub["arrival"].to_numpy()).to_numpy(dtype=np.int64)
        by_kind[kind] = sub
    return Ingested(
        by_kind=by_kind,
        invalid=sum(reasons.values()),
        duplicates=len(dup_ids),
        late=len(late_ids),
        invalid_event_ids=invalid_ids,
        late_event_ids=late_ids,
        duplicate_event_ids=dup_ids,
        invalid_reasons={str(k): v for k, v in reasons.items()},
    )
