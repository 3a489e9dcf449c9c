"""What-if replay, the ``cxm rules`` CLI, and publishing decisions to the real Kafka broker."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rules.cli import app
from rules.engine import DecisionContext, PolicySet
from rules.policies import DEFAULT_POLICY_DIR
from rules.testing import NOON, base_features, base_scores, random_inputs
from rules.whatif import compare

DATA = Path(__file__).resolve().parent / "data"


def _stricter(tmp_path: Path) -> Path:
    b = tmp_path / "b"
    shutil.copytree(DEFAULT_POLICY_DIR, b)
    p = b / "30_contact.yaml"
    p.write_text(p.read_text().replace("rejects: 2", "rejects: 1"))
    return b


def test_whatif_reports_the_effect_of_a_stricter_suppression(tmp_path: Path) -> None:
    rows = random_inputs(400, seed=5)
    a, b = PolicySet.load(), PolicySet.load(_stricter(tmp_path))
    rep = compare(a, b, rows, now=NOON)
    assert rep.total == 400
    assert rep.changed > 0
    assert rep.blocked_b["suppress_after_2_rejects"] > rep.blocked_a["suppress_after_2_rejects"]
    assert sum(rep.actions_a.values()) == sum(rep.actions_b.values()) == 400
    assert all("suppress_after_2_rejects" in e["why_b"] for e in rep.examples if "blocked" in e["why_b"])


def test_cli_check_ok_and_errors_exit_2() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check", str(DEFAULT_POLICY_DIR)])
    assert ok.exit_code == 0, ok.output
    assert "24 policies" in ok.output
    bad = runner.invoke(app, ["check", str(DATA / "unknown_name")])
    assert bad.exit_code == 2
    assert "p.yaml:4: " in bad.output
    assert "unknown name 'days_in_crysis'" in bad.output


def test_cli_whatif_on_parquet(tmp_path: Path) -> None:
    inputs = tmp_path / "in.parquet"
    df = pd.DataFrame(random_inputs(200, seed=9))
    df["decided_at"] = pd.Timestamp(NOON)
    df.to_parquet(inputs)
    out = tmp_path / "rep.json"
    res = CliRunner().invoke(
        app,
        [
            "whatif",
            "--a",
            str(DEFAULT_POLICY_DIR),
            "--b",
            str(_stricter(tmp_path)),
            "--inputs",
            str(inputs),
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())
    assert rep["total"] == 200
    assert rep["version_a"] != rep["version_b"]
    assert "decisions differ" in res.output


@pytest.mark.integration
def test_publish_decisions_to_kafka(kafka_bootstrap: str, new_topic) -> None:
    from confluent_kafka import Consumer

    from rules.publish import DecisionPublisher, PublisherConfig

    topic = new_topic("decisions-test", partitions=1)
    ps = PolicySet.load()
    decisions = [
        ps.decide(
            base_features(days_in_crisis=float(i)), base_scores(), DecisionContext(f"c{i}", event_id=f"e{i}"), NOON
        )
        for i in range(5)
    ]
    pub = DecisionPublisher(PublisherConfig(bootstrap=kafka_bootstrap, topic=topic))
    assert pub.publish_many(decisions) == 5
    pub.flush(30)
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"t-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got = []
    try:
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            key, value = msg.key(), msg.value()
            if key is not None and value is not None:
                got.append((bytes(key).decode(), json.loads(value)))
            if len(got) == 5:
                break
    finally:
        consumer.close()
    assert [k for k, _ in got] == [d.customer_id for d in decisions]
    assert [v["decision_id"] for _, v in got] == [d.decision_id for d in decisions]
    assert got[4][1]["action_id"] == "svc_free_service"
