"""The hidden state of every customer, as numpy arrays (one row per customer), and its initial draw.

>>> from simulator.config import SimConfig
>>> from features.stores import Geofences
>>> st = draw_population(SimConfig(customers=50, seed=3), Geofences.load(), np.random.default_rng(3))
>>> st.n, st.consent.shape, bool(st.active.all())
(50, (50, 6), True)
>>> bool(((st.satisfaction >= 0) & (st.satisfaction <= 1)).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from events.timefmt import to_epoch_ms
from features.names import CHANNELS, STAGES
from features.stores import Geofences
from simulator.config import SimConfig

FA = npt.NDArray[np.float64]
IA = npt.NDArray[np.int64]
BA = npt.NDArray[np.bool_]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
CH = {c: i for i, c in enumerate(CHANNELS)}
ST = {s: i for i, s in enumerate(STAGES)}
PREFERRED_P = {"email": 0.35, "sms": 0.15, "push": 0.3, "call": 0.1, "web": 0.1, "store": 0.0}
OPT_OUT_P = {"email": 0.05, "sms": 0.10, "call": 0.15}


@dataclass
class State:
    """Hidden per-customer state. Times are epoch ms, -1 = none."""

    n: int
    timezones: tuple[str, ...]
    tz_idx: IA
    home_lat: FA
    home_lon: FA
    home_store: IA
    preferred: IA
    consent: npt.NDArray[np.bool_]
    proneness: FA
    engagement: FA
    baseline_sat: FA
    satisfaction: FA
    signup_ms: IA
    app_user: BA
    renew_ms: IA
    active: BA = field(init=False)
    churn_ms: IA = field(init=False)
    intent_ms: IA = field(init=False)
    churn_at_ms: IA = field(init=False)
    crisis: BA = field(init=False)
    crisis_start_ms: IA = field(init=False)
    eta_due_ms: IA = field(init=False)
    eta_given: BA = field(init=False)
    eta_ms: IA = field(init=False)
    fix_at_ms: IA = field(init=False)
    ep_first: IA = field(init=False)
    n_complaints: IA = field(init=False)
    device_gen: IA = field(init=False)
    had_fault: BA = field(init=False)
    resolved_ms: IA = field(init=False)
    hazard_mult: FA = field(init=False)
    stage: IA = field(init=False)
    sessions: IA = field(init=False)

    def __post_init__(self) -> None:
        n = self.n
        self.active = np.ones(n, dtype=bool)
        for name in (
            "churn_ms",
            "intent_ms",
            "churn_at_ms",
            "crisis_start_ms",
            "eta_due_ms",
            "eta_ms",
            "fix_at_ms",
            "resolved_ms",
            "stage",
        ):
            setattr(self, name, np.full(n, -1, dtype=np.int64))
        self.crisis = np.zeros(n, dtype=bool)
        self.eta_given = np.zeros(n, dtype=bool)
        self.had_fault = np.zeros(n, dtype=bool)
        self.ep_first = np.zeros(n, dtype=np.int64)
        self.n_complaints = np.zeros(n, dtype=np.int64)
        self.device_gen = np.zeros(n, dtype=np.int64)
        self.sessions = np.zeros(n, dtype=np.int64)
        self.hazard_mult = np.ones(n, dtype=np.float64)

    def problem_number(self, idx: IA) -> IA:
        """The id number of each customer's current device problem (recurs until the device is replaced)."""
        out: IA = idx * 100 + self.device_gen[idx] % 100
        return out

    def complaint_number(self, idx: IA, k: IA) -> IA:
        """The id number of the k-th complaint of a customer."""
        out: IA = idx * 1000 + k % 1000
        return out


def draw_population(cfg: SimConfig, geo: Geofences, rng: np.random.Generator) -> State:
    """Draw the initial customers: homes 0.3-4 km from a store, that store's time zone, and traits."""
    n = cfg.customers
    start = to_epoch_ms(cfg.start)
    tzs = tuple(sorted(set(geo.timezones)))
    store = rng.integers(0, len(geo.ids), size=n)
    dist = rng.uniform(300, 4000, size=n)
    bearing = rng.uniform(0, 2 * np.pi, size=n)
    lat = geo.lat[store] + dist * np.cos(bearing) / 111_195.0
    lon = geo.lon[store] + dist * np.sin(bearing) / (111_195.0 * np.cos(np.radians(geo.lat[store])))
    tz_of_store = np.array([tzs.index(t) for t in geo.timezones])
    pref_p = np.array([PREFERRED_P[c] for c in CHANNELS])
    consent = np.ones((n, len(CHANNELS)), dtype=bool)
    for ch, p in OPT_OUT_P.items():
        consent[:, CH[ch]] = rng.random(n) >= p
    preferred = rng.choice(len(CHANNELS), size=n, p=pref_p / pref_p.sum())
    preferred = np.where(consent[np.arange(n), preferred], preferred, CH["push"])
    new = rng.random(n) < 0.08
    age_days = np.where(new, rng.uniform(0, 10, size=n), rng.uniform(30, 1000, size=n))
    signup = start - (age_days * DAY_MS).astype(np.int64)
    period = cfg.rates.renewal_period_days * DAY_MS
    renew = start + (period - (start - signup) % period)
    baseline = rng.beta(6, 2.5, size=n)
    return State(
        n=n,
        timezones=tzs,
        tz_idx=tz_of_store[store],
        home_lat=np.round(lat, 6),
        home_lon=np.round(lon, 6),
        home_store=store.astype(np.int64),
        preferred=preferred.astype(np.int64),
        consent=consent,
        proneness=rng.beta(1.5, 8, size=n),
        engagement=rng.beta(2, 2, size=n),
        baseline_sat=baseline,
        satisfaction=baseline.copy(),
        signup_ms=signup,
        app_user=rng.random(n) < cfg.rates.gps_app_share,
        renew_ms=renew,
    )
