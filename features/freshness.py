"""Feature freshness: how long after its event time a feature row becomes visible in the online store.

The lead's pipeline benchmark produces events, then calls :func:`measure_freshness` with what it produced;
each probe polls Feast (``get_online_features``) until the group's row of that customer carries an event
time at or after the produced one, and records ``visible wall time - event time``.

>>> clock = iter([10.0, 10.5, 11.0]).__next__
>>> seen = {("c1", "gps"): [0, 5_000]}
>>> def read(batch):  # returns the stored event_ts_ms per probe (polls pop the next value)
...     return [seen[(p.customer_id, p.group)].pop(0) for p in batch]
>>> res = measure_freshness([Probe("c1", "gps", 5_000)], read, clock, sleep=lambda s: None, timeout_s=5)
>>> res.lags_s, res.missing
([6.0], 0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Probe:
    customer_id: str
    group: str
    event_ts_ms: int


@dataclass
class FreshnessResult:
    lags_s: list[float] = field(default_factory=list)
    missing: int = 0

    def p(self, q: float) -> float:
        """Percentile of the lags in seconds (NaN when none).

        >>> FreshnessResult([1.0, 2.0, 3.0]).p(50)
        2.0
        """
        return float(np.percentile(self.lags_s, q)) if self.lags_s else float("nan")


def measure_freshness(probes: Sequence[Probe], read_event_ts_ms: Callable[[Sequence[Probe]], list[int]],
                      clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                      poll_s: float = 0.05, timeout_s: float = 30.0) -> FreshnessResult:
    """Poll until every probe is visible (lag recorded) or ``timeout_s`` passes (counted as missing).

    ``clock`` is wall time in seconds (event times are wall-clock epoch ms); ``read_event_ts_ms`` returns the
    stored event time in ms (0 when absent) for each probe, e.g. :func:`feast_event_ts_reader`.
    """
    pending = list(probes)
    res = FreshnessResult()
    start = clock()
    while pending:
        now = clock()
        stored = read_event_ts_ms(pending)
        still: list[Probe] = []
        for p, ts in zip(pending, stored, strict=True):
            if ts >= p.event_ts_ms // 1000 * 1000:  # Feast's SQLite store keeps whole seconds
                res.lags_s.append(now - p.event_ts_ms / 1000)
            else:
                still.append(p)
        pending = still
        if pending and now - start >= timeout_s:
            res.missing = len(pending)
            break
        if pending:
            sleep(poll_s)
    return res


def feast_event_ts_reader(store: Any) -> Callable[[Sequence[Probe]], list[int]]:
    """A reader for :func:`measure_freshness` over a ``feast.FeatureStore`` (one call per group and poll).

    It reads the first feature of each group's view and the row's event timestamp from the response proto
    (``to_dict(include_event_timestamps=True)`` truncates to whole seconds).
    """
    from features.names import GROUPS

    def read(probes: Sequence[Probe]) -> list[int]:
        out = [0] * len(probes)
        by_group: dict[str, list[int]] = {}
        for i, p in enumerate(probes):
            by_group.setdefault(p.group, []).append(i)
        for group, idx in by_group.items():
            feat = GROUPS[group][0]
            resp = store.get_online_features([f"{group}:{feat}"],
                                             [{"customer_id": probes[i].customer_id} for i in idx])
            names = list(resp.proto.metadata.feature_names.val)
            vec = resp.proto.results[names.index(feat)]
            for i, ts in zip(idx, vec.event_timestamps, strict=True):
                out[i] = ts.seconds * 1000 + ts.nanos // 1_000_000
        return out

    return read

