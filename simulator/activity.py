"""Everyday behaviour, one vectorised tick: browsing sessions, purchases, GPS pings and store visits.

Engaged, satisfied customers browse and buy more, in their local daytime; customers in a crisis visit help
pages; customers who intend to leave visit the cancellation page. App users send GPS pings near home and,
on store visits, 2-4 pings inside the store's geofence (an engaged visitor often buys the usual order).
"""

from __future__ import annotations

import numpy as np

from features.stores import Geofences
from simulator.config import SimConfig
from simulator.emit import EventBuffer
from simulator.population import HOUR_MS, IA, State
from simulator.wire import CURRENCIES, ITEMS

PAGES = ("home", "product", "search", "cart", "checkout", "account", "help", "cancel")
PG = {p: i for i, p in enumerate(PAGES)}
#: Page mix after the first page, for calm customers and for customers in a crisis.
CALM_P = np.array([0.10, 0.40, 0.20, 0.12, 0.05, 0.08, 0.05, 0.0])
CRISIS_P = np.array([0.10, 0.15, 0.10, 0.05, 0.02, 0.13, 0.45, 0.0])
_CURRENCY_OF_TZ = {"Europe/London": "GBP", "America/New_York": "USD", "America/Mexico_City": "MXN"}
USUAL = ITEMS.index("usual_order")


def currency_codes(st: State) -> np.ndarray:
    """Currency code (index into CURRENCIES) per time zone index."""
    return np.array([CURRENCIES.index(_CURRENCY_OF_TZ.get(tz, "EUR")) for tz in st.timezones], dtype=np.int8)


def _sessions(
    st: State,
    rng: np.random.Generator,
    buf: EventBuffer,
    cust: IA,
    t_start: IA,
    first_page: int | None,
    page_p: np.ndarray | None,
    extra_pages: np.ndarray,
) -> IA:
    """Emit the page views of sessions (one per entry of ``cust``); returns the session end times."""
    n = len(cust)
    sid = st.sessions[cust] + cust * 100_000
    np.add.at(st.sessions, cust, 1)
    npages = 1 + extra_pages
    rows = np.repeat(np.arange(n), npages)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(npages) - npages, npages)
    gap = rng.integers(15_000, 120_000, size=len(rows))
    t = t_start[rows] + within * gap
    if page_p is None:
        pages = np.full(len(rows), first_page, dtype=np.int8)
    else:
        pages = rng.choice(len(PAGES), size=len(rows), p=page_p).astype(np.int8)
        pages[within == 0] = np.where(rng.random(int((within == 0).sum())) < 0.6, PG["home"], PG["search"])
    device = np.where(st.app_user[cust], 1 + (cust % 2), 0).astype(np.int8)[rows]
    buf.add("clickstream", cust[rows], t, page=pages, session_id=sid[rows], device=device)
    end: IA = t_start + npages * 60_000
    return end


