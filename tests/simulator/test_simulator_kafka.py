"""On the real broker: ``cxm simulate --to kafka`` into fresh per-kind topics, and decisions read back from a
fresh decisions topic by :class:`simulator.kafka_decisions.KafkaDecisionReader`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cxm.config import EVENT_KINDS, TopicSpec
from events.timefmt import parse_rfc3339, to_epoch_ms
from events.watermark import WATERMARK_KIND

PARTITIONS = 3


def _consume_all(bootstrap: str, topics: list[str], idle_s: float = 5.0, timeout_s: float = 90.0) -> list[Any]:
    """Every message of ``topics`` from the beginning, until nothing new arrives for ``idle_s``."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(topics)
    out: list[Any] = []
    deadline, last_new = time.monotonic() + timeout_s, time.monotonic()
    while time.monotonic() < deadline and (not out or time.monotonic() - last_new < idle_s):
        got = [m for m in c.consume(num_messages=10_000, timeout=1.0) if not m.error()]
        if got:
            out.extend(got)
            last_new = time.monotonic()
    c.close()
    return out


@pytest.mark.integration
def test_cli_simulate_to_kafka(kafka_bootstrap: str, tmp_path: Path) -> None:
    from infra.topics import ensure_topics
    from simulator.cli import app

    prefix = f"test.sim.{uuid.uuid4().hex[:10]}."
    ensure_topics(kafka_bootstrap, [TopicSpec(name=f"{prefix}{k}", partitions=PARTITIONS, retention_ms=3_600_000)
                                    for k in EVENT_KINDS])
    host, port = kafka_bootstrap.rsplit(":", 1)
    env = {"CXM_TOPICS__EVENTS_PREFIX": prefix, "CXM_KAFKA__HOST": host, "CXM_KAFKA__PORT": port}
    res = CliRunner().invoke(
        app,
        ["simulate", "--customers", "300", "--days", "2", "--seed", "21", "--to", "kafka", "--rate", "20000",
         "--out", str(tmp_path), "--duplicate", "0.002", "--out-of-order", "0.002"],
        env=env,
    )
    assert res.exit_code == 0, res.output
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert summary["events"] > 2_000
    faulty = set(pq.read_table(tmp_path / "truth" / "faults.parquet").column("event_id").to_pylist())
    msgs = _consume_all(kafka_bootstrap, [f"{prefix}{k}" for k in EVENT_KINDS])
    per_topic: dict[str, int] = {}
    newest: dict[tuple[str, int], int] = {}
    marked: dict[tuple[str, int], int] = {}  # the latest watermark record's time per partition
    marks = behind_mark = worst_back = 0
    for m in msgs:
        topic = m.topic()
        key = (topic, m.partition())
        ev = orjson.loads(m.value())
        if ev.get("kind") == WATERMARK_KIND:  # "every event before T is written" (after each tick)
            marks += 1
            marked[key] = max(marked.get(key, 0), to_epoch_ms(parse_rfc3339(ev["event_time"])))
            assert m.key() is None
            continue
        per_topic[topic] = per_topic.get(topic, 0) + 1
        assert topic == f"{prefix}{ev['kind']}"  # every event is on its kind's topic ...
        assert m.key().decode() == ev["customer_id"]  # ... keyed by customer
        if ev["event_id"] in faulty:
            continue
        t = to_epoch_ms(parse_rfc3339(ev["event_time"]))
        worst_back = max(worst_back, newest.get(key, t) - t)
        newest[key] = max(newest.get(key, t), t)
        behind_mark += t < marked.get(key, 0)  # a watermark record ahead of it would make it late
    assert {t.removeprefix(prefix): n for t, n in per_topic.items()} == summary["per_kind"]
    assert sum(per_topic.values()) == summary["events"]
    assert len({p for _, p in newest}) == PARTITIONS
    assert worst_back <= 1_000  # per partition, as the feature job's watermark sees it
    # every partition of every kind's topic is marked after each flush but the last, and no clean event follows
    # a watermark record with an earlier time
    assert marks == summary["marks"] == len(EVENT_KINDS) * PARTITIONS * (summary["ticks"] - 1)
    assert set(marked) == {(f"{prefix}{k}", p) for k in EVENT_KINDS for p in range(PARTITIONS)}
    assert behind_mark == 0


@pytest.mark.integration
def test_kafka_decision_reader_feeds_the_simulation(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    from simulator.config import SimConfig
    from simulator.engine import Simulation
    from simulator.kafka_decisions import KafkaDecisionReader
    from simulator.run import Pacer, run
    from simulator.sinks import kafka_producer

    topic = new_topic("test.decisions")
    reader = KafkaDecisionReader(kafka_bootstrap, topic, f"t-{uuid.uuid4().hex}", from_beginning=True)
    deadline = time.monotonic() + 60
    while not reader.consumer.assignment() and time.monotonic() < deadline:
        assert reader() == []
        time.sleep(0.2)
    assert reader.consumer.assignment(), "no partition assigned to the decision reader"

    sim = Simulation(SimConfig(customers=200, days=2, seed=22))
    t0 = sim.now_ms
    n = 60
    producer = kafka_producer(kafka_bootstrap)
    for i in range(n):
        t = f"2026-11-01T{(i % 20):02d}:30:00.000Z"
        assert to_epoch_ms(parse_rfc3339(t)) >= t0
        d = {"decision_id": f"d{i}", "customer_id": f"c{i * 3:07d}", "decided_at": t, "send_at": t,
             "action_id": "promo", "action_kind": "marketing", "channel": "email"}
        producer.produce(topic, orjson.dumps(d), d["customer_id"].encode())
    producer.produce(topic, b"not json")
    # a no-action record (the reader passes only its customer on, without parsing it)
    none = {"decision_id": "dn", "customer_id": "c0000004", "decided_at": "2026-11-01T01:00:00.000Z",
            "action_id": None, "candidates": [{"action_id": "promo"}]}
    producer.produce(topic, orjson.dumps(none), b"c0000004")
    assert producer.flush(30) == 0

    sink_lines: list[str] = []

    class _Sink:
        def write(self, batch: Any) -> int:
            sink_lines.extend(batch.wire.lines.to_pylist() if batch.kind == "response" else [])
            return len(batch.wire.lines)

        def close(self) -> None:
            pass

    # ~6 s of wall time for 2 simulated days, so the reader polls the topic many times while the run goes on
    summary = run(sim, _Sink(), Pacer(speed=2 * 86_400 / 6), reader)
    reader.close()
    assert summary.decisions == n
    assert sim.reactions.stats["no_action"] == 1
    assert reader.bad == 1
    delivered = sim.reactions.stats["delivered"] + sim.reactions.stats["blocked_by_consent"]
    assert delivered + sim.reactions.stats["churned_before_send"] == n
    responses = [orjson.loads(s) for s in sink_lines]
    assert {r["decision_id"] for r in responses if r["response"] == "delivered"} <= {f"d{i}" for i in range(n)}
    assert sum(r["response"] == "delivered" for r in responses) == sim.reactions.stats["delivered"] > 0
