"""The recurring terminal fault and the road to churn, one vectorised tick at a time.

Fault onset (rate x problem proneness, higher once the device has failed) -> complaint opened, calls;
recurrences (new complaints with the same ``problem_id``) and repeat calls while the crisis lasts; an ETA
given after a delay (complaint ``updated``); the fix around the ETA (complaint ``resolved``, a follow-up
call). Satisfaction drifts down in a crisis and recovers after; the churn hazard rises with days in crisis
and low satisfaction; a churn intent is followed by cancellation-page visits and, a day or two later, the
``churned`` outcome. Customers without intent renew every period (``renewed``).
"""

from __future__ import annotations

import numpy as np

from simulator.config import SimConfig
from simulator.emit import EventBuffer
from simulator.population import DAY_MS, HOUR_MS, IA, State

CALL_REASONS = (
    "terminal_connection",
    "billing",
    "product_question",
    "cancellation",
    "retention",
    "service_followup",
    "other",
)
R = {r: i for i, r in enumerate(CALL_REASONS)}
COMPLAINT_STATUS = {"opened": 0, "updated": 1, "resolved": 2}
CAT_TERMINAL = 0


def _at(rng: np.random.Generator, n: int, t0: int, dt: int) -> IA:
    out: IA = t0 + rng.integers(0, dt, size=n)
    return out


def hazard(st: State, cfg: SimConfig, t_ms: int) -> np.ndarray:
    """Churn hazard per hour of every customer."""
    r = cfg.rates
    days = np.where(st.crisis, (t_ms - st.crisis_start_ms) / DAY_MS, 0.0)
    return (
        r.churn_hazard
        * np.exp(r.hazard_satisfaction_k * (0.7 - st.satisfaction))
        * (1.0 + r.hazard_crisis_per_day * days)
        * st.hazard_mult
    )


def emit_calls(
    buf: EventBuffer,
    rng: np.random.Generator,
    st: State,
    cust: IA,
    t: IA,
    reason: int,
    direction: int,
    resolved_p: float,
    calls_seq: list[int],
) -> None:
    """Calls of the given customers (sentiment follows satisfaction)."""
    n = len(cust)
    if n == 0:
        return
    wait = np.where(direction == 0, np.round(rng.exponential(90.0, size=n) + 5, 1), 0.0)
    resolved = rng.random(n) < resolved_p
    sent = np.clip(np.round(2 * st.satisfaction[cust] - 1.2 + rng.normal(0, 0.2, size=n), 3), -1, 1)
    ids = np.arange(calls_seq[0], calls_seq[0] + n)
    calls_seq[0] += n
    buf.add(
        "call",
        cust,
        t,
        call_id=ids,
        direction=np.full(n, direction, dtype=np.int8),
        reason=np.full(n, reason, dtype=np.int8),
        wait_s=wait,
        talk_s=np.round(rng.exponential(300.0, size=n) + 20, 1),
        resolved=resolved,
        sentiment=sent,
    )
    if direction == 0:
        st.satisfaction[cust[~resolved]] -= 0.01


def _complaints(buf: EventBuffer, st: State, cust: IA, k: IA, t: IA, status: int) -> None:
    n = len(cust)
    buf.add(
        "complaint",
        cust,
        t,
        complaint_id=st.complaint_number(cust, k),
        status=np.full(n, status, dtype=np.int8),
        category=np.full(n, CAT_TERMINAL, dtype=np.int8),
        problem_id=st.problem_number(cust),
        eta_given=st.eta_given[cust].copy(),
        eta=np.where(st.eta_given[cust], st.eta_ms[cust], -1),
    )


