"""Determinism, faults reaching their paths, ground truth, and the causal effects of decisions."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from events.deadletter import Router
from events.dedup import Deduper
from events.validate import Valid, validate_bytes
from simulator.config import Effects, FaultRates, SimConfig
from simulator.engine import Simulation
from simulator.population import DAY_MS
from simulator.run import Pacer, run
from simulator.sinks import FileSink, write_truth
from tests.simulator.fakes import FakeMessage

FAULTS = FaultRates(malformed=0.004, missing_field=0.004, duplicate=0.004, out_of_order=0.004, late=0.004)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run_files(out: Path, seed: int) -> None:
    sim = Simulation(SimConfig(customers=400, days=3, seed=seed, faults=FAULTS, flush_events=5_000))
    run(sim, FileSink(out))
    write_truth(sim, out)


def test_same_seed_byte_identical(tmp_path: Path) -> None:
    _run_files(tmp_path / "a", 5)
    _run_files(tmp_path / "b", 5)
    _run_files(tmp_path / "c", 6)
    a, b, c = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert len(a) >= 9 * 2 + 3 - 2  # jsonl + parquet per kind emitted, 3 truth files
    assert a == b
    assert a["events/clickstream.jsonl"] != c["events/clickstream.jsonl"]


class _Prod:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.sent.append((topic, orjson.loads(value)))

    def poll(self, timeout: float) -> int:
        return 0


def test_every_injected_fault_reaches_its_path() -> None:
    sim = Simulation(SimConfig(customers=500, days=2, seed=2, faults=FAULTS))
    sim.run_ticks()
    batches = sim.flush()
    faults = sim.faults_table().to_pylist()
    by_kind: dict[str, set[str]] = {}
    for f in faults:
        by_kind.setdefault(f["fault"], set()).add(f["event_id"])
    assert set(by_kind) == {"malformed", "missing_field", "duplicate", "out_of_order", "late"}
    prod = _Prod()
    seen_ooo = 0
    for b in batches:
        router = Router(prod, "dlq", late_topic="late", deduper=Deduper(), allowed_lateness_ms=3_600_000)
        msgs = [FakeMessage(s.encode(), i, b.kind) for i, s in enumerate(b.wire.lines.to_pylist())]
        res = router.route(msgs)
        seen_ooo += res.out_of_order
    dead: dict[str, set[str]] = {}
    for topic, rec in prod.sent:
        eid = rec["event_id"]
        if rec["error_kind"] == "not_json":
            eid = next(e for e in by_kind["malformed"] if e in rec["original"])
        dead.setdefault(f"{topic}:{rec['error_kind']}", set()).add(eid)
    assert dead["dlq:not_json"] == by_kind["malformed"]
    assert dead["dlq:missing_field"] == by_kind["missing_field"]
    assert dead["dlq:duplicate"] == by_kind["duplicate"]
    assert dead["late:late"] == by_kind["late"]
    assert seen_ooo >= len(by_kind["out_of_order"]) // 2  # shifted-back events are detected as disorder


def test_ground_truth_and_journey_correlations() -> None:
    sim = Simulation(SimConfig(customers=3000, days=20, seed=3))
    sim.run_ticks()
    tables = {b.kind: b.table for b in sim.flush()}
    truth = sim.churn_truth().to_pandas()
    churned = set(truth.loc[truth.churned, "customer_id"])
    assert 0 < len(churned) < 3000
    clicks = tables["clickstream"].to_pandas()
    cancel = set(clicks.loc[clicks.page == "cancel", "customer_id"])
    assert len(churned & cancel) / len(churned) > 0.5  # cancellation-page visits precede churn
    outcomes = tables["outcome"].to_pandas()
    assert set(outcomes.loc[outcomes.outcome == "churned", "customer_id"]) == churned
    comp = tables["complaint"].to_pandas()
    rec = comp[comp.status == "opened"].groupby(["customer_id", "problem_id"]).size()
    assert rec.max() >= 3  # the same problem recurs
    assert comp.eta_given.any()
    assert (comp.status == "resolved").any()
    # customers with a fault churn more than those without
    had = truth.had_fault
    assert truth.churned[had].mean() > truth.churned[~had].mean()
    stages = sim.stage_changes().to_pandas()
    assert {"in_crisis", "recovering", "engaged", "dormant"} <= set(stages.stage)
    gps = tables["gps"].to_pandas()
    from features.stores import Geofences

    inside, _ = Geofences.load().locate(gps.lat.to_numpy(), gps.lon.to_numpy())
    assert 0.05 < inside.mean() < 0.9


def _crisis_experiment(
    kind: str, seed: int = 4, customers: int = 4000, days: int = 30, effects: Effects | None = None
) -> tuple[Simulation, np.ndarray]:
    """Every day, send ``kind`` to even-numbered customers currently in a crisis."""
    sim = Simulation(SimConfig(customers=customers, days=days, seed=seed, effects=effects or Effects()))
    treated = np.zeros(customers, dtype=bool)
    n = 0
    while not sim.done:
        if sim.tick % 24 == 12:
            idx = np.flatnonzero(sim.st.crisis & sim.st.active & (np.arange(customers) % 2 == 0))
            treated[idx] = True
            t = sim.now
            sim.apply_decisions(
                [
                    {
                        "decision_id": f"d{n}-{i}",
                        "customer_id": f"c{i:07d}",
                        "decided_at": t.isoformat(),
                        "action_id": f"{kind}_1",
                        "action_kind": kind,
                        "channel": "push",
                        "send_at": t.isoformat(),
                    }
                    for i in idx
                ]
            )
            n += 1
        sim.step()
    return sim, treated


def test_marketing_in_crisis_raises_churn() -> None:
    sim, treated = _crisis_experiment("marketing")
    st = sim.st
    crisis_even = st.had_fault & (np.arange(st.n) % 2 == 0)
    crisis_odd = st.had_fault & (np.arange(st.n) % 2 == 1)
    assert treated.sum() > 200
    churn_treated = (~st.active[crisis_even]).mean()
    churn_control = (~st.active[crisis_odd]).mean()
    assert churn_treated > churn_control * 1.3, (churn_treated, churn_control)
    assert sim.reactions.stats["sales_in_crisis"] > 0


def test_timely_agent_call_lowers_churn() -> None:
    sim, _ = _crisis_experiment("agent_call")
    st = sim.st
    even, odd = st.had_fault & (np.arange(st.n) % 2 == 0), st.had_fault & (np.arange(st.n) % 2 == 1)
    assert (~st.active[even]).mean() < (~st.active[odd]).mean()


def test_survey_before_eta_annoys_and_overcontact_unsubscribes() -> None:
    sim = Simulation(SimConfig(customers=2000, days=10, seed=5))
    sim.run_ticks(24 * 3)
    sim.flush()
    idx = np.flatnonzero(sim.st.crisis & ~sim.st.eta_given & sim.st.active)
    assert len(idx) > 10
    before = sim.st.satisfaction[idx].copy()
    t = sim.now.isoformat()
    sim.apply_decisions(
        [
            {
                "decision_id": f"s{i}",
                "customer_id": f"c{i:07d}",
                "decided_at": t,
                "action_id": "csat",
                "action_kind": "survey",
                "channel": "email",
                "send_at": t,
            }
            for i in idx
        ]
    )
    sim.step()
    assert (sim.st.satisfaction[idx] < before).mean() > 0.9
    # over-contacting: 12 deliveries in a week on one channel -> unsubscribes
    calm = np.flatnonzero(~sim.st.crisis & sim.st.active & sim.st.consent[:, 0])[:200]
    for h in range(12):
        t = (sim.now).isoformat()
        sim.apply_decisions(
            [
                {
                    "decision_id": f"m{h}-{i}",
                    "customer_id": f"c{i:07d}",
                    "decided_at": t,
                    "action_id": "promo",
                    "action_kind": "marketing",
                    "channel": "email",
                    "send_at": t,
                }
                for i in calm
            ]
        )
        sim.step()
    batches = {b.kind: b for b in sim.flush()}
    assert (~sim.st.consent[calm, 0]).mean() > 0.5
    responses = batches["response"].table.to_pandas()
    assert (responses.response == "unsubscribed").sum() == sim.reactions.stats["unsubscribed"] > 0
    consent = batches["consent"].table.to_pandas()
    assert (~consent.granted & (consent.channel == "email")).sum() >= sim.reactions.stats["unsubscribed"]
    for line in batches["response"].wire.lines.to_pylist()[:50]:
        assert isinstance(validate_bytes(line), Valid)


def test_pacer_rate_limit_uses_injected_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    p = Pacer(rate=1000, clock=lambda: now[0], sleep=sleep)
    p.wait(0, 0)
    p.wait(500, 10)
    assert slept == [pytest.approx(0.5)]
    p2 = Pacer(speed=3600, clock=lambda: now[0], sleep=sleep)
    p2.wait(0, 0)
    p2.wait(10, 7200)
    assert slept[-1] == pytest.approx(2.0)


def test_truth_files(tmp_path: Path) -> None:
    sim = Simulation(SimConfig(customers=100, days=1, seed=1))
    run(sim, FileSink(tmp_path))
    d = write_truth(sim, tmp_path)
    stages = pq.read_table(d / "stages.parquet")
    assert stages.num_rows >= 100
    assert pq.read_table(d / "customers.parquet").num_rows == 100
    first = {r["customer_id"]: r["valid_from"] for r in stages.to_pylist()}
    assert min(v.timestamp() * 1000 for v in first.values()) == sim.t0
    assert DAY_MS > 0
