"""The single learner's state, without Kafka: parsed stream items in, labelled examples learnt in batches.

:class:`LearnerCore` is what :mod:`models.learner_service` drives; it is pure Python so the loop logic is
tested with in-memory items. Four streams, one event-time order:

- ``changelog`` (``features.changelog``): the stored features of a customer, one feature group at a time, are
  merged into a bounded LRU dict (``max_customers``, oldest customer evicted first). A changed customer is
  *scored* with :meth:`DelayedLabelLearner.score_many <models.delayed.DelayedLabelLearner.score_many>` on the
  features derived (``features.derive``) at the row's event time, in batches: every changed customer of a poll
  batch at once. Scoring logs the prediction-time features, which are what a later label trains on (no leakage).
- ``outcome`` (``events.outcome``): ``churned`` / ``renewed`` resolve logged predictions
  (:meth:`~models.delayed.DelayedLabelLearner.on_outcome`); the event time reached drives
  :meth:`~models.delayed.DelayedLabelLearner.advance` (predictions past the label window become 0).
- ``decision`` (``decisions``): the features of the customer at ``decided_at`` are logged by ``decision_id``
  (:class:`BatchResponseLearner`); a decision whose customer's stored features are already *newer* than
  ``decided_at`` is skipped (counted), never joined to later features.
- ``response`` (``events.response``): a final response (accepted = 1, rejected / ignored = 0) trains the
  propensity model of the decision's action kind on the decision-time features.

**Event-time alignment of the streams.** The four topics are read by one consumer and their partitions arrive
interleaved, at different paces when catching up a backlog. Items are applied in event-time order through a
small heap: changelog items are applied as they come, the others are *held* until the changelog's event time
has reached theirs (so an outcome at ``T`` never arrives before the prediction at ``t < T`` it must label, and a
decision is joined to the context it was made in). When the changelog has been quiet for a while (the caller
says so: ``changelog_idle``; caught up, or no traffic), everything held is released; the heap is bounded by
``max_held`` (the oldest is released first). The watermark is the largest event time applied; ``grace_ms`` of
the delayed learner absorbs the skew between partitions.

>>> from models.churn import ChurnModel
>>> from models.delayed import DAY_MS, DelayedLabelLearner
>>> from models.propensity import PropensityModel
>>> core = LearnerCore(DelayedLabelLearner(ChurnModel(), learn_batch=1), BatchResponseLearner(PropensityModel()))
>>> core.process([Item(0, "changelog", "c1", {"clicks_7d": 3}), Item(DAY_MS, "outcome", "c1", {"outcome": "churned"})])
>>> core.stats["scored"], core.n_held, core.churn.n_positive  # the outcome waits for the changelog to reach it
(1, 1, 0)
>>> core.process([], changelog_idle=True)  # the changelog is quiet (caught up): held items are released
>>> core.n_held, core.churn.n_positive, core.watermark_ms == DAY_MS
(0, 1, True)
"""

from __future__ import annotations

import heapq
import json
import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from events.timefmt import parse_rfc3339, to_epoch_ms
from events.watermark import WATERMARK_KIND
from features.derive import derive, derive_frame
from models.delayed import DelayedLabelLearner
from models.propensity import RESPONSE_LABELS, PropensityModel, ResponseLearner

#: The stream kinds the learner reads.
KINDS: tuple[str, ...] = ("changelog", "outcome", "decision", "response")


@dataclass(frozen=True, slots=True)
class Item:
    """One parsed message: event time, stream kind, customer, and the fields the learner needs."""

    ts_ms: int
    kind: str
    customer_id: str
    payload: dict[str, Any] = field(default_factory=dict)


def _ms(text: Any) -> int:
    return to_epoch_ms(parse_rfc3339(str(text)))


def parse_item(kind: str, value: bytes | str | None) -> Item | None:
    """Parse one message of stream ``kind``; ``None`` when it carries nothing to learn from.

    Raises ``ValueError`` (or ``KeyError``/``TypeError``) for a malformed message: the caller counts it.

    >>> parse_item("outcome", b'{"customer_id": "c1", "event_time": "1970-01-01T00:00:01.000Z", "outcome": "churned"}')
    Item(ts_ms=1000, kind='outcome', customer_id='c1', payload={'outcome': 'churned'})
    >>> parse_item("decision", '{"customer_id": "c1", "decided_at": "1970-01-01T00:00:00.000Z", "action_kind": null}')
    >>> parse_item("response", '{"kind": "watermark", "event_time": "1970-01-01T00:00:00.000Z"}')
    """
    if value is None:
        raise ValueError("empty message")
    doc = json.loads(value)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if doc.get("kind") == WATERMARK_KIND:
        return None  # a producer's watermark record (events.watermark): no event, nothing to learn
    cid = str(doc["customer_id"])
    if kind == "changelog":
        values = doc.get("values") or {}
        if not isinstance(values, dict):
            raise ValueError("values is not an object")
        return Item(int(doc["event_ts_ms"]), kind, cid, {k: v for k, v in values.items() if v is not None})
    if kind == "outcome":
        return Item(_ms(doc["event_time"]), kind, cid, {"outcome": str(doc["outcome"])})
    if kind == "decision":
        if not doc.get("action_kind") or not doc.get("decision_id"):
            return None  # no action was chosen: nothing to respond to
        payload = {"decision_id": str(doc["decision_id"]), "action_kind": str(doc["action_kind"])}
        return Item(_ms(doc["decided_at"]), kind, cid, payload)
    if kind == "response":
        if doc.get("response") not in RESPONSE_LABELS:
            return None  # delivered / opened / clicked / unsubscribed settle nothing
        payload = {"decision_id": str(doc["decision_id"]), "response": str(doc["response"])}
        return Item(_ms(doc["event_time"]), kind, cid, payload)
    raise ValueError(f"unknown stream kind {kind!r}; expected one of {KINDS}")


