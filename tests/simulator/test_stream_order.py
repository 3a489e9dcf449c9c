"""The wire stream as the streaming job sees it: event time never goes back (apart from injected faults),
out-of-order faults stay within the allowed lateness and late faults lie well beyond it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from events.deadletter import Router
from events.timefmt import parse_rfc3339, to_epoch_ms
from simulator.config import FaultRates, SimConfig
from simulator.engine import KindBatch, Simulation
from simulator.run import Pacer, run
from tests.simulator.fakes import FakeMessage

#: The streaming feature job's watermark: an event behind (max event time seen on its partition - 2 s) is late.
WATERMARK_DELAY_MS = 2_000
MAX_BACK_MS = 1_000


class _Capture:
    """A sink that keeps every wire line per kind in stream order and counts flushes."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self.writes = 0

    def write(self, batch: KindBatch) -> int:
        self.writes += 1
        self.lines.setdefault(batch.kind, []).extend(batch.wire.lines.to_pylist())
        return len(batch.wire.lines)

    def close(self) -> None:
        pass


class _Marking(_Capture):
    """A sink that also takes the run loop's marks ("every event before T is written"), in stream order: per
    kind, ``(T, None)`` for a mark and ``(None, line)`` for a line."""

    def __init__(self) -> None:
        super().__init__()
        self.log: dict[str, list[tuple[int | None, str | None]]] = {}

    def write(self, batch: KindBatch) -> int:
        self.log.setdefault(batch.kind, []).extend((None, x) for x in batch.wire.lines.to_pylist())
        return super().write(batch)

    def mark(self, event_ms: int) -> int:
        for k in self.log:
            self.log[k].append((event_ms, None))
        return len(self.log)


def _decisions(sim: Simulation) -> Any:
    """Every 6 simulated hours, a marketing email to 40 customers, sent now (reactions follow minutes later)."""

    def source() -> list[dict[str, Any]]:
        if sim.tick % 6 != 3:
            return []
        t = sim.now.isoformat()
        return [
            {
                "decision_id": f"d{sim.tick}-{i}",
                "customer_id": f"c{i:07d}",
                "decided_at": t,
                "send_at": t,
                "action_id": "promo",
                "action_kind": "marketing",
                "channel": "email",
            }
            for i in range(sim.tick % 7, sim.st.n, sim.st.n // 40)
        ]

    return source


def _run(paced: bool, flush_events: int) -> tuple[Simulation, _Capture]:
    faults = FaultRates(duplicate=0.003, out_of_order=0.003, late=0.003, malformed=0.002)
    sim = Simulation(SimConfig(customers=600, days=3, seed=11, faults=faults, flush_events=flush_events))
    sink = _Capture()
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    pacer = Pacer(rate=50_000, clock=lambda: now[0], sleep=sleep) if paced else None
    run(sim, sink, pacer, _decisions(sim))
    return sim, sink


def _max_go_back(sim: Simulation, sink: _Capture) -> dict[str, tuple[int, int]]:
    """Per kind: (largest step back in event time over the kind's whole stream, same per customer), in ms,
    over the events no fault was injected into."""
    faulty = set(sim.faults["event_id"])
    out: dict[str, tuple[int, int]] = {}
    for kind, lines in sink.lines.items():
        t_list: list[int] = []
        cust: list[str] = []
        for line in lines:
            try:
                ev = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a malformed fault
            if ev["event_id"] in faulty:
                continue
            t_list.append(to_epoch_ms(parse_rfc3339(ev["event_time"])))
            cust.append(ev["customer_id"])
        t = np.array(t_list, dtype=np.int64)
        whole = int((np.maximum.accumulate(t) - t).max()) if len(t) else 0
        per_customer = 0
        by_cust: dict[str, list[int]] = {}
        for c, ti in zip(cust, t_list, strict=True):
            by_cust.setdefault(c, []).append(ti)
        for ts in by_cust.values():
            a = np.array(ts)
            per_customer = max(per_customer, int((np.maximum.accumulate(a) - a).max()))
        out[kind] = (whole, per_customer)
    return out


@pytest.mark.parametrize(("paced", "flush_events"), [(True, 200_000), (False, 1_500)])
def test_event_time_never_goes_back_within_and_across_flushes(paced: bool, flush_events: int) -> None:
    sim, sink = _run(paced, flush_events)
    kinds = len(sink.lines)
    assert sink.writes > 3 * kinds  # many flushes per kind: the check crosses flush boundaries
    assert sim.reactions.stats["delivered"] > 100  # reactions to decisions are in the stream
    assert {"response", "clickstream", "gps", "call"} <= set(sink.lines)
    back = _max_go_back(sim, sink)
    # stricter than per partition: over each kind's whole topic (every partition is a subsequence of it)
    assert {k: v for k, v in back.items() if v[0] > MAX_BACK_MS} == {}
    assert {k: v for k, v in back.items() if v[1] > MAX_BACK_MS} == {}


@pytest.mark.parametrize(("paced", "flush_events"), [(True, 200_000), (False, 1_500)])
def test_marks_never_run_ahead_of_the_events_behind_them(paced: bool, flush_events: int) -> None:
    """A mark at T (a Kafka sink sends it as a watermark record to every partition) comes after every event
    before T and before every later one: no clean event follows a mark with an earlier time, and an out-of-order
    fault stays within its disorder of the last mark (on time for the job)."""
    faults = FaultRates(duplicate=0.003, out_of_order=0.01, late=0.003, lateness_s=WATERMARK_DELAY_MS / 1000)
    sim = Simulation(SimConfig(customers=600, days=3, seed=11, faults=faults, flush_events=flush_events))
    sink = _Marking()
    now = [0.0]
    pacer = Pacer(rate=50_000, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)) if paced else None
    summary = run(sim, sink, pacer, _decisions(sim))
    fault_of = dict(zip(sim.faults["event_id"], sim.faults["fault"], strict=True))
    marks = sum(1 for x in sink.log["gps"] if x[1] is None)
    assert marks >= (summary.ticks - 1 if paced else 3)  # after every flush but the last
    assert summary.marks > 0
    behind: dict[str, int] = {"clean": 0, "out_of_order": 0}
    worst_ooo = 0
    for entries in sink.log.values():
        mark = -1
        for t_mark, line in entries:
            if line is None:
                assert t_mark is not None
                assert t_mark >= mark  # marks never go back
                mark = t_mark
                continue
            try:
                ev = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            t = to_epoch_ms(parse_rfc3339(ev["event_time"]))
            fault = fault_of.get(ev["event_id"], "clean")
            if fault in behind and t < mark:
                behind[fault] += 1
                if fault == "out_of_order":
                    worst_ooo = max(worst_ooo, mark - t)
    assert behind["clean"] == 0
    assert behind["out_of_order"] > 0  # the check sees faults right behind a mark ...
    assert worst_ooo <= MAX_BACK_MS  # ... and they stay within the disorder, on time for the job's watermark


