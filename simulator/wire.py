"""Columns -> typed Arrow tables (for Parquet) and JSON lines (for JSONL and Kafka), vectorised in Arrow.

JSON text is assembled with ``binary_join_element_wise`` over per-field string arrays, in the field order of
the schema files; only strings from fixed vocabularies and generated ids go in unescaped, free strings
(``decision_id``, ``action_id``, ``timezone``) are escaped by orjson.

>>> import orjson
>>> from events.validate import validate_bytes, Valid
>>> cols = {"seq": np.array([0], dtype=np.uint64), "cust": np.array([42]), "t_ms": np.array([1795000000123]),
...         "lat": np.array([40.5]), "lon": np.array([-3.25]), "accuracy_m": np.array([12.0])}
>>> table, lines = encode("gps", cols, seed=1)
>>> ev = orjson.loads(lines[0].as_py())
>>> ev["customer_id"], ev["event_time"], ev["lat"], isinstance(validate_bytes(lines[0].as_py()), Valid)
('c0000042', '2026-11-18T11:06:40.123Z', 40.5, True)
>>> table.schema.field("event_time").type
TimestampType(timestamp[ms, tz=UTC])
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from events.contracts import SCHEMA_VERSION, properties
from simulator.ids import customer_ids, hex_ids, padded_ids

ITEMS: tuple[str, ...] = (
    "coffee_beans",
    "paper_rolls",
    "card_terminal",
    "terminal_stand",
    "service_plan",
    "accessory_pack",
    "gift_card",
    "usual_order",
)
CURRENCIES: tuple[str, ...] = ("EUR", "GBP", "USD", "MXN")

#: How each field's column is stored by the engine: (encoding, argument).
ID_FIELDS: dict[str, tuple[str, int]] = {
    "session_id": ("s", 10),
    "call_id": ("k", 10),
    "complaint_id": ("q", 10),
    "order_id": ("o", 10),
    "problem_id": ("p", 9),
}
CUSTOM_VOCAB: dict[str, tuple[str, ...]] = {"item": ITEMS, "currency": CURRENCIES}
FREE_STRINGS = frozenset({"decision_id", "action_id", "timezone"})
TIME_FIELDS = frozenset({"eta", "signup_time"})
ENVELOPE = ("event_id", "customer_id", "kind", "schema_version", "event_time")


@cache
def vocab(kind: str, name: str) -> tuple[str, ...]:
    """The values a categorical column's codes index (the schema's enum, or a fixed list)."""
    if name in CUSTOM_VOCAB:
        return CUSTOM_VOCAB[name]
    return tuple(properties(kind)[name]["enum"])


def _ts(ms: np.ndarray) -> pa.Array:
    arr = pa.array(ms.astype(np.int64), mask=ms < 0, type=pa.int64())
    return arr.cast(pa.timestamp("ms", tz="UTC"))


def _typed_column(kind: str, name: str, col: Any) -> pa.Array:
    if name in ID_FIELDS:
        prefix, width = ID_FIELDS[name]
        return padded_ids(prefix, np.asarray(col), width)
    if name in FREE_STRINGS:
        return pa.array(col, type=pa.string())
    if name in TIME_FIELDS:
        return _ts(np.asarray(col))
    arr = np.asarray(col)
    if (
        arr.dtype.kind in "iu"
        and "type" in properties(kind)[name]
        and properties(kind)[name]["type"] == "string"
    ):
        return pa.array(np.array(vocab(kind, name), dtype=object)).take(pa.array(arr.astype(np.int32)))
    return pa.array(arr)


def typed_table(kind: str, cols: dict[str, Any], seed: int) -> pa.Table:
    """The events as a typed Arrow table with the schema's field order (event_time as timestamp[ms, UTC])."""
    n = len(cols["cust"])
    data: dict[str, pa.Array] = {
        "event_id": hex_ids(cols["seq"], seed),
        "customer_id": customer_ids(cols["cust"]),
        "kind": pa.array(np.full(n, kind, dtype=object), type=pa.string()),
        "schema_version": pa.array(np.full(n, SCHEMA_VERSION, dtype=np.int8)),
        "event_time": _ts(cols["t_ms"]),
    }
    for name in properties(kind):
        if name not in data:
            data[name] = _typed_column(kind, name, cols[name])
    return pa.table(data)


def _json_value(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_timestamp(t):
        # cast of a naive ms timestamp gives "YYYY-MM-DD HH:MM:SS.mmm" (20x faster than strftime)
        text = pc.replace_substring(arr.cast(pa.timestamp("ms")).cast(pa.string()), " ", "T", max_replacements=1)
        out = pc.binary_join_element_wise('"', text, 'Z"', "")
    elif pa.types.is_string(t):
        out = pc.binary_join_element_wise('"', arr, '"', "")
    else:
        out = arr.cast(pa.string())
    return pc.fill_null(out, "null")


def json_lines(kind: str, table: pa.Table) -> pa.StringArray:
    """One JSON object per row (no newline), fields in schema order."""
    parts: list[Any] = []
    for i, name in enumerate(table.column_names):
        col = table.column(name).combine_chunks()
        if name in FREE_STRINGS:
            col = pa.array(
                [orjson.dumps(v).decode() if v is not None else "null" for v in col.to_pylist()],
                type=pa.string(),
            )
        else:
            col = _json_value(col)
        parts.append(("{" if i == 0 else ",") + f'"{name}":')
        parts.append(col)
    parts.append("}")
    out: pa.StringArray = pc.binary_join_element_wise(*parts, "")
    return out


def encode(kind: str, cols: dict[str, Any], seed: int) -> tuple[pa.Table, pa.StringArray]:
    """Typed table and JSON lines of one kind's columns, sorted by event time (stable)."""
    order = np.argsort(cols["t_ms"], kind="stable")
    if not np.array_equal(order, np.arange(len(order))):
        cols = {
            k: (v[order] if isinstance(v, np.ndarray) else [v[i] for i in order]) for k, v in cols.items()
        }
    table = typed_table(kind, cols, seed)
    return table, json_lines(kind, table)
