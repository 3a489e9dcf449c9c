"""Bounded de-duplication on ``event_id`` (the de-dup key of every event) for Python consumers.

Producers retry and the simulator injects duplicates on purpose: the same ``event_id`` may arrive twice.
:class:`Deduper` remembers ids for ``ttl_ms`` of *event time* (or processing time, the caller decides what
``now_ms`` means) and at most ``max_size`` ids, forgetting the oldest first, so memory stays bounded.

>>> d = Deduper(max_size=2, ttl_ms=1_000)
>>> d.seen("a", 0), d.seen("a", 10), d.seen("b", 20), d.seen("c", 30), d.seen("a", 40)
(False, True, False, False, False)
>>> d.seen("b", 2_000)   # expired by TTL
False
>>> len(d)
1
"""

from __future__ import annotations

from collections import OrderedDict


class Deduper:
    """A TTL'd, size-bounded set of recently seen event ids."""

    def __init__(self, max_size: int = 1_000_000, ttl_ms: int = 24 * 3600 * 1000) -> None:
        if max_size < 1 or ttl_ms < 0:
            raise ValueError("max_size must be >= 1 and ttl_ms >= 0")
        self.max_size = max_size
        self.ttl_ms = ttl_ms
        self._ids: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def _expire(self, now_ms: int) -> None:
        ids = self._ids
        while ids:
            oldest, t = next(iter(ids.items()))
            if now_ms - t <= self.ttl_ms and len(ids) <= self.max_size:
                break
            del ids[oldest]

    def seen(self, event_id: str, now_ms: int) -> bool:
        """True if ``event_id`` was seen within the TTL (a duplicate); records it otherwise."""
        self._expire(now_ms)
        if event_id in self._ids:
            return True
        self._ids[event_id] = now_ms
        if len(self._ids) > self.max_size:
            self._ids.popitem(last=False)
        return False
