"""The single learner: loop logic on in-memory messages, and one bounded run against the real broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cxm.config import LearnerSettings, Settings
from events.timefmt import ms_to_rfc3339
from models.delayed import DAY_MS
from models.learner_service import LearnerService, topic_kinds
from models.registry import ModelRegistry

T0 = 1_795_000_000_000
WINDOW_DAYS = 7


@dataclass
class FakeMsg:
    _topic: str
    _value: bytes
    _offset: int = 0

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None

    def offset(self) -> int:
        return self._offset


class FakeConsumer:
    """Hands out pre-arranged poll batches; records commits (and what had been consumed when they happened)."""

    def __init__(self, batches: list[list[FakeMsg]]) -> None:
        self.batches = list(batches)
        self.consumed = 0
        self.commits: list[int] = []
        self.closed = False

    def consume(self, num_messages: int, timeout: float) -> list[FakeMsg]:
        if not self.batches:
            return []
        batch = self.batches.pop(0)[:num_messages]
        self.consumed += len(batch)
        return batch

    def commit(self, asynchronous: bool = True) -> None:
        self.commits.append(self.consumed)

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.01
        return self.t


S = Settings()
TOPICS = topic_kinds(S)


def changelog(c: str, ts: int, **values: Any) -> FakeMsg:
    doc = {"customer_id": c, "group": "clickstream", "event_ts_ms": ts, "values": values}
    return FakeMsg(S.topics.features, json.dumps(doc).encode())


def outcome(c: str, ts: int, what: str = "churned") -> FakeMsg:
    doc = {"customer_id": c, "event_time": ms_to_rfc3339(ts), "kind": "outcome", "outcome": what}
    return FakeMsg(S.topics.events("outcome"), json.dumps(doc).encode())


def decision(c: str, ts: int, did: str, kind: str = "greeting") -> FakeMsg:
    doc = {"customer_id": c, "decided_at": ms_to_rfc3339(ts), "decision_id": did, "action_kind": kind}
    return FakeMsg(S.topics.decisions, json.dumps(doc).encode())


def response(c: str, ts: int, did: str, what: str) -> FakeMsg:
    doc = {"customer_id": c, "event_time": ms_to_rfc3339(ts), "decision_id": did, "response": what}
    return FakeMsg(S.topics.events("response"), json.dumps(doc).encode())


def service(tmp_path: Path, batches: list[list[FakeMsg]], **cfg: Any) -> tuple[LearnerService, FakeConsumer]:
    consumer = FakeConsumer(batches)
    conf = LearnerSettings(label_window_days=WINDOW_DAYS, **cfg)
    svc = LearnerService(conf, TOPICS, ModelRegistry(tmp_path), consumer, clock=Clock(), wall_ms=lambda: T0)
    return svc, consumer


def test_held_outcome_waits_for_the_changelog(tmp_path: Path) -> None:
    batches = [
        [changelog("c9", T0 - DAY_MS), outcome("c1", T0 + 2 * DAY_MS)],
        [changelog("c1", T0, cancel_page_visits_7d=3), changelog("c2", T0, clicks_7d=5)],
        [changelog("c3", T0 + 3 * DAY_MS)],
        [changelog("c3", T0 + 20 * DAY_MS)],
    ]
    svc, _ = service(tmp_path, batches)
    svc.step()
    assert svc.core.n_held == 1
    assert svc.core.churn.n_positive == 0
    svc.step()
    assert svc.core.n_held == 1  # changelog at T0 < outcome time: still held
    svc.step()
    assert svc.core.n_held == 0
    assert svc.core.churn.n_positive == 1
    svc.step()
    # c9 (T0-1d), c1 was positive, c2 (T0) and c3 (T0+3d) resolved 0 at watermark T0+20d; c3@T0+20d still pending
    assert (svc.core.churn.n_positive, svc.core.churn.n_negative, svc.core.churn.n_pending) == (1, 3, 1)
    assert svc.core.watermark_ms == T0 + 20 * DAY_MS


def test_publish_saves_snapshot_with_watermark_then_commits(tmp_path: Path) -> None:
    n = 50
    first = [changelog(f"c{i:03d}", T0 + i, clicks_7d=i % 4, cancel_page_visits_7d=int(i < 10)) for i in range(n)]
    outcomes = [outcome(f"c{i:03d}", T0 + DAY_MS) for i in range(10)]
    end = [changelog("late", T0 + 10 * DAY_MS)]
    svc, consumer = service(tmp_path, [first, [*outcomes, end[0]]], publish_every_labels=10_000)
    svc.step()
    assert svc.snapshots == []
    assert consumer.commits == []
    stats = svc.run(max_seconds=5, idle_stop_s=0.05)
    assert stats.churn_labels == n  # 10 positives + 40 negatives (window 7 d + grace 1 d < 10 d)
    reg = ModelRegistry(tmp_path)
    snap = reg.latest("churn")
    assert snap is not None
    assert snap.version == 1
    assert snap.watermark_ms == T0 + 10 * DAY_MS
    assert snap.meta["labels"] == n
    assert snap.meta["positive"] == 10
    assert reg.load("churn").n_learned == n
    assert reg.latest("propensity") is None  # no response: no propensity snapshot
    assert consumer.commits == [consumer.consumed]  # committed once, after the snapshot, everything consumed
    assert svc.state_path.exists()


def test_publish_every_labels_and_restart_from_checkpoint(tmp_path: Path) -> None:
    rows = [changelog(f"c{i:03d}", T0) for i in range(30)]
    svc, consumer = service(tmp_path, [rows, [changelog("x", T0 + 9 * DAY_MS)]], publish_every_labels=20)
    svc.step()
    svc.step()
    assert len(svc.snapshots) == 1
    assert consumer.commits == [31]
    # a restart resumes the checkpointed state (pending prediction of "x" included) and keeps learning
    svc2, _ = service(tmp_path, [[changelog("y", T0 + 20 * DAY_MS)]], publish_every_labels=1)
    assert svc2.core.churn.n_pending == 1
    assert svc2.core.churn_labels == 30
    svc2.step()
    assert [s.version for s in svc2.snapshots] == [2]
    assert ModelRegistry(tmp_path).load("churn").n_learned == 31


def test_responses_join_decision_time_features(tmp_path: Path) -> None:
    batches = [
        [
            changelog("c1", T0, clicks_7d=40),
            decision("c1", T0, "d1", "greeting"),
            changelog("c2", T0 + 5, clicks_7d=1),
        ],
        [
            decision("c2", T0 + 1, "d2", "greeting"),  # read late: c2's stored features (T0+5) are newer: skipped
            decision("c3", T0 + 2, "d3", "greeting"),  # unknown customer: skipped
            response("c1", T0 + 10, "d1", "delivered"),  # not a final answer
            response("c1", T0 + 20, "d1", "accepted"),
            response("c2", T0 + 20, "d2", "rejected"),  # its decision was skipped: unmatched
        ],
    ]
    svc, _ = service(tmp_path, batches)
    svc.run(max_seconds=5, idle_stop_s=0.05)
    assert svc.core.stats["decisions_skipped"] == 2
    assert svc.core.stats["responses_unmatched"] == 1
    assert svc.core.propensity_labels == 1
    reg = ModelRegistry(tmp_path)
    snap = reg.latest("propensity")
    assert snap is not None
    assert snap.meta["labels"] == 1
    assert reg.load("propensity").n_learned["greeting"] == 1


def test_no_leakage_prediction_features_not_later_ones(tmp_path: Path) -> None:
    # c1 is scored at T0 with 0 cancel visits; later rows (after the outcome) must not be what the label trains on
    batches = [
        [changelog("c1", T0, cancel_page_visits_7d=0)],
        [outcome("c1", T0 + DAY_MS), changelog("c1", T0 + 2 * DAY_MS, cancel_page_visits_7d=9)],
    ]
    svc, _ = service(tmp_path, batches)
    svc.core.churn.keep_learned_keys = True
    seen: list[Any] = []
    original = svc.core.churn.model.learn_many

    def spy(X: Any, y: Any) -> None:
        seen.extend(X["cancel_page_visits_7d"].tolist())
        original(X, y)

    svc.core.churn.model.learn_many = spy  # type: ignore[method-assign]
    svc.step()
    svc.step()
    svc.core.flush()
    assert svc.core.churn.learned_keys == [("c1", T0)]
    assert seen == [0]


def test_bad_messages_are_counted_not_fatal(tmp_path: Path) -> None:
    bad = [FakeMsg(S.topics.features, b"not json"), FakeMsg(S.topics.events("outcome"), b'{"customer_id": "c"}')]
    svc, _ = service(tmp_path, [[*bad, changelog("c1", T0)]])
    svc.step()
    assert svc.bad == 2
    assert svc.core.stats["changelog"] == 1


def test_memory_is_bounded(tmp_path: Path) -> None:
    rows = [changelog(f"c{i:04d}", T0 + i * DAY_MS) for i in range(100)]
    svc, _ = service(tmp_path, [rows], max_customers=10, max_pending_predictions=20)
    svc.step()
    assert len(svc.core.stored) == 10
    assert svc.core.stats["customers_evicted"] == 90
    assert svc.core.churn.n_pending <= 20


@pytest.mark.integration
def test_learner_against_the_broker(
    settings: Settings, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    from tests.pipelines.kafka_io import produce_json

    feats, outcomes = new_topic("features.changelog", partitions=2), new_topic("events.outcome", partitions=2)
    decisions, responses = new_topic("decisions"), new_topic("events.response")
    s = settings.model_copy(
        update={
            "learner": LearnerSettings(
                group_id=f"learner-test-{tmp_path.name}", models_dir=tmp_path, label_window_days=WINDOW_DAYS,
                publish_every_s=3600, poll_timeout_s=0.2,
            ),
        }
    )  # fmt: skip
    n_customers, n_churn = 400, 60
    rows = [
        {"customer_id": f"c{i:04d}", "group": "clickstream", "event_ts_ms": T0 + i * 1000,
         "values": {"clicks_7d": i % 9, "cancel_page_visits_7d": int(i < n_churn)}}
        for i in range(n_customers)
    ]  # fmt: skip
    end_ts = T0 + 12 * DAY_MS
    rows.append({"customer_id": "zz-end", "group": "clickstream", "event_ts_ms": end_ts, "values": {}})
    outs = [
        {"customer_id": f"c{i:04d}", "event_time": ms_to_rfc3339(T0 + 2 * DAY_MS + i), "outcome": "churned"}
        for i in range(n_churn)
    ]
    produce_json(kafka_bootstrap, feats, rows)
    produce_json(kafka_bootstrap, outcomes, outs)
    kinds = {feats: "changelog", outcomes: "outcome", decisions: "decision", responses: "response"}
    from models.learner_service import make_consumer

    svc = LearnerService(s.learner, kinds, ModelRegistry(tmp_path), make_consumer(s, list(kinds)))
    try:
        stats = svc.run(max_seconds=60, idle_stop_s=5)
    finally:
        svc.close()
    assert stats.messages == len(rows) + len(outs)
    snap = ModelRegistry(tmp_path).latest("churn")
    assert snap is not None
    assert snap.version == 1
    assert snap.watermark_ms == end_ts
    # every customer's prediction resolved (the end row is still pending): n_churn positives, the rest negatives
    assert snap.meta["labels"] == n_customers
    assert snap.meta["positive"] == n_churn
    assert stats.churn_labels == n_customers