class BatchResponseLearner(ResponseLearner):
    """:class:`~models.propensity.ResponseLearner` that learns in batches (``learn_many``) of ``learn_batch``.

    >>> r = BatchResponseLearner(PropensityModel(), learn_batch=2)
    >>> r.log_decision("d1", "greeting", {}); r.log_decision("d2", "greeting", {})
    >>> r.on_response("d1", "accepted"), r.model.n_learned["greeting"], r.flush(), r.model.n_learned["greeting"]
    (True, 0, 1, 1)
    """

    def __init__(self, model: PropensityModel, max_pending: int = 1_000_000, learn_batch: int = 1024) -> None:
        super().__init__(model, max_pending)
        self.learn_batch = learn_batch
        self._x: list[dict[str, Any]] = []
        self._y: list[bool] = []

    def on_response(self, decision_id: str, response: str) -> bool:
        if response not in RESPONSE_LABELS or decision_id not in self._pending:
            return False
        self._x.append(self._pending.pop(decision_id))
        self._y.append(RESPONSE_LABELS[response])
        self.n_learned += 1
        if len(self._y) >= self.learn_batch:
            self.flush()
        return True

    def flush(self) -> int:
        """Learn every buffered labelled response now; returns how many."""
        n = len(self._y)
        if n:
            self.model.learn_many(pd.DataFrame(self._x), pd.Series(self._y, dtype=bool))
            self._x, self._y = [], []
        return n


class LearnerCore:
    """Bounded per-customer features + delayed churn labels + decision/response join (module doc)."""

    def __init__(
        self,
        churn: DelayedLabelLearner,
        responses: BatchResponseLearner,
        max_customers: int = 500_000,
        max_held: int = 100_000,
    ) -> None:
        self.churn = churn
        self.responses = responses
        self.max_customers = max_customers
        self.max_held = max_held
        self.stored: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._dirty: dict[str, int] = {}
        self._held: list[tuple[int, int, Item]] = []
        self._seq = 0
        self.changelog_ms = 0
        self.watermark_ms = 0
        self.stats: dict[str, int] = dict.fromkeys(
            ["changelog", "outcome", "decision", "response", "scored", "customers_evicted", "decisions_skipped",
             "responses_unmatched", "score_batches"],
            0,
        )  # fmt: skip

    # --- labels learnt so far (resolved examples, learnt at the latest on flush) -------------------------
    @property
    def churn_labels(self) -> int:
        return self.churn.n_positive + self.churn.n_negative

    @property
    def propensity_labels(self) -> int:
        return self.responses.n_learned

    @property
    def n_held(self) -> int:
        return len(self._held)

    def process(self, items: Iterable[Item], changelog_idle: bool = False) -> None:
        """Apply one poll batch (module doc: event-time alignment), score changed customers, advance labels.

        ``changelog_idle``: the changelog has been quiet for a while (caught up): release every held item.
        """
        for it in items:
            if it.kind == "changelog":
                self.changelog_ms = max(self.changelog_ms, it.ts_ms)
            heapq.heappush(self._held, (it.ts_ms, self._seq, it))
            self._seq += 1
        bound = math.inf if changelog_idle else self.changelog_ms
        while self._held and (self._held[0][0] <= bound or len(self._held) > self.max_held):
            self._apply(heapq.heappop(self._held)[2])
        self.score_dirty()
        self.churn.advance(self.watermark_ms)

    def _apply(self, it: Item) -> None:
        self.watermark_ms = max(self.watermark_ms, it.ts_ms)
        self.stats[it.kind] += 1
        c = it.customer_id
        if it.kind == "changelog":
            entry = self.stored.pop(c, None)
            ts, values = entry if entry is not None else (0, {})
            values.update(it.payload)
            ts = max(ts, it.ts_ms)
            self.stored[c] = (ts, values)
            self._dirty[c] = ts
            while len(self.stored) > self.max_customers:
                old, _ = self.stored.popitem(last=False)
                self._dirty.pop(old, None)
                self.stats["customers_evicted"] += 1
        elif it.kind == "outcome":
            if c in self._dirty:  # the prediction this outcome may label must be logged first
                self.score_dirty()
            self.churn.on_outcome(c, it.ts_ms, it.payload["outcome"])
        elif it.kind == "decision":
            entry = self.stored.get(c)
            if entry is None or entry[0] > it.ts_ms:
                self.stats["decisions_skipped"] += 1  # unknown customer, or features newer than the decision
                return
            features = derive(entry[1], it.ts_ms)
            self.responses.log_decision(it.payload["decision_id"], it.payload["action_kind"], features)
        elif it.kind == "response":
            if not self.responses.on_response(it.payload["decision_id"], it.payload["response"]):
                self.stats["responses_unmatched"] += 1

    def score_dirty(self) -> int:
        """Score every changed customer in one batch (logging prediction-time features); returns how many."""
        if not self._dirty:
            return 0
        customers = list(self._dirty)
        times = np.fromiter(self._dirty.values(), dtype=np.int64, count=len(customers))
        self._dirty.clear()
        frame = derive_frame(pd.DataFrame([self.stored[c][1] for c in customers]), times)
        frame.insert(0, "customer_id", customers)
        frame.insert(1, "ts_ms", times)
        self.churn.score_many(frame)
        self.stats["scored"] += len(customers)
        self.stats["score_batches"] += 1
        return len(customers)

    def flush(self) -> None:
        """Score what changed and learn every resolved label now (before a snapshot)."""
        self.score_dirty()
        self.churn.flush()
        self.responses.flush()
