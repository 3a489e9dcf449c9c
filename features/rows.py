"""Feature rows of the ``features.changelog`` topic: parsing and coalescing.

A row is the state of one (customer, group) as of ``event_ts_ms``; the newest row of a key supersedes the
older ones, so a batch only needs the newest row per key.

>>> r = parse_row(b'{"customer_id":"c1","group":"gps","event_ts_ms":5,"values":{"last_store_visit_ms":5}}')
>>> r.key, r.values
('c1|gps', {'last_store_visit_ms': 5})
>>> old = FeatureRow("c1", "gps", 4, {"last_store_visit_ms": 0})
>>> [x.event_ts_ms for x in coalesce([r, old])]
[5]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from features.names import GROUPS


class BadRow(ValueError):
    """A changelog record that can never be written (bad JSON, unknown group, missing fields)."""


@dataclass(slots=True)
class FeatureRow:
    customer_id: str
    group: str
    event_ts_ms: int
    values: dict[str, Any]

    @property
    def key(self) -> str:
        """The Kafka key of the row's topic: ``customer_id|group``."""
        return f"{self.customer_id}|{self.group}"

    def to_json(self) -> bytes:
        """The changelog record value.

        >>> parse_row(FeatureRow("c", "gps", 1, {"last_store_visit_ms": 1}).to_json()).customer_id
        'c'
        """
        return orjson.dumps({"customer_id": self.customer_id, "group": self.group,
                             "event_ts_ms": self.event_ts_ms, "values": self.values})


def parse_row(raw: bytes | str) -> FeatureRow:
    """Parse one changelog record value; raises :class:`BadRow` when it can never be written.

    >>> parse_row(b'{"customer_id":"c1","group":"nope","event_ts_ms":1,"values":{}}')
    Traceback (most recent call last):
    ...
    features.rows.BadRow: unknown group 'nope'
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRow(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadRow("not a JSON object")
    group = doc.get("group")
    if group not in GROUPS:
        raise BadRow(f"unknown group {group!r}")
    cid, ts, values = doc.get("customer_id"), doc.get("event_ts_ms"), doc.get("values")
    if not isinstance(cid, str) or not cid:
        raise BadRow("customer_id missing")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise BadRow("event_ts_ms missing or not an int")
    if not isinstance(values, dict):
        raise BadRow("values missing")
    return FeatureRow(cid, group, ts, values)


def coalesce(rows: Iterable[FeatureRow]) -> list[FeatureRow]:
    """The newest row per (customer, group); on equal event times the later row (in arrival order) wins."""
    best: dict[tuple[str, str], FeatureRow] = {}
    for r in rows:
        k = (r.customer_id, r.group)
        cur = best.get(k)
        if cur is None or r.event_ts_ms >= cur.event_ts_ms:
            best[k] = r
    return list(best.values())


def by_group(rows: Iterable[FeatureRow]) -> dict[str, list[FeatureRow]]:
    """Rows split by group (order kept).

    >>> sorted(by_group([FeatureRow("a", "gps", 1, {}), FeatureRow("a", "call", 1, {})]))
    ['call', 'gps']
    """
    out: dict[str, list[FeatureRow]] = {}
    for r in rows:
        out.setdefault(r.group, []).append(r)
    return out


def random_rows(n_rows: int, n_customers: int, seed: int, t0_ms: int = 1_800_000_000_000) -> list[FeatureRow]:
    """Deterministic synthetic rows over all groups (benchmarks and tests), event times increasing.

    >>> rows = random_rows(16, 4, seed=1)
    >>> len(rows), len({r.group for r in rows}), rows[0].event_ts_ms < rows[-1].event_ts_ms
    (16, 8, True)
    """
    import random

    from features.names import feature_dtype

    rng = random.Random(seed)
    groups = list(GROUPS)
    gen = {
        "int": lambda: rng.randint(0, 50) if rng.random() < 0.8 else rng.randint(-(2**40), 2**40),
        "float": lambda: round(rng.uniform(-100.0, 1000.0), rng.randint(0, 6)),
        "bool": lambda: rng.random() < 0.5,
        "str": lambda: rng.choice(["UTC", "Europe/Zürich", "sms", "email", "billing", ""]),
    }
    return [
        FeatureRow(f"c{rng.randrange(n_customers):06d}", (g := groups[i % len(groups)]), t0_ms + i * 7,
                   {n: gen[feature_dtype(n)]() for n in GROUPS[g]})
        for i in range(n_rows)
    ]
