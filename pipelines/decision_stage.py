"""The decision stage: a batch of per-customer contexts -> derived features -> scores -> policies -> records.

One object used three ways: inside the PyFlink decision job (a vectorised pandas UDF calls
:meth:`DecisionStage.decide_frame` once per Arrow batch), in-process by the simulator's closed loop and by
notebooks. Work is per batch: features are derived with pandas, models score with ``*_many``; only the policy
evaluation (compiled closures, ~tens of µs) runs per row.

A dead dependency degrades, never crashes: when the models cannot score, the decision is made with
``context_known = False`` (policies then block marketing); when a policy reload fails the last good set stays.

>>> import pandas as pd
>>> stage = DecisionStage.in_memory()
>>> rows = pd.DataFrame({"customer_id": ["c1"], "trigger": ["complaint"], "event_ts_ms": [1_795_000_000_000],
...                      "open_complaints": [1], "crisis_since_ms": [1_795_000_000_000 - 5 * 86_400_000],
...                      "eta_given": [False]})
>>> rec = stage.decide_frame(rows)[0]
>>> rec["action_id"], rec["decided_at"]
('svc_free_service', '2026-11-18T11:06:40.000Z')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.derive import derive_frame
from features.names import GROUPS, SCORES

log = logging.getLogger(__name__)

#: What kind of contact the trigger group implies (the customer is calling, browsing, in a store...).
INBOUND_BY_TRIGGER: dict[str, str] = {"call": "call", "clickstream": "web"}


def inbound_channel(trigger: str, near_store: bool) -> str:
    """The channel the customer is on right now, if the trigger is an inbound contact.

    >>> inbound_channel("call", False), inbound_channel("gps", True), inbound_channel("purchase", False)
    ('call', 'store', '')
    """
    if trigger == "gps" and near_store:
        return "store"
    return INBOUND_BY_TRIGGER.get(trigger, "")


def context_keys(triggers: Sequence[str], features: pd.DataFrame) -> list[str]:
    """A digest per row of what a decision without an event id was made on: two coalesced windows of one customer
    can end with events of the same millisecond, and their decisions must not share an id (readers de-duplicate
    on it); the same context gives the same key. Vectorised (pandas' seeded 64-bit row hash over the trigger and
    the features in name order: ~0.7 µs a row, against ~10 µs for JSON + blake2b per row).

    >>> df = pd.DataFrame({"a": [1, 1, 1], "b": [2.5, 2.5, 3.0]})
    >>> k = context_keys(["gps", "call", "gps"], df)
    >>> k[0] == context_keys(["gps"], df[["b", "a"]].iloc[:1])[0], len({*k}), len(k[0])
    (True, 3, 16)
    """
    if len(features) != len(triggers):
        raise ValueError(f"{len(triggers)} triggers for {len(features)} rows")
    if len(features) == 0:
        return []
    frame = features[sorted(features.columns)].reset_index(drop=True)
    frame.insert(0, "__trigger", list(triggers))
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return [f"{h:016x}" for h in hashes.tolist()]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """``df.to_dict("records")`` without its per-value boxing (columns to Python lists once, then zip).

    >>> _records(pd.DataFrame({"a": [1, 2], "b": ["x", None]}))
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': None}]
    """
    cols = [str(c) for c in df.columns]
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*(df[c].tolist() for c in df.columns), strict=True)]


def group_values(texts: Sequence[str | None]) -> list[dict[str, Any] | None]:
    """The ``values`` object of each changelog value text (``{"customer_id", "group", "event_ts_ms", "values"}``);
    None for a missing text and for one that is not such a JSON object. ``NaN``/``Infinity`` (what a SQL DOUBLE
    cast to text gives for them) are read as floats, by the standard library's slower parser.

    >>> group_values(['{"group": "gps", "values": {"last_store_visit_ms": 5}}', None, "{broken", "[]"])
    [{'last_store_visit_ms': 5}, None, None, None]
    >>> group_values(['{"values": {"mean_wait_s_7d": NaN, "spend_30d": 1.0E-4}}'])
    [{'mean_wait_s_7d': nan, 'spend_30d': 0.0001}]
    """
    import json

    import orjson

    out: list[dict[str, Any] | None] = []
    for text in texts:
        values = None
        if text is not None:
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError:
                try:
                    doc = json.loads(text)
                except ValueError:
                    doc = None
            if isinstance(doc, dict):
                values = doc.get("values")
        out.append(values if isinstance(values, dict) else None)
    return out


def stored_frame(texts_by_group: Mapping[str, Sequence[str | None]], n: int | None = None) -> pd.DataFrame:
    """The stored features of ``n`` customers from the newest changelog value text of each feature group
    (``features.names.GROUPS``; one text or None per customer): a column per feature of the given groups, NULL
    (None) where the group's text is missing, does not parse or lacks the feature. A group's text supplies only
    that group's features. This is the frame :meth:`DecisionStage.decide_frame` takes (plus ``customer_id``,
    ``trigger``, ``event_ts_ms``), built in the decision job from the strings the JVM carried.

    >>> text = '{"customer_id": "c1", "group": "purchase", "event_ts_ms": 9, "values": {"spend_30d": 2.5}}'
    >>> df = stored_frame({"purchase": [text, None]})
    >>> list(df.columns), float(df["spend_30d"][0]), df["spend_30d"].isna().tolist()
    (['spend_30d', 'purchases_30d', 'last_purchase_ms'], 2.5, [False, True])
    >>> bool(df["purchases_30d"].isna().all())
    True
    """
    cols: dict[str, list[Any]] = {}
    for group, texts in texts_by_group.items():
        if n is None:
            n = len(texts)
        elif len(texts) != n:
            raise ValueError(f"group {group!r}: {len(texts)} values for {n} rows")
        parsed = group_values(texts)
        for name in GROUPS[group]:
            cols[name] = [v.get(name) if v is not None else None for v in parsed]
    return pd.DataFrame(cols, index=pd.RangeIndex(n or 0))


@dataclass
class DecisionStage:
    """Scores and policies, refreshed from their sources at most every ``refresh_s`` seconds."""

    policies: Any  # rules.store.PolicyStore
    scorer: Any | None  # models.scoring.Scorer
    refresh_s: float = 5.0
    clock: Any = time.monotonic
    _last_refresh: float = field(default=0.0, init=False)
    #: decide batches with numpy (:mod:`rules.columns`); False: ``PolicySet.decide`` per row (same records)
    column_wise: bool = True
    stats: dict[str, int] = field(
        default_factory=lambda: {"batches": 0, "rows": 0, "degraded": 0, "row_wise": 0}
    )

    @classmethod
    def in_memory(cls) -> DecisionStage:
        """The shipped policies and cold-start models (no registry)."""
        from models.scoring import Scorer
        from rules.store import PolicyStore

        return cls(PolicyStore(), Scorer.fresh())

    @classmethod
    def from_dirs(cls, policy_dir: Path | None, models_dir: Path | None, refresh_s: float = 5.0) -> DecisionStage:
        """Policies from ``policy_dir`` and the latest model snapshots from ``models_dir`` (cold start if empty)."""
        from models.registry import ModelRegistry
        from models.scoring import Scorer
        from rules.store import PolicyStore

        store = PolicyStore(policy_dir) if policy_dir else PolicyStore()
        scorer = Scorer.fresh()
        if models_dir is not None:
            try:
                scorer = Scorer.from_registry(ModelRegistry(models_dir))
            except Exception as exc:  # no snapshot yet: cold start, keep deciding
                log.warning("models: no usable snapshot in %s (%s); using cold-start models", models_dir, exc)
        return cls(store, scorer, refresh_s)

    def refresh(self) -> None:
        """Pick up new policy files and model snapshots without a restart."""
        now = self.clock()
        if now - self._last_refresh < self.refresh_s:
            return
        self._last_refresh = now
        try:
            self.policies.refresh()
        except Exception as exc:
            log.error("policies: reload failed, keeping the last good set: %s", exc)
        if self.scorer is not None:
            try:
                self.scorer.poll()
            except Exception as exc:
                log.error("models: snapshot poll failed, keeping the current models: %s", exc)

    def _scores(self, feats: pd.DataFrame) -> pd.DataFrame | None:
        if self.scorer is None:
            return None
        try:
            scores = self.scorer.score_batch(feats)
            versions = getattr(self.scorer, "versions", {})
            scores["model_version"] = ",".join(f"{k}:{v}" for k, v in sorted(versions.items())) or "none"
            return scores
        except Exception as exc:
            log.error("models: scoring failed for a batch of %d, deciding without scores: %s", len(feats), exc)
            return None

    @staticmethod
    def _row_wise(policy_set: Any, feats: pd.DataFrame, scores: pd.DataFrame | None, customers: list[str],
                  triggers: list[str], event_ids: list[Any], keys: list[str], inbound: list[str],
                  now_ms: Any) -> list[dict[str, Any]]:
        """``PolicySet.decide`` per row (the reference the column-wise path is tested against)."""
        from rules.engine import DecisionContext

        n = len(feats)
        feat_rows = _records(feats)
        if scores is not None:
            score_rows: list[dict[str, Any] | None] = list(
                _records(scores[[c for c in scores.columns if c in SCORES or c == "model_version"]])
            )
        else:
            score_rows = [None] * n
        decide = policy_set.decide
        records = []
        for i, ts_ms in enumerate(now_ms.tolist()):
            event_id = event_ids[i] or None
            context = DecisionContext(
                customer_id=customers[i],
                event_id=event_id,
                inbound_channel=inbound[i],
                trigger=triggers[i],
                features_known=scores is not None,
                context_key="" if event_id else keys[i],
            )
            when = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
            records.append(decide(feat_rows[i], score_rows[i], context, when).to_record())
        return records

    def decide_frame(self, ctx: pd.DataFrame) -> list[dict[str, Any]]:
        """One decision record per row of ``ctx`` (``customer_id``, ``trigger``, ``event_ts_ms`` + stored features)."""
        self.refresh()
        n = len(ctx)
        if n == 0:
            return []
        now_ms = ctx["event_ts_ms"].astype("int64").to_numpy()
        feats = derive_frame(ctx, now_ms)
        scores = self._scores(feats)
        known = scores is not None
        policy_set = self.policies.current
        customers = ctx["customer_id"].astype(str).tolist()
        triggers = ctx["trigger"].astype(str).tolist() if "trigger" in ctx else [""] * n
        event_ids = ctx["event_id"].tolist() if "event_id" in ctx else [None] * n
        keys = context_keys(triggers, feats) if any(not e for e in event_ids) else [""] * n
        inbound = [inbound_channel(t, bool(s)) for t, s in zip(triggers, feats["near_store"].tolist(), strict=True)]
        records = None
        if self.column_wise:
            from rules.columns import ColumnContext

            try:
                records = policy_set.columns.records(
                    feats, scores, ColumnContext(customers, event_ids, triggers, inbound, keys), now_ms
                )
            except Exception as exc:  # the row-wise path decides (and degrades per row) as it always did
                log.debug("column-wise decisions failed for a batch of %d, deciding row by row: %s", n, exc)
                self.stats["row_wise"] += n
        if records is None:
            records = self._row_wise(policy_set, feats, scores, customers, triggers, event_ids, keys, inbound, now_ms)
        if "rows" in ctx:
            for rec, covered in zip(records, ctx["rows"].astype("int64").tolist(), strict=True):
                rec["coalesced"] = {"rows": covered, "newest_event_at": rec["decided_at"]}
        self.stats["batches"] += 1
        self.stats["rows"] += n
        self.stats["degraded"] += 0 if known else n
        return records
