"""The streaming feature job agrees with the batch oracle (features/oracle.py) on a simulated log with faults.

The simulator injects malformed payloads, missing fields, duplicates, out-of-order events (shifted by at most
1 s, below the 2 s watermark delay) and late events (1.5-3 h behind). Each topic has one partition, so the
job's per-partition watermark equals the oracle's per-topic running max (``late_scope="topic"``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from cxm.config import Settings
from features.oracle import compare, compute_features
from pipelines.feature_job import run_feature_job
from pipelines.flink_env import FeatureJobConfig
from tests.pipelines.feature_job_io import (
    changelog_frame,
    fresh_topics,
    produce_raw,
    read_json,
    simulate_lines,
    topic_factory,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DELAY_S = 2


@pytest.fixture(scope="module")
def runs(kafka_bootstrap: str, settings: Settings) -> dict[str, Any]:
    from simulator.config import FaultRates

    faults = FaultRates(malformed=0.002, missing_field=0.002, duplicate=0.01, out_of_order=0.02, late=0.005,
                        max_disorder_s=1.0, lateness_s=3600.0)
    # 9 days: the 7-day windows and spans drop and retract rows (the 24 h and 1 h ones do after a day)
    lines = simulate_lines(customers=200, days=9, seed=3, faults=faults)
    topics = fresh_topics(topic_factory(kafka_bootstrap))
    produce_raw(kafka_bootstrap, [(topics.events[k], v.encode(), key.encode()) for k, v, key in lines])
    s = settings.model_copy(update={"flink": settings.flink.model_copy(update={"watermark_delay_s": DELAY_S})})
    job = FeatureJobConfig(restart_attempts=0, group_id="oracle-test", watermark_emit="on-event")
    run_feature_job(s, bounded=True, job=job, topics=topics, wait=True)
    log = pd.DataFrame({"topic": [topics.events[k] for k, _, _ in lines], "value": [v for _, v, _ in lines]})
    oracle = compute_features(log, watermark_delay_s=DELAY_S, late_scope="topic")
    return {
        "oracle": oracle,
        "job": changelog_frame(read_json(kafka_bootstrap, topics.changelog)),
        "dead": read_json(kafka_bootstrap, topics.dead_letter),
        "late": read_json(kafka_bootstrap, topics.late),
    }


@pytest.mark.timeout(600)
def test_rows_equal_oracle(runs: dict[str, Any]) -> None:
    expected, actual = runs["oracle"].rows, runs["job"]
    assert len(expected) > 1000
    diffs = compare(expected, actual, rtol=1e-9, atol=1e-6)
    assert diffs == [], f"{len(diffs)} differences, e.g. {diffs[:10]}"


@pytest.mark.timeout(600)
def test_dead_letter_and_late_counts_equal_oracle(runs: dict[str, Any]) -> None:
    oracle = runs["oracle"]
    assert oracle.invalid > 0
    assert oracle.late > 0
    assert len(runs["dead"]) == oracle.invalid
    assert sorted(r["event_id"] for r in runs["late"]) == sorted(oracle.late_event_ids)
