"""Restore from a retained checkpoint gives the same features as one uninterrupted run.

Run A: the whole simulated log, bounded, one job. Run B: the first half with an unbounded job checkpointing
every second, cancelled once its output settled (the checkpoint is retained); then the second half is produced
and the same stored compiled plan resumes from the retained checkpoint
(``execution.state-recovery.path``), fed one extra far-later event per topic (ignored) so its watermarks pass
every real event before it is cancelled. Operator ids come from the plan's node ids, which a fresh compilation in
the same JVM does not reproduce: hence ``plan_path``. The union of B's changelog rows
(replayed rows after the checkpoint are identical, so duplicates are harmless) must equal A's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from cxm.config import Settings
from pipelines.feature_job import run_feature_job
from pipelines.flink_env import FeatureJobConfig
from tests.pipelines.feature_job_io import fresh_topics, produce_raw, read_json, simulate_lines, topic_factory

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FLUSH = "c-flush"


def _flush_event(kind: str, end: str) -> dict[str, Any]:
    """A valid event of ``kind`` 1 h after ``end`` for a customer the comparison ignores."""
    from datetime import timedelta

    from events.timefmt import parse_rfc3339, to_rfc3339_ms
    from tests.pipelines.feature_job_io import event

    when = to_rfc3339_ms(parse_rfc3339(end) + timedelta(hours=1))
    by_kind: dict[str, dict[str, Any]] = {
        "clickstream": {"page": "home", "session_id": "s", "device": "web"},
        "call": {"call_id": "x", "direction": "inbound", "reason": "other", "wait_s": 0, "talk_s": 0,
                 "resolved": True, "sentiment": 0},
        "complaint": {"complaint_id": "k", "status": "opened", "category": "other", "problem_id": "p",
                      "eta_given": False, "eta": None},
        "gps": {"lat": 0.0, "lon": 0.0, "accuracy_m": 1.0},
        "purchase": {"order_id": "o", "amount": 1.0, "currency": "EUR", "item": "i"},
        "response": {"decision_id": "d", "action_id": "a", "action_kind": "service", "channel": "email",
                     "response": "opened"},
        "outcome": {"outcome": "renewed"},
        "consent": {"channel": "email", "granted": True},
        "profile": {"timezone": "UTC", "preferred_channel": "email", "home_lat": 0.0, "home_lon": 0.0,
                    "signup_time": end},
    }
    fields = by_kind[kind]
    return event(kind, f"flush-{kind}-0000", FLUSH, when, **fields)


def _key_values(records: list[dict[str, Any]]) -> set[tuple[str, str, int, str]]:
    return {(r["customer_id"], r["group"], r["event_ts_ms"], json.dumps(r["values"], sort_keys=True))
            for r in records}


def _latest_checkpoint(root: Path) -> Path | None:
    done = [c for c in root.glob("*/chk-*") if (c / "_metadata").exists()]
    return max(done, key=lambda c: int(c.name.split("-")[1])) if done else None


def _run_until_settled(bootstrap: str, s: Settings, job: FeatureJobConfig, topics: Any) -> Path:
    """Run the unbounded job until its output stops growing and two more checkpoints completed; cancel it
    (the checkpoint is retained) and return the newest checkpoint."""
    assert job.checkpoint_dir is not None
    result = run_feature_job(s, bounded=False, job=job, topics=topics)
    n_prev, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        n = len(read_json(bootstrap, topics.changelog, idle_s=1.0))
        if n != n_prev:
            n_prev, stable_since = n, time.monotonic()
        elif n > 0 and time.monotonic() - stable_since > 5:
            break
    before = _latest_checkpoint(job.checkpoint_dir)
    while time.monotonic() < deadline:
        now = _latest_checkpoint(job.checkpoint_dir)
        if now is not None and (before is None or int(now.name[4:]) >= int(before.name[4:]) + 2):
            break
        time.sleep(0.5)
    result.get_job_client().cancel().result()
    restore = _latest_checkpoint(job.checkpoint_dir)
    assert restore is not None, "no completed checkpoint"
    return restore


@pytest.mark.timeout(900)
def test_restore_from_checkpoint_gives_same_features(kafka_bootstrap: str, settings: Settings,
                                                     tmp_path: Path) -> None:
    lines = simulate_lines(customers=150, days=3, seed=7)
    times = sorted(json.loads(v)["event_time"] for _, v, _ in lines)
    mid = times[len(times) // 2]  # each kind's stream is time-ordered: split all kinds at the same time
    first = [x for x in lines if json.loads(x[1])["event_time"] < mid]
    second = [x for x in lines if json.loads(x[1])["event_time"] >= mid]
    s = settings.model_copy(update={"flink": settings.flink.model_copy(
        update={"watermark_delay_s": 2, "checkpoint_interval_ms": 1000})})
    make = topic_factory(kafka_bootstrap)

    # A: one uninterrupted bounded run
    ta = fresh_topics(make)
    produce_raw(kafka_bootstrap, [(ta.events[k], v.encode(), key.encode()) for k, v, key in lines])
    job_a = FeatureJobConfig(restart_attempts=0, group_id="restore-a", watermark_emit="on-event")
    run_feature_job(s, bounded=True, job=job_a, topics=ta, wait=True)
    rows_a = read_json(kafka_bootstrap, ta.changelog)

    # B1: first half, unbounded, checkpoints retained on cancel
    tb = fresh_topics(make)
    ckpt = tmp_path / "ckpt"
    produce_raw(kafka_bootstrap, [(tb.events[k], v.encode(), key.encode()) for k, v, key in first])
    restore = _run_until_settled(kafka_bootstrap, s, FeatureJobConfig(
        restart_attempts=0, group_id="restore-b", checkpoint_dir=ckpt, plan_path=tmp_path / "plan.json",
        watermark_emit="on-event"), tb)
    rows_b1 = read_json(kafka_bootstrap, tb.changelog)
    assert 0 < len(_key_values(rows_b1)) < len(_key_values(rows_a))
    # CXM_COUNT_SINCE's accumulators are in the checkpoint, written by their own serializer (not by Kryo)
    state = b"".join(f.read_bytes() for f in Path(restore).rglob("*") if f.is_file())
    assert b"org.cxm.flink.CountSinceAccSerializer" in state
    assert b"KryoSerializer" not in state

    # B2: second half + one flush event per topic (1 h after the end, so every watermark passes the real events;
    # a restored Kafka split keeps its unbounded stopping offset, so B2 cannot be a bounded run), the same stored
    # plan resumed from the retained checkpoint
    end = max(times)
    flush = [(k, json.dumps(_flush_event(k, end)), FLUSH) for k in tb.events]
    produce_raw(kafka_bootstrap, [(tb.events[k], v.encode(), key.encode()) for k, v, key in [*second, *flush]])
    _run_until_settled(kafka_bootstrap, s, FeatureJobConfig(
        restart_attempts=0, group_id="restore-b", checkpoint_dir=tmp_path / "ckpt2", restore_path=restore,
        plan_path=tmp_path / "plan.json", watermark_emit="on-event"), tb)
    rows_b = [r for r in read_json(kafka_bootstrap, tb.changelog) if r["customer_id"] != FLUSH]

    a, b = _key_values(rows_a), _key_values(rows_b)
    assert len(a) > 1000
    assert b - a == set(), f"rows only in the resumed run: {sorted(b - a)[:5]}"
    assert a - b == set(), f"rows missing after the restore: {sorted(a - b)[:5]}"
