"""Append feature rows to the offline store: a Parquet part per group and batch, read by its view's source.

Layout: ``<offline_root>/<group>/part-<first event ms>-<uuid>.parquet`` with columns ``customer_id``,
``event_ts`` and ``created_ts`` (UTC timestamps) and the group's features with their contract types. A part is
written under a hidden name and renamed, so readers never see half a file. Redelivered rows (at-least-once)
become exact duplicates, which Feast's point-in-time join tolerates (same key, same time, same values).

>>> import tempfile, pyarrow.parquet as pq
>>> d = tempfile.mkdtemp()
>>> p = ParquetAppender(d).append([FeatureRow("c1", "gps", 1000, {"last_store_visit_ms": 7})], now_ms=2000)
>>> pq.read_table(d + "/gps").to_pylist()[0]["last_store_visit_ms"]
7
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from features.names import GROUPS, feature_dtype
from features.rows import FeatureRow, by_group

_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
_TS = pa.timestamp("us", tz="UTC")
_CAST: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}


def group_schema(group: str) -> pa.Schema:
    """Arrow schema of one group's Parquet parts.

    >>> group_schema("gps").names
    ['customer_id', 'event_ts', 'created_ts', 'last_store_visit_ms']
    """
    return pa.schema([("customer_id", pa.string()), ("event_ts", _TS), ("created_ts", _TS),
                      *[(n, _ARROW[feature_dtype(n)]) for n in GROUPS[group]]])


def rows_to_table(group: str, rows: Sequence[FeatureRow], now_ms: int) -> pa.Table:
    """Arrow table of one group's rows (``created_ts`` = ``now_ms``, the write time)."""
    schema = group_schema(group)
    cols: dict[str, list[object]] = {
        "customer_id": [r.customer_id for r in rows],
        "event_ts": [r.event_ts_ms * 1000 for r in rows],
        "created_ts": [now_ms * 1000] * len(rows),
    }
    for n in GROUPS[group]:
        cast = _CAST[feature_dtype(n)]
        cols[n] = [None if (v := r.values.get(n)) is None else cast(v) for r in rows]
    arrays = []
    for f in schema:
        if f.name in ("event_ts", "created_ts"):
            arrays.append(pa.array(cols[f.name], type=pa.int64()).cast(_TS))
        else:
            arrays.append(pa.array(cols[f.name], type=f.type, from_pandas=False))
    return pa.Table.from_arrays(arrays, schema=schema)


class ParquetAppender:
    """Writes each batch's rows as new Parquet parts, one per group."""

    def __init__(self, root: str | Path, compression: str = "snappy") -> None:
        self.root = Path(root)
        self.compression = compression

    def init_groups(self) -> list[Path]:
        """Give every group's directory at least one part: a sentinel row of customer ``""`` at epoch 0.

        Feast's dask offline store fails on a missing directory (a view without rows yet would break every
        ``get_historical_features`` that mentions it) and on a zero-row part (dask cannot compute divisions
        without min/max statistics), hence one row that no real customer id can match.
        """
        made: list[Path] = []
        for group in GROUPS:
            gdir = self.root / group
            gdir.mkdir(parents=True, exist_ok=True)
            if not any(gdir.glob("part-*.parquet")):
                path = gdir / "part-0000000000000-sentinel.parquet"
                sentinel = rows_to_table(group, [FeatureRow("", group, 0, {})], now_ms=0)
                pq.write_table(sentinel, path, compression=self.compression)
                made.append(path)
        return made

    def append(self, rows: Sequence[FeatureRow], now_ms: int) -> list[Path]:
        """Write the rows; returns the new part files."""
        out: list[Path] = []
        for group, grows in by_group(rows).items():
            table = rows_to_table(group, grows, now_ms)
            gdir = self.root / group
            gdir.mkdir(parents=True, exist_ok=True)
            first = min(r.event_ts_ms for r in grows)
            name = f"part-{first:013d}-{uuid.uuid4().hex[:12]}.parquet"
            tmp = gdir / f".{name}.tmp"
            pq.write_table(table, tmp, compression=self.compression)
            os.replace(tmp, gdir / name)
            out.append(gdir / name)
        return out
