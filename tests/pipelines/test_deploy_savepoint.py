"""Ops on the standalone cluster: stop the decision job with a savepoint, resume from it; the per-customer
context (Flink state) and the Kafka offsets survive."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from cxm.config import Settings
from tests.pipelines.kafka_io import consume_all, produce_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = 86_400_000
T0 = 1_795_000_000_000


def test_stop_with_savepoint_and_resume_keeps_state(
    settings: Settings, kafka_bootstrap: str, flink_rest: str, new_topic: Callable[..., str]
) -> None:
    from pipelines import deploy

    src, dst = new_topic("features.changelog"), new_topic("decisions")
    env = {"CXM_TOPICS__FEATURES": src, "CXM_TOPICS__DECISIONS": dst}
    s = settings
    rec = deploy.submit(s, "decisions", env=env)
    before = [
        {
            "customer_id": "s1",
            "group": "complaint",
            "event_ts_ms": T0,
            "values": {"open_complaints": 1, "crisis_since_ms": T0 - 5 * DAY, "eta_given": False},
        },
        {"customer_id": "s2", "group": "clickstream", "event_ts_ms": T0, "values": {"clicks_1h": 2}},
    ]
    produce_json(kafka_bootstrap, src, before)
    assert len(consume_all(kafka_bootstrap, dst, expected=2, timeout_s=120)) == 2
    stopped = deploy.stop(s, "decisions")
    assert stopped.savepoint
    assert stopped.savepoint.startswith("file:")
    assert deploy.job_state(s, rec.job_id) == "FINISHED"
    # while the job is down: a click for the customer in crisis (only the click group in this row)
    after = [{"customer_id": "s1", "group": "clickstream", "event_ts_ms": T0 + 60_000, "values": {"clicks_1h": 1}}]
    produce_json(kafka_bootstrap, src, after)
    resumed = deploy.resume(s, "decisions", env=env)
    try:
        out = [json.loads(v) for v in consume_all(kafka_bootstrap, dst, expected=3, timeout_s=120)]
    finally:
        deploy.cancel(s, resumed.job_id)
    # offsets carried over: the two rows before the savepoint were not decided again
    assert len(out) == 3
    assert len({r["decision_id"] for r in out}) == 3
    last = max((r for r in out if r["customer_id"] == "s1"), key=lambda r: r["decided_at"])
    # state carried over: the crisis from before the savepoint still shapes the decision on a mere click
    assert last["trigger"] == "clickstream"
    assert last["action_id"] == "svc_free_service"