class _Prod:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.sent.append(orjson.loads(value))

    def poll(self, timeout: float) -> int:
        return 0


def test_out_of_order_faults_are_disorder_and_late_faults_are_late_for_the_job() -> None:
    """With the job's 2 s watermark delay: every out-of-order fault is out of order but on time, every late
    fault is late, and nothing else is late (a streaming run, flushed every tick)."""
    faults = FaultRates(out_of_order=0.01, late=0.01, lateness_s=WATERMARK_DELAY_MS / 1000)
    assert faults.max_disorder_s < faults.lateness_s  # the default disorder fits the job
    sim = Simulation(SimConfig(customers=800, days=2, seed=12, faults=faults))
    sink = _Capture()
    run(sim, sink, Pacer(rate=1e12, clock=lambda: 0.0, sleep=lambda s: None))
    by_fault: dict[str, set[str]] = {}
    for eid, fault in zip(sim.faults["event_id"], sim.faults["fault"], strict=True):
        by_fault.setdefault(fault, set()).add(eid)
    assert len(by_fault["out_of_order"]) > 20
    assert len(by_fault["late"]) > 20
    prod = _Prod()
    valid: set[str] = set()
    ooo = 0
    for kind, lines in sink.lines.items():
        router = Router(prod, "dlq", late_topic="late", allowed_lateness_ms=WATERMARK_DELAY_MS)
        res = router.route([FakeMessage(s.encode(), i, kind) for i, s in enumerate(lines)])
        valid |= {e["event_id"] for e in res.valid}
        ooo += res.out_of_order
    late = {r["event_id"] for r in prod.sent if r["error_kind"] == "late"}
    assert late == by_fault["late"]
    assert by_fault["out_of_order"] <= valid
    assert ooo >= 0.9 * len(by_fault["out_of_order"])  # they really arrive behind a newer event
    shifts = [int(d.split()[2]) for d, f in zip(sim.faults["detail"], sim.faults["fault"], strict=True) if f == "late"]
    assert min(shifts) >= WATERMARK_DELAY_MS + 30_000  # well beyond the lateness, not at its edge


def test_cli_max_disorder_option(tmp_path: Path) -> None:
    from simulator.cli import app

    runner = CliRunner()
    args = ["--customers", "50", "--days", "0.5", "--out", str(tmp_path), "--no-parquet", "--out-of-order", "0.05"]
    ok = runner.invoke(app, ["simulate", *args, "--max-disorder-s", "0.5", "--lateness-s", "2"])
    assert ok.exit_code == 0, ok.output
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert summary["faults"]["out_of_order"] > 0
    bad = runner.invoke(app, ["simulate", *args, "--max-disorder-s", "5", "--lateness-s", "2"])
    assert bad.exit_code != 0
    assert "max_disorder_s" in bad.output


def test_after_first_flush_runs_once_with_the_first_tick_written_before_the_pacer_starts() -> None:
    """main_run starts its jobs in this hook: the first tick (every customer's profile) is then in Kafka, and
    the minute the jobs take to start is not a backlog the pacer would then produce at full speed."""
    sim = Simulation(SimConfig(customers=200, days=0.25, seed=3))
    sink = _Capture()
    now = [0.0]
    seen: list[tuple[int, int, float]] = []

    def sleep(s: float) -> None:
        now[0] += s

    def hook() -> None:
        seen.append((sink.writes, len(sink.lines.get("profile", [])), now[0]))
        now[0] += 60.0  # the jobs' start-up

    pacer = Pacer(rate=100.0, clock=lambda: now[0], sleep=sleep)
    summary = run(sim, sink, pacer, after_first_flush=hook)
    assert len(seen) == 1
    writes, profiles, at = seen[0]
    assert writes >= 1
    assert at == 0.0
    assert profiles == 200  # every customer's profile event was written before the hook
    assert summary.ticks == 6
    # paced at 100 events/s from the hook on: the start-up minute did not count as time the pacer could use
    assert now[0] >= 60.0 + (summary.events - 1) / 100.0 - 1e-6
