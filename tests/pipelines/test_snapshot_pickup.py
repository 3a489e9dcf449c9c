"""A running decision job (mini-cluster, parallelism 2) picks up a newly published model snapshot, no restart.

v1 snapshots are in a fresh registry when the job starts; after the first decisions come out, a v2 churn model
that outputs high risk is published; every later decision carries ``churn:2`` and the new score. The customers
are spread by hash over both parallel scorer instances (each has its own registry watcher); with 40 customers
all of them getting v2 decisions means both instances switched (one instance holding them all has odds 2^-39).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from confluent_kafka import Consumer

from cxm.config import Settings
from models.churn import ChurnModel
from models.propensity import PropensityModel
from models.registry import ModelRegistry
from models.stage import StageModel
from tests.pipelines.kafka_io import produce_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = 1_795_000_000_000
T1 = T0 + 3_600_000  # phase 2 (after the v2 snapshot)
N_CUSTOMERS = 40
REFRESH_S = 0.5


def _rows(ts: int) -> list[dict[str, Any]]:
    return [
        {"customer_id": f"c{i:03d}", "group": "clickstream", "event_ts_ms": ts + i,
         "values": {"clicks_1h": 1, "clicks_24h": 2, "clicks_7d": 3 + i % 5}}
        for i in range(N_CUSTOMERS)
    ]  # fmt: skip


def _high_risk_model() -> ChurnModel:
    m = ChurnModel(intercept_init=3.0)
    X = pd.DataFrame([{"clicks_7d": i % 9} for i in range(256)])
    m.learn_many(X, pd.Series([True] * len(X)))
    return m


def _collect(consumer: Consumer, out: list[dict[str, Any]], done: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not done():
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            out.append(json.loads(msg.value() or b"{}"))


def test_new_snapshot_is_picked_up_by_the_running_job(
    settings: Settings, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    from pipelines.decision_job import run

    models_dir = tmp_path / "models"
    reg = ModelRegistry(models_dir)
    for name, model in (("churn", ChurnModel()), ("stage", StageModel()), ("propensity", PropensityModel())):
        reg.save(name, model, watermark_ms=T0, now_ms=T0)
    src, dst = new_topic("features.changelog", partitions=2), new_topic("decisions", partitions=2)
    s = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(update={"features": src, "decisions": dst}),
            "decisions": settings.decisions.model_copy(update={"models_dir": models_dir, "refresh_s": REFRESH_S}),
            "flink": settings.flink.model_copy(update={"parallelism": 2}),
        }
    )
    consumer = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": f"pickup-{time.time_ns()}",
         "auto.offset.reset": "earliest"}
    )  # fmt: skip
    consumer.subscribe([dst])
    out: list[dict[str, Any]] = []
    result = run(s, bounded=False, wait=False)
    try:
        produce_json(kafka_bootstrap, src, _rows(T0))
        _collect(consumer, out, lambda: len(out) >= N_CUSTOMERS, timeout_s=120)
        assert len(out) >= N_CUSTOMERS, f"only {len(out)} phase-1 decisions"
        before = list(out)

        reg.save("churn", _high_risk_model(), watermark_ms=T1, now_ms=T1)
        time.sleep(3 * REFRESH_S)  # every worker's next batch is past its refresh interval: it polls
        produce_json(kafka_bootstrap, src, _rows(T1))

        def phase2() -> list[dict[str, Any]]:
            return [r for r in out if str(r["decided_at"]) >= "2026-11-18T12:06:40.000Z"]

        _collect(consumer, out, lambda: len(phase2()) >= N_CUSTOMERS, timeout_s=60)
        after = phase2()
    finally:
        result.get_job_client().cancel()
        consumer.close()

    assert {r["model_version"] for r in before} == {"churn:1,propensity:1,stage:1"}
    assert max(float(r["scores"]["churn_risk"]) for r in before) < 0.2
    assert len(after) == N_CUSTOMERS
    assert {r["customer_id"] for r in after} == {f"c{i:03d}" for i in range(N_CUSTOMERS)}
    assert {r["model_version"] for r in after} == {"churn:2,propensity:1,stage:1"}
    assert min(float(r["scores"]["churn_risk"]) for r in after) > 0.8
