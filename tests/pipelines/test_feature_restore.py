"""Restore from a retained checkpoint gives the same features as one uninterrupted run.

Run A: the whole simulated log, bounded, one job. Run B: the first half with an unbounded job checkpointing
every second, cancelled (the checkpoint is retained), then the second half is produced and a bounded job
resumes from the retained checkpoint (``execution.state-recovery.path``). The union of B's changelog rows
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


def _key_values(records: list[dict[str, Any]]) -> set[tuple[str, str, int, str]]:
    return {(r["customer_id"], r["group"], r["event_ts_ms"], json.dumps(r["values"], sort_keys=True))
            for r in records}


def _latest_checkpoint(root: Path) -> Path | None:
    done = [c for c in root.glob("*/chk-*") if (c / "_metadata").exists()]
    return max(done, key=lambda c: int(c.name.split("-")[1])) if done else None


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
    run_feature_job(s, bounded=True, job=FeatureJobConfig(restart_attempts=0, group_id="restore-a"), topics=ta,
                    wait=True)
    rows_a = read_json(kafka_bootstrap, ta.changelog)

    # B1: first half, unbounded, checkpoints retained on cancel
    tb = fresh_topics(make)
    ckpt = tmp_path / "ckpt"
    produce_raw(kafka_bootstrap, [(tb.events[k], v.encode(), key.encode()) for k, v, key in first])
    job1 = FeatureJobConfig(restart_attempts=0, group_id="restore-b", checkpoint_dir=ckpt)
    result = run_feature_job(s, bounded=False, job=job1, topics=tb)
    n_prev, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait for the output to settle, then for two more checkpoints
        n = len(read_json(kafka_bootstrap, tb.changelog, idle_s=1.0))
        if n != n_prev:
            n_prev, stable_since = n, time.monotonic()
        elif n > 0 and time.monotonic() - stable_since > 5:
            break
    before = _latest_checkpoint(ckpt)
    while time.monotonic() < deadline:
        now = _latest_checkpoint(ckpt)
        if now is not None and (before is None or int(now.name[4:]) >= int(before.name[4:]) + 2):
            break
        time.sleep(0.5)
    result.get_job_client().cancel().result()
    restore = _latest_checkpoint(ckpt)
    assert restore is not None, "no completed checkpoint"
    rows_b1 = read_json(kafka_bootstrap, tb.changelog)
    assert 0 < len(_key_values(rows_b1)) < len(_key_values(rows_a))

    # B2: second half, resumed from the retained checkpoint
    produce_raw(kafka_bootstrap, [(tb.events[k], v.encode(), key.encode()) for k, v, key in second])
    job2 = FeatureJobConfig(restart_attempts=0, group_id="restore-b", restore_path=restore)
    run_feature_job(s, bounded=True, job=job2, topics=tb, wait=True)
    rows_b = read_json(kafka_bootstrap, tb.changelog)

    a, b = _key_values(rows_a), _key_values(rows_b)
    assert len(a) > 1000
    assert b - a == set(), f"rows only in the resumed run: {sorted(b - a)[:5]}"
    assert a - b == set(), f"rows missing after the restore: {sorted(a - b)[:5]}"