def _episode_rows(st: State, cust: IA) -> tuple[IA, IA]:
    """(customer, complaint k) for every complaint of the customers' current episode."""
    counts = st.n_complaints[cust] - st.ep_first[cust]
    rep = np.repeat(cust, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.repeat(st.ep_first[cust], counts) + (np.arange(len(rep)) - starts)
    return rep, k


def step_crisis(
    st: State,
    cfg: SimConfig,
    rng: np.random.Generator,
    buf: EventBuffer,
    t0: int,
    dt: int,
    w: np.ndarray,
    calls_seq: list[int],
) -> None:
    """One tick of faults, complaints, calls, satisfaction, hazard, intents, churn and renewals."""
    r = cfg.rates
    dt_h = dt / HOUR_MS
    t1 = t0 + dt
    act = st.active
    # onset
    p_on = r.fault_onset * st.proneness * np.where(st.had_fault, r.fault_relapse_factor, 1.0) * dt_h
    onset = np.flatnonzero(act & ~st.crisis & (rng.random(st.n) < p_on))
    if len(onset):
        t = _at(rng, len(onset), t0, dt)
        st.crisis[onset] = True
        st.had_fault[onset] = True
        st.crisis_start_ms[onset] = t
        st.eta_due_ms[onset] = t + (rng.exponential(r.eta_delay_h, size=len(onset)) * HOUR_MS).astype(
            np.int64
        )
        st.eta_given[onset] = False
        st.eta_ms[onset] = -1
        st.fix_at_ms[onset] = -1
        st.ep_first[onset] = st.n_complaints[onset]
        _complaints(buf, st, onset, st.n_complaints[onset], t, COMPLAINT_STATUS["opened"])
        st.n_complaints[onset] += 1
        caller = rng.random(len(onset)) < 0.7
        emit_calls(
            buf,
            rng,
            st,
            onset[caller],
            t[caller] + rng.integers(60_000, 3_600_000, int(caller.sum())),
            R["terminal_connection"],
            0,
            0.05,
            calls_seq,
        )
    ongoing = act & st.crisis
    ongoing[onset] = False
    idx = np.flatnonzero(ongoing)
    # recurrences: new complaints about the same problem, and repeat calls
    rec = idx[rng.random(len(idx)) < r.recurrence * dt_h]
    if len(rec):
        _complaints(
            buf, st, rec, st.n_complaints[rec], _at(rng, len(rec), t0, dt), COMPLAINT_STATUS["opened"]
        )
        st.n_complaints[rec] += 1
    ncall = rng.poisson(r.crisis_calls * dt_h * (0.3 + w[idx]))
    callers = np.repeat(idx, ncall)
    emit_calls(
        buf, rng, st, callers, _at(rng, len(callers), t0, dt), R["terminal_connection"], 0, 0.05, calls_seq
    )
    other = np.flatnonzero(act & (rng.random(st.n) < r.other_calls * dt_h * (0.3 + w)))
    emit_calls(buf, rng, st, other, _at(rng, len(other), t0, dt), R["billing"], 0, 0.7, calls_seq)
    # ETA given
    give = np.flatnonzero(ongoing & ~st.eta_given & (st.eta_due_ms < t1))
    if len(give):
        st.eta_given[give] = True
        told = np.maximum(st.eta_due_ms[give], t0)
        st.eta_ms[give] = told + (rng.exponential(r.fix_after_eta_h, size=len(give)) * HOUR_MS).astype(
            np.int64
        )
        st.fix_at_ms[give] = np.maximum(
            st.eta_ms[give] + (rng.normal(0, 6, size=len(give)) * HOUR_MS).astype(np.int64), told + HOUR_MS
        )
        rows, k = _episode_rows(st, give)
        _complaints(
            buf,
            st,
            rows,
            k,
            np.repeat(told, st.n_complaints[give] - st.ep_first[give]),
            COMPLAINT_STATUS["updated"],
        )
    # fix
    fixed = np.flatnonzero(ongoing & st.eta_given & (st.fix_at_ms >= 0) & (st.fix_at_ms < t1))
    if len(fixed):
        tf = np.maximum(st.fix_at_ms[fixed], t0)
        rows, k = _episode_rows(st, fixed)
        _complaints(
            buf,
            st,
            rows,
            k,
            np.repeat(tf, st.n_complaints[fixed] - st.ep_first[fixed]),
            COMPLAINT_STATUS["resolved"],
        )
        st.crisis[fixed] = False
        st.resolved_ms[fixed] = tf
        st.ep_first[fixed] = st.n_complaints[fixed]
        follow = rng.random(len(fixed)) < 0.5
        emit_calls(
            buf, rng, st, fixed[follow], tf[follow] + 600_000, R["service_followup"], 1, 0.9, calls_seq
        )
    # satisfaction and hazard multipliers
    st.satisfaction += np.where(
        st.crisis,
        r.satisfaction_crisis_drift * dt_h,
        r.satisfaction_recovery * dt_h * (st.baseline_sat - st.satisfaction),
    )
    np.clip(st.satisfaction, 0.0, 1.0, out=st.satisfaction)
    st.hazard_mult = 1.0 + (st.hazard_mult - 1.0) * 0.5 ** (dt_h / 24.0 / cfg.effects.mult_half_life_days)
    # churn intent, cancellation-page visits, churn
    h = hazard(st, cfg, t0)
    new_intent = np.flatnonzero(act & (st.intent_ms < 0) & (rng.random(st.n) < h * dt_h))
    if len(new_intent):
        ti = _at(rng, len(new_intent), t0, dt)
        st.intent_ms[new_intent] = ti
        lo, hi = r.churn_delay_h
        st.churn_at_ms[new_intent] = ti + (rng.uniform(lo, hi, size=len(new_intent)) * HOUR_MS).astype(
            np.int64
        )
    churn = np.flatnonzero(act & (st.intent_ms >= 0) & (st.churn_at_ms < t1))
    if len(churn):
        tc = np.maximum(st.churn_at_ms[churn], t0)
        calls = rng.random(len(churn)) < 0.5
        emit_calls(buf, rng, st, churn[calls], tc[calls] - 60_000, R["cancellation"], 0, 1.0, calls_seq)
        buf.add("outcome", churn, tc, outcome=np.zeros(len(churn), dtype=np.int8))
        st.active[churn] = False
        st.churn_ms[churn] = tc
    renew = np.flatnonzero(st.active & (st.intent_ms < 0) & (st.renew_ms < t1))
    if len(renew):
        buf.add(
            "outcome", renew, np.maximum(st.renew_ms[renew], t0), outcome=np.ones(len(renew), dtype=np.int8)
        )
        st.renew_ms[renew] += cfg.rates.renewal_period_days * DAY_MS