def step_activity(
    st: State,
    cfg: SimConfig,
    rng: np.random.Generator,
    buf: EventBuffer,
    geo: Geofences,
    t0: int,
    dt: int,
    w: np.ndarray,
    orders_seq: list[int],
    cur: np.ndarray,
) -> None:
    """One tick of browsing, purchases and location."""
    r = cfg.rates
    dt_h = dt / HOUR_MS
    act = st.active
    rate = (r.sessions_floor + r.sessions_engaged * st.engagement * st.satisfaction) * w * dt_h
    rate = np.where(act, rate, 0.0)
    k = rng.poisson(rate)
    cust = np.repeat(np.arange(st.n), k)
    if len(cust):
        t_start = t0 + rng.integers(0, dt, size=len(cust))
        crisis = st.crisis[cust]
        extra = rng.poisson(r.pages_per_session, size=len(cust))
        ends = np.empty(len(cust), dtype=np.int64)
        for mask, p in ((~crisis, CALM_P), (crisis, CRISIS_P)):
            if mask.any():
                ends[mask] = _sessions(st, rng, buf, cust[mask], t_start[mask], None, p, extra[mask])
        buys = (~crisis) & (rng.random(len(cust)) < r.purchase_per_session * st.engagement[cust])
        _purchases(st, rng, buf, cust[buys], ends[buys], orders_seq, cur, None)
    # cancellation-page visits of customers who intend to leave
    intent = np.flatnonzero(act & (st.intent_ms >= 0))
    nvis = rng.poisson(r.cancel_page_visits * dt_h, size=len(intent))
    vis = np.repeat(intent, nvis)
    if len(vis):
        _sessions(
            st,
            rng,
            buf,
            vis,
            t0 + rng.integers(0, dt, size=len(vis)),
            PG["cancel"],
            None,
            rng.integers(0, 2, size=len(vis)),
        )
    # GPS near home
    app = np.flatnonzero(act & st.app_user)
    npings = rng.poisson(r.gps_pings * w[app] * dt_h)
    g = np.repeat(app, npings)
    if len(g):
        d = rng.normal(0, 250.0, size=(2, len(g)))
        buf.add(
            "gps",
            g,
            t0 + rng.integers(0, dt, size=len(g)),
            lat=np.round(st.home_lat[g] + d[0] / 111_195.0, 6),
            lon=np.round(st.home_lon[g] + d[1] / (111_195.0 * np.cos(np.radians(st.home_lat[g]))), 6),
            accuracy_m=np.round(rng.uniform(5, 60, size=len(g)), 1),
        )
    # store visits: 2-4 pings inside the geofence
    visitors = app[rng.random(len(app)) < r.store_visits * w[app] * dt_h]
    if len(visitors):
        store = np.where(
            rng.random(len(visitors)) < 0.8,
            st.home_store[visitors],
            rng.integers(0, len(geo.ids), size=len(visitors)),
        )
        n_p = rng.integers(2, 5, size=len(visitors))
        rows = np.repeat(np.arange(len(visitors)), n_p)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(n_p) - n_p, n_p)
        t_in = t0 + rng.integers(0, dt, size=len(visitors))
        rad = geo.radius_m[store[rows]] * 0.5 * np.sqrt(rng.random(len(rows)))
        ang = rng.uniform(0, 2 * np.pi, size=len(rows))
        slat = geo.lat[store[rows]]
        buf.add(
            "gps",
            visitors[rows],
            t_in[rows] + within * rng.integers(120_000, 480_000, size=len(rows)),
            lat=np.round(slat + rad * np.cos(ang) / 111_195.0, 6),
            lon=np.round(
                geo.lon[store[rows]] + rad * np.sin(ang) / (111_195.0 * np.cos(np.radians(slat))), 6
            ),
            accuracy_m=np.round(rng.uniform(3, 15, size=len(rows)), 1),
        )
        buyer = rng.random(len(visitors)) < 0.6 * st.engagement[visitors]
        _purchases(st, rng, buf, visitors[buyer], t_in[buyer] + 300_000, orders_seq, cur, USUAL)


def _purchases(
    st: State,
    rng: np.random.Generator,
    buf: EventBuffer,
    cust: IA,
    t: IA,
    orders_seq: list[int],
    cur: np.ndarray,
    item: int | None,
) -> None:
    n = len(cust)
    if n == 0:
        return
    ids = np.arange(orders_seq[0], orders_seq[0] + n)
    orders_seq[0] += n
    items = (
        np.full(n, item, dtype=np.int8)
        if item is not None
        else rng.integers(0, len(ITEMS), n).astype(np.int8)
    )
    buf.add(
        "purchase",
        cust,
        t,
        order_id=ids,
        amount=np.round(rng.lognormal(3.2, 0.8, size=n) + 0.5, 2),
        currency=cur[st.tz_idx[cust]],
        item=items,
    )
