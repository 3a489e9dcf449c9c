"""The run loop: step ticks, flush batches to a sink, pace against wall time, feed decisions back.

After each flush but the last, a sink with a ``mark(upto_ms)`` method is told that every event before
``upto_ms`` is written (a Kafka sink sends watermark records, :mod:`events.watermark`).

Pacing is optional and uses an injected clock: ``rate`` caps events per wall-clock second, ``speed`` caps
simulated seconds per wall-clock second (3600 = one simulated hour per second). When paced, batches are
flushed every tick so events appear as simulated time advances. Each flush holds back events after the current
simulated time (sessions or calls running past the tick, responses minutes after a delivery), so every kind's
stream is in non-decreasing event time within and across flushes, apart from injected faults.

>>> from simulator.config import SimConfig
>>> from simulator.engine import Simulation
>>> class Null:
...     def write(self, b): return len(b.wire.lines)
...     def close(self): pass
>>> s = run(Simulation(SimConfig(customers=100, days=1)), Null())
>>> s.events == sum(s.per_kind.values()) > 0, s.ticks
(True, 24)
>>> s.max_event_ms >= 1_793_491_200_000 + 23 * 3_600_000  # the simulated day's last hour (2026-11-01 UTC)
True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.engine import Simulation
from simulator.sinks import Sink

DecisionSource = Callable[[], list[dict[str, Any]]]


def _max_ms(table: Any) -> int:
    """The latest ``event_time`` of a batch's table (epoch ms), 0 for an empty one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return 0
    latest = pc.max(table["event_time"].cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())).as_py()
    return int(latest) if latest is not None else 0


@dataclass
class Pacer:
    """Sleeps so that neither the event rate nor the simulated-time speed exceeds its cap."""

    rate: float | None = None
    speed: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _t0: float | None = None

    def wait(self, events: int, sim_seconds: float) -> float:
        """Block until ``events`` / ``sim_seconds`` since the first call are allowed; returns the sleep."""
        now = self.clock()
        if self._t0 is None:
            self._t0 = now
        due = 0.0
        if self.rate:
            due = max(due, events / self.rate)
        if self.speed:
            due = max(due, sim_seconds / self.speed)
        pause = self._t0 + due - now
        if pause > 0:
            self.sleep(pause)
            return pause
        return 0.0


@dataclass
class Summary:
    """What a run did."""

    events: int = 0
    per_kind: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    churned: int = 0
    customers: int = 0
    ticks: int = 0
    decisions: int = 0
    reactions: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    #: the latest event time written (epoch ms; 0 before any): calls and sessions run past the simulated end
    max_event_ms: int = 0
    #: watermark records the sink wrote after the flushes (:meth:`simulator.sinks.KafkaSink.mark`)
    marks: int = 0

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "events_per_s": round(self.events_per_s, 1)}


def run(
    sim: Simulation,
    sink: Sink,
    pacer: Pacer | None = None,
    decisions: DecisionSource | None = None,
    progress: Any = None,
    clock: Callable[[], float] = time.perf_counter,
    after_first_flush: Callable[[], None] | None = None,
) -> Summary:
    """Simulate to the end, writing every batch to ``sink`` (closed at the end).

    ``after_first_flush`` runs once, when the first tick is written and before the pacer's clock starts (a
    closed-loop run starts its jobs there: every customer's initial profile and consent are then already in
    Kafka, as in a pre-loaded run).
    """
    started = clock()
    summary = Summary(customers=sim.st.n)
    paced = pacer is not None and (pacer.rate or pacer.speed)
    mark = getattr(sink, "mark", None)  # a sink that can tell its partitions how far the input has got
    t_start = sim.now_ms
    try:
        while not sim.done:
            if decisions is not None:
                got = decisions()
                if got:
                    summary.decisions += sim.apply_decisions(got)
            sim.step()
            if progress is not None:
                progress.update(1)
            if paced or sim.buf.pending >= sim.cfg.flush_events or sim.done:
                upto_ms = None if sim.done else sim.now_ms
                for batch in sim.flush(upto_ms=upto_ms):
                    n = sink.write(batch)
                    summary.events += n
                    summary.max_event_ms = max(summary.max_event_ms, _max_ms(batch.table))
                    summary.per_kind[batch.kind] = summary.per_kind.get(batch.kind, 0) + n
                if upto_ms is not None and mark is not None:  # every event before upto_ms is written
                    marks = mark(upto_ms)
                    if marks:
                        sim.marked(upto_ms)
                        summary.marks += marks
                if after_first_flush is not None:
                    after_first_flush()
                    after_first_flush = None
                if pacer is not None and paced:
                    pacer.wait(summary.events, (sim.now_ms - t_start) / 1000)
    finally:
        sink.close()
    summary.ticks = sim.tick
    summary.churned = int((~sim.st.active).sum())
    for f in sim.faults["fault"]:
        summary.faults[f] = summary.faults.get(f, 0) + 1
    summary.reactions = dict(sim.reactions.stats)
    summary.elapsed_s = clock() - started
    return summary
