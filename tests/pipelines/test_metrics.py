"""Prometheus metrics of the decision job on the standalone cluster: Flink's own, decision counts by action and
blocked policy, and the Kafka source's consumer lag."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

import pytest

from cxm.config import Settings
from tests.pipelines.kafka_io import produce_json

pytestmark = pytest.mark.integration

T0 = 1_795_000_000_000


PREFIX = "flink_taskmanager_job_task_operator_"
DECISIONS, ACTION, BLOCKED = PREFIX + "cxm_decisions", PREFIX + "cxm_action_count", PREFIX + "cxm_blocked_count"
LAG = PREFIX + "KafkaSourceReader_KafkaConsumer_records_lag_max"


def _lines(text: str, metric: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(metric + "{")]


def _total(text: str, metric: str) -> float:
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in _lines(text, metric))


def _scrape(ports: range) -> str:
    text = []
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text.append(resp.read().decode())
        except OSError:
            continue
    return "\n".join(text)


def test_decision_job_exposes_prometheus_metrics(
    settings: Settings, kafka_bootstrap: str, flink_rest: str, new_topic: Callable[..., str]
) -> None:
    from pipelines import deploy

    src, dst = new_topic("features.changelog"), new_topic("decisions")
    rows = [
        {
            "customer_id": f"m{i:03d}",
            "group": "complaint",
            "event_ts_ms": T0 + i,
            "values": {"open_complaints": 1, "crisis_since_ms": T0 - 5 * 86_400_000, "eta_given": False},
        }
        for i in range(50)
    ]
    rec = deploy.submit(settings, "decisions", env={"CXM_TOPICS__FEATURES": src, "CXM_TOPICS__DECISIONS": dst})
    try:
        produce_json(kafka_bootstrap, src, rows)
        port = settings.flink.prometheus_port
        deadline = time.monotonic() + 120
        text = ""
        while time.monotonic() < deadline:
            # only this job's series (a cancelled job's series disappear, a concurrent one's must not count)
            everything = _scrape(range(port, port + 9))
            text = "\n".join(
                ln for ln in everything.splitlines() if f'job_id="{rec.job_id}"' in ln or "jobmanager" in ln
            )
            if _total(text, DECISIONS) >= len(rows):
                break
            time.sleep(2)
    finally:
        deploy.cancel(settings, rec.job_id)
    assert "flink_jobmanager_numRegisteredTaskManagers" in text
    assert _total(text, DECISIONS) == len(rows)
    by_action = [ln for ln in _lines(text, ACTION) if 'action="svc_free_service"' in ln]
    assert by_action, "decisions by action"
    assert _total("\n".join(by_action), ACTION) == len(rows)
    assert _total(text, BLOCKED) >= len(rows), "marketing is blocked for every customer in crisis"
    assert _lines(text, LAG), "consumer lag of the Kafka source"
