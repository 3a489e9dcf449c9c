"""The feature job submitted with ``flink run`` to the standalone cluster (the way ops deploy it)."""

from __future__ import annotations

import json
import uuid

import pytest

from cxm.config import Settings
from tests.pipelines.feature_job_io import at, event, read_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_feature_job_on_standalone_cluster(settings: Settings, kafka_bootstrap: str, flink_rest: str) -> None:
    from confluent_kafka import Producer

    from pipelines import deploy
    from pipelines.main_run import create_run_topics, run_topics, settings_for

    env = run_topics(settings, "cl-" + uuid.uuid4().hex[:6])
    s = settings_for(settings, env)
    create_run_topics(s)
    rec = deploy.submit(s, "features", env=env)
    try:
        p = Producer({"bootstrap.servers": kafka_bootstrap})
        topic = s.topics.events("clickstream")
        for i, minute in enumerate((0, 10, 20, 90)):  # the last click moves the watermark past the others
            e = event(
                "clickstream",
                f"cluster-evt-{i}",
                "cust-k1",
                at(minutes=minute),
                page="cancel" if i == 1 else "home",
                session_id="s",
                device="web",
            )
            p.produce(topic, key=b"cust-k1", value=json.dumps(e).encode())
        p.produce(topic, key=b"cust-k1", value=b"{not json")
        p.flush(30)
        rows = [r for r in read_json(kafka_bootstrap, s.topics.features, idle_s=5.0) if r["group"] == "clickstream"]
        dead = read_json(kafka_bootstrap, s.topics.dead_letter, idle_s=2.0)
    finally:
        deploy.cancel(s, rec.job_id)
    rows.sort(key=lambda r: r["event_ts_ms"])
    # the first three clicks are emitted (the fourth waits for a later watermark): 1, 2, 3 clicks in the hour
    assert [r["values"]["clicks_1h"] for r in rows[:3]] == [1, 2, 3]
    assert [r["values"]["cancel_page_visits_7d"] for r in rows[:3]] == [0, 1, 1]
    assert [d["error_kind"] for d in dead] == ["not_json"]
