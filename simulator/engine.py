"""The simulation: hidden state stepped in vectorised ticks, events buffered as columns, ground truth kept.

>>> from simulator.config import SimConfig
>>> sim = Simulation(SimConfig(customers=200, days=2, seed=1))
>>> sim.run_ticks()
>>> batches = sim.flush()
>>> sorted(b.kind for b in batches)[:3]
['call', 'clickstream', 'complaint']
>>> sim.counts["profile"]
200
>>> sim.stage_changes().num_columns, sim.churn_truth().num_rows
(3, 200)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from events.timefmt import from_epoch_ms, to_epoch_ms
from features.names import STAGES
from features.stores import Geofences
from simulator.activity import currency_codes, step_activity
from simulator.config import SimConfig
from simulator.crisis import hazard, step_crisis
from simulator.emit import EventBuffer
from simulator.faults import WireBatch, inject
from simulator.population import CH, DAY_MS, ST, draw_population
from simulator.reactions import Reactions, emit_profiles
from simulator.wire import encode

#: Relative activity by local hour of day (mean 1).
_CURVE = np.array(
    [
        0.1,
        0.05,
        0.05,
        0.05,
        0.05,
        0.1,
        0.3,
        0.7,
        1.1,
        1.3,
        1.4,
        1.4,
        1.5,
        1.4,
        1.3,
        1.3,
        1.4,
        1.5,
        1.7,
        1.8,
        1.6,
        1.2,
        0.7,
        0.3,
    ]
)
ACTIVITY = _CURVE * 24 / _CURVE.sum()


@dataclass
class KindBatch:
    """One serialised batch of one kind: the clean typed table and what goes on the wire."""

    kind: str
    table: pa.Table
    wire: WireBatch


class Simulation:
    """Customers over simulated time. Deterministic given ``cfg`` (and the decisions applied)."""

    def __init__(self, cfg: SimConfig, geo: Geofences | None = None) -> None:
        self.cfg = cfg
        self.geo = geo or Geofences.load(cfg.stores_file)
        self.rng = np.random.default_rng([cfg.seed, 0])
        self.fault_rng = np.random.default_rng([cfg.seed, 3])
        self.st = draw_population(cfg, self.geo, np.random.default_rng([cfg.seed, 1]))
        self.reactions = Reactions(self.st, cfg.effects, np.random.default_rng([cfg.seed, 2]))
        self.buf = EventBuffer()
        self.t0 = to_epoch_ms(cfg.start)
        self.dt = cfg.tick_s * 1000
        self.tick = 0
        self._calls = [0]
        self._orders = [0]
        self._cur = currency_codes(self.st)
        self._tz = [ZoneInfo(z) for z in self.st.timezones]
        self._stage_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.faults: dict[str, list[str]] = {"event_id": [], "kind": [], "fault": [], "detail": []}
        self._started = False
        self._newest: dict[str, int] = {}  # newest event time flushed per kind (anchors wire faults)

    # -- time -------------------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        """Start of the next tick (simulated epoch ms)."""
        return self.t0 + self.tick * self.dt

    @property
    def now(self) -> datetime:
        return from_epoch_ms(self.now_ms)

    @property
    def done(self) -> bool:
        return self.tick >= self.cfg.ticks

    @property
    def counts(self) -> Counter[str]:
        return self.buf.counts

    def _local_weight(self, t_ms: int) -> np.ndarray:
        utc = from_epoch_ms(t_ms)
        hours = np.array([utc.astimezone(z).hour for z in self._tz])
        out: np.ndarray = ACTIVITY[hours][self.st.tz_idx]
        return out

    # -- stepping ---------------------------------------------------------------------------------
    def _start(self) -> None:
        st, n = self.st, self.st.n
        t = self.t0 + self.rng.integers(0, 60_000, size=n)
        emit_profiles(self.buf, st, np.arange(n), t)
        rows, chs = np.nonzero(~st.consent)
        if len(rows):
            self.buf.add(
                "consent",
                rows,
                t[rows] + 1000,
                channel=chs.astype(np.int8),
                granted=np.zeros(len(rows), dtype=bool),
            )
        self._record_stages(self.t0, force=True)
        self._started = True

    def step(self) -> None:
        """Advance one tick: decisions due, crisis and churn dynamics, everyday activity, truth."""
        if not self._started:
            self._start()
        t0, dt = self.now_ms, self.dt
        w = self._local_weight(t0)
        self.reactions.deliver_due(self.buf, t0, t0 + dt)
        step_crisis(self.st, self.cfg, self.rng, self.buf, t0, dt, w, self._calls)
        step_activity(self.st, self.cfg, self.rng, self.buf, self.geo, t0, dt, w, self._orders, self._cur)
        self.tick += 1
        self._record_stages(t0 + dt)

    def run_ticks(self, n: int | None = None) -> None:
        """Step ``n`` ticks (all remaining by default)."""
        end = self.cfg.ticks if n is None else min(self.cfg.ticks, self.tick + n)
        while self.tick < end:
            self.step()

    def apply_decisions(self, decisions: list[dict[str, Any]]) -> int:
        """Queue decisions (dicts as on the decisions topic); they take effect at their ``send_at``."""
        return self.reactions.submit(decisions)

    # -- ground truth -----------------------------------------------------------------------------
    def true_stages(self, t_ms: int) -> np.ndarray:
        """The true relationship stage (index into STAGES) of every customer at ``t_ms``."""
        st, r = self.st, self.cfg.rates
        stage = np.where((st.engagement > 0.45) & (st.satisfaction > 0.55), ST["engaged"], ST["dormant"])
        stage[t_ms - st.signup_ms < r.onboarding_days * DAY_MS] = ST["onboarding"]
        stage[(st.resolved_ms >= 0) & (t_ms - st.resolved_ms < r.recovering_days * DAY_MS)] = ST["recovering"]
        risky = (st.intent_ms >= 0) | (hazard(st, self.cfg, t_ms) > r.at_risk_hazard_factor * r.churn_hazard)
        stage[risky] = ST["at_risk"]
        stage[st.crisis] = ST["in_crisis"]
        return stage

    def _record_stages(self, t_ms: int, force: bool = False) -> None:
        stage = self.true_stages(t_ms)
        changed = np.flatnonzero(((stage != self.st.stage) | force) & (self.st.active | force))
        if len(changed):
            self._stage_rows.append((changed, np.full(len(changed), t_ms), stage[changed]))
            self.st.stage[changed] = stage[changed]

    def stage_changes(self) -> pa.Table:
        """Ground truth: (customer_id, valid_from, stage), one row per change of the true stage."""
        from simulator.ids import customer_ids

        if self._stage_rows:
            c, t, s = (np.concatenate(x) for x in zip(*self._stage_rows, strict=True))
        else:
            c = t = s = np.zeros(0, dtype=np.int64)
        return pa.table(
            {
                "customer_id": customer_ids(c),
                "valid_from": pa.array(t.astype(np.int64)).cast(pa.timestamp("ms", tz="UTC")),
                "stage": pa.array(np.array(STAGES, dtype=object)[s.astype(np.int64)], type=pa.string()),
            }
        )

    def churn_truth(self) -> pa.Table:
        """Ground truth per customer: churned?, churn time, intent time, traits and home."""
        from simulator.ids import customer_ids

        st = self.st

        def ts(a: np.ndarray) -> pa.Array:
            return pa.array(a, mask=a < 0, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))

        return pa.table(
            {
                "customer_id": customer_ids(np.arange(st.n)),
                "churned": pa.array(~st.active),
                "churn_time": ts(st.churn_ms),
                "intent_time": ts(np.where(st.active, st.intent_ms, -1)),
                "timezone": pa.array([st.timezones[i] for i in st.tz_idx]),
                "home_lat": st.home_lat,
                "home_lon": st.home_lon,
                "home_store": pa.array([self.geo.ids[i] for i in st.home_store]),
                "problem_proneness": st.proneness,
                "engagement": st.engagement,
                "satisfaction": st.satisfaction,
                "had_fault": st.had_fault,
                "consent_sms": st.consent[:, CH["sms"]],
            }
        )

    def faults_table(self) -> pa.Table:
        """Every injected wire fault: event_id, kind, fault, detail."""
        return pa.table({k: pa.array(v, type=pa.string()) for k, v in self.faults.items()})

    # -- output -----------------------------------------------------------------------------------
    def flush(self, upto_ms: int | None = None) -> list[KindBatch]:
        """Serialise what is buffered: per kind, sorted by event time, faults injected on the wire.

        ``upto_ms`` (the streaming mode of :func:`simulator.run.run`: the current simulated time) serialises
        only events before it and keeps later ones for a later flush, so each kind's stream never goes back
        in event time across flushes (apart from injected faults), as a real producer's would.
        """
        out = []
        for kind, cols in sorted(self.buf.take(before_ms=upto_ms).items()):
            table, lines = encode(kind, cols, self.cfg.seed)
            wire = inject(kind, table, lines, self.fault_rng, self.cfg.faults, self._newest.get(kind))
            if len(cols["t_ms"]):
                self._newest[kind] = max(self._newest.get(kind, -1), int(cols["t_ms"].max()))
            for k, v in wire.records.items():
                self.faults[k].extend(v)
            out.append(KindBatch(kind, table, wire))
        return out

    def marked(self, upto_ms: int) -> None:
        """The sink told every partition that the stream is complete before ``upto_ms`` (a watermark record,
        :mod:`events.watermark`): later wire faults count their disorder from there, as the job's watermark
        does, not from an older newest event of a rare kind (which the mark would make late)."""
        for kind, newest in self._newest.items():
            self._newest[kind] = max(newest, upto_ms - 1)
