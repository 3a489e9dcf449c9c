"""The batch oracle (features/oracle.py) on hand-made logs with hand-computed expectations, plus a brute-force
cross-check of the vectorised implementation on random logs."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from events.timefmt import ms_to_rfc3339
from features.names import ACTION_KINDS, CHANNELS, GROUPS
from features.oracle import compare, compute_features, feature_columns, latest_per_customer

T0 = 1_795_478_400_000  # 2026-11-24T00:00:00.000Z
S, MIN, H, D = 1_000, 60_000, 3_600_000, 86_400_000
SHOP = {"lat": 40.4169, "lon": -3.7035, "radius_m": 80.0}

_FIELDS: dict[str, dict[str, Any]] = {
    "clickstream": {"page": "home", "session_id": "s1", "device": "web"},
    "call": {"call_id": "k1", "direction": "inbound", "reason": "billing", "wait_s": 10.0, "talk_s": 60.0,
             "resolved": True, "sentiment": 0.0},
    "complaint": {"complaint_id": "q1", "status": "opened", "category": "billing", "problem_id": "p1",
                  "eta_given": False, "eta": None},
    "gps": {"lat": 0.0, "lon": 0.0, "accuracy_m": 5.0},
    "purchase": {"order_id": "o1", "amount": 1.0, "currency": "EUR", "item": "x"},
    "response": {"decision_id": "d1", "action_id": "a1", "action_kind": "service", "channel": "email",
                 "response": "delivered"},
    "consent": {"channel": "email", "granted": True},
    "profile": {"timezone": "Europe/Madrid", "preferred_channel": "sms", "home_lat": 40.0, "home_lon": -3.0,
                "signup_time": "2026-01-01T00:00:00.000Z"},
    "outcome": {"outcome": "renewed"},
}


def ev(kind: str, n: int, t: int, cust: str = "c1", **fields: Any) -> dict[str, Any]:
    """One valid event: id e<n>, event time T0 + t ms."""
    return {"event_id": f"e{n:07d}", "customer_id": cust, "kind": kind, "schema_version": 1,
            "event_time": ms_to_rfc3339(T0 + t), **_FIELDS[kind], **fields}


def log(*events: dict[str, Any] | bytes) -> pd.DataFrame:
    """A raw log in arrival order (the given order)."""
    values = [e if isinstance(e, bytes) else orjson.dumps(e) for e in events]
    topics = ["events.x" if isinstance(e, bytes) else f"events.{e['kind']}" for e in events]
    return pd.DataFrame({"topic": topics, "value": values})


def rows(events: pd.DataFrame, group: str, **kw: Any) -> pd.DataFrame:
    res = compute_features(events, stores=kw.pop("stores", [SHOP]), **kw)
    out = res.rows[res.rows["group"] == group].reset_index(drop=True)
    out["t"] = out["event_ts_ms"] - T0
    return out


def at(frame: pd.DataFrame, t: int, cust: str = "c1") -> pd.Series:
    hit = frame[(frame["t"] == t) & (frame["customer_id"] == cust)]
    assert len(hit) == 1, f"expected one row at t={t}, got {len(hit)}"
    return hit.iloc[0]


def test_clickstream_windows_are_closed_and_include_peers() -> None:
    r = rows(log(
        ev("clickstream", 1, 0),
        ev("clickstream", 2, H, page="cancel"),
        ev("clickstream", 3, H + 1, page="help"),
        ev("clickstream", 4, H + 1),  # peer of e3: same customer and event time
        ev("clickstream", 5, 7 * D + H, page="cancel"),
    ), "clickstream")
    assert list(r["t"]) == [0, H, H + 1, 7 * D + H]  # one row per event time, peers merged
    # t = 1h: [0, 1h] holds e1 (exactly 1 h before, included) and e2
    assert at(r, H)["clicks_1h"] == 2
    # t = 1h+1ms: [1ms, 1h+1ms] drops e1, holds e2, e3, e4 (both peers)
    assert (at(r, H + 1)["clicks_1h"], at(r, H + 1)["clicks_24h"]) == (3, 4)
    # t = 7d+1h: 7 d window [1h, 7d+1h] holds e2, e3, e4, e5 (e2 exactly 7 d before); 1 h window only e5
    last = at(r, 7 * D + H)
    assert (last["clicks_1h"], last["clicks_24h"], last["clicks_7d"]) == (1, 1, 4)
    assert (last["cancel_page_visits_7d"], last["help_page_visits_7d"]) == (2, 1)


def test_call_repeat_calls_mean_wait_and_last_of_the_event() -> None:
    r = rows(log(
        ev("call", 1, 0, reason="billing", wait_s=30.0, sentiment=-0.5),
        ev("call", 2, H, reason="billing", direction="outbound", wait_s=999.0, sentiment=0.1),
        ev("call", 3, 2 * H, reason="retention", wait_s=60.0, sentiment=0.4),
        ev("call", 4, 2 * H, reason="other", wait_s=0.0, sentiment=0.9),  # peer with a larger event_id
        ev("call", 5, 8 * D, reason="billing", wait_s=15.0, sentiment=-1.0),
    ), "call")
    two_h = at(r, 2 * H)
    # 4 calls in 7 d, 3 distinct reasons (billing, retention, other) -> 1 repeat
    assert (two_h["calls_24h"], two_h["calls_7d"], two_h["repeat_calls_7d"]) == (4, 4, 1)
    # inbound waits only: (30 + 60 + 0) / 3 = 30.0 (the outbound 999 is ignored)
    assert two_h["mean_wait_s_7d"] == pytest.approx(30.0)
    # "of the event itself": the peer with the larger event_id (e4)
    assert (two_h["last_call_sentiment"], two_h["last_call_reason"]) == (0.9, "other")
    first = at(r, 0)
    assert (first["repeat_calls_7d"], first["mean_wait_s_7d"]) == (0, 30.0)
    assert first["last_call_reason"] == "billing"
    # t = 8 d: window [1 d, 8 d] holds only e5
    late = at(r, 8 * D)
    assert (late["calls_7d"], late["repeat_calls_7d"], late["mean_wait_s_7d"]) == (1, 0, 15.0)


def test_call_mean_wait_is_zero_without_inbound_calls() -> None:
    r = rows(log(ev("call", 1, 0, direction="outbound", wait_s=40.0)), "call")
    assert at(r, 0)["mean_wait_s_7d"] == 0.0


def test_complaint_lifecycle_out_of_order_arrival() -> None:
    # q1: opened at 0, updated with ETA at 19 s, resolved at 20 s; the resolved event ARRIVES before the update
    # (1 s behind the max seen when the update arrives: on time with the 2 s delay).
    events = log(
        ev("complaint", 1, 0, complaint_id="q1", problem_id="p1"),
        ev("complaint", 3, 20 * S, complaint_id="q1", status="resolved", problem_id="p1"),
        ev("complaint", 2, 19 * S, complaint_id="q1", status="updated", eta_given=True, problem_id="p1"),
    )
    res = compute_features(events, stores=[])
    assert res.late == 0
    r = res.rows[res.rows["group"] == "complaint"].assign(t=lambda f: f["event_ts_ms"] - T0)
    opened, updated, resolved = at(r, 0), at(r, 19 * S), at(r, 20 * S)
    # as of 0: open, no ETA yet, crisis since its opened time
    assert (opened["open_complaints"], opened["eta_given"], opened["crisis_since_ms"]) == (1, False, T0)
    # as of 19 s (the update): resolved (20 s) is in the future of that row -> still open, now with an ETA
    assert (updated["open_complaints"], updated["eta_given"], updated["crisis_since_ms"]) == (1, True, T0)
    # as of 20 s: resolved -> none open, eta_given true when none open, crisis 0
    assert (resolved["open_complaints"], resolved["eta_given"], resolved["crisis_since_ms"]) == (0, True, 0)
    assert (resolved["complaints_7d"], resolved["complaints_30d"]) == (1, 1)


def test_complaint_counts_recurrences_and_crisis_without_opened_event() -> None:
    r = rows(log(
        ev("complaint", 1, 0, complaint_id="q1", problem_id="p1"),
        ev("complaint", 2, D, complaint_id="q2", problem_id="p1"),
        ev("complaint", 3, 2 * D, complaint_id="q3", problem_id="p2", status="updated"),  # opened never seen
        ev("complaint", 4, 30 * D, complaint_id="q4", problem_id="p1"),
        ev("complaint", 5, 31 * D, complaint_id="q1", problem_id="p1", status="resolved"),
    ), "complaint")
    # t = 2 d: opened events 0 and 1 d -> 2 in 7 d; the current event's problem p2 has no opened event
    two = at(r, 2 * D)
    assert (two["complaints_7d"], two["problem_recurrences_30d"], two["open_complaints"]) == (2, 0, 3)
    assert (two["eta_given"], two["crisis_since_ms"]) == (False, T0)
    # t = 30 d: 30 d window [0, 30 d] holds q1 (exactly 30 d before), q2, q4 opened -> 3, all with problem p1
    m = at(r, 30 * D)
    assert (m["complaints_7d"], m["complaints_30d"], m["problem_recurrences_30d"]) == (1, 3, 3)
    # t = 31 d: q1 resolved; open: q2 (opened 1 d), q3 (only updated at 2 d), q4 -> crisis since 1 d
    last = at(r, 31 * D)
    assert (last["open_complaints"], last["crisis_since_ms"]) == (3, T0 + D)
    # window [1 d, 31 d]: q2 and q4 opened with p1 (q1's opened at 0 left the window)
    assert (last["complaints_30d"], last["problem_recurrences_30d"]) == (2, 2)
    # q3 alone (after q1, q2, q4 are gone) would date the crisis from its update: checked in the next test


def test_crisis_dates_from_the_update_until_the_opened_event_is_seen() -> None:
    r = rows(log(
        ev("complaint", 1, H, complaint_id="q9", status="updated", problem_id="p9"),
        ev("complaint", 2, 2 * H, complaint_id="q9", status="opened", problem_id="p9"),
    ), "complaint")
    assert at(r, H)["crisis_since_ms"] == T0 + H  # opened not seen yet: its earliest event
    assert at(r, 2 * H)["crisis_since_ms"] == T0 + 2 * H  # then the opened event's time


def test_gps_geofence_in_and_out() -> None:
    # 1 degree of latitude = 111195 m (R = 6371008.8 m) -> 0.0007 deg = 77.8 m (in), 0.00075 = 83.4 m (out)
    r = rows(log(
        ev("gps", 1, 0, lat=SHOP["lat"] + 0.0007, lon=SHOP["lon"]),
        ev("gps", 3, 0, cust="c2", lat=0.0, lon=0.0),
        ev("gps", 2, H, lat=SHOP["lat"] + 0.00075, lon=SHOP["lon"]),
    ), "gps")
    assert at(r, 0)["last_store_visit_ms"] == T0  # inside
    assert at(r, H)["last_store_visit_ms"] == T0  # outside: keeps the last visit
    assert at(r, 0, cust="c2")["last_store_visit_ms"] == 0  # never inside


def test_gps_uses_the_configured_stores_by_default() -> None:
    from features.stores import load_stores

    s = load_stores()[0]
    res = compute_features(log(ev("gps", 1, 0, lat=s.lat, lon=s.lon)))
    assert res.rows["last_store_visit_ms"].tolist() == [T0]


def test_purchase_spend_over_30_days() -> None:
    r = rows(log(
        ev("purchase", 1, 0, amount=10.0),
        ev("purchase", 2, 30 * D, amount=2.5),
        ev("purchase", 3, 30 * D + 1, amount=4.0),
    ), "purchase")
    # t = 30 d: [0, 30 d] -> 10 + 2.5; t = 30 d + 1 ms: e1 out -> 2.5 + 4
    assert (at(r, 30 * D)["spend_30d"], at(r, 30 * D)["purchases_30d"]) == (12.5, 2)
    assert (at(r, 30 * D + 1)["spend_30d"], at(r, 30 * D + 1)["purchases_30d"]) == (6.5, 2)
    assert at(r, 30 * D + 1)["last_purchase_ms"] == T0 + 30 * D + 1


def test_response_contacts_marketing_and_rejects() -> None:
    r = rows(log(
        ev("response", 1, 0, channel="sms", action_kind="marketing"),
        ev("response", 2, H, channel="email", action_kind="service"),
        ev("response", 3, 2 * H, channel="sms", action_kind="upsell", response="opened"),  # not a contact
        ev("response", 4, 3 * H, channel="push", action_kind="upsell", response="rejected"),
        ev("response", 5, 2 * D, channel="sms", action_kind="upsell", response="rejected"),
    ), "response")
    x = at(r, 3 * H)
    assert (x["contacts_24h"], x["contacts_sms_24h"], x["contacts_email_24h"]) == (2, 1, 1)
    assert x["contacts_push_24h"] == 0
    assert x["last_marketing_ms"] == T0  # the delivered marketing action; the opened upsell does not count
    assert (x["rejects_upsell_30d"], x["rejects_marketing_30d"]) == (1, 0)
    y = at(r, 2 * D)
    assert (y["contacts_24h"], y["contacts_7d"], y["contacts_sms_7d"]) == (0, 2, 1)
    assert y["rejects_upsell_30d"] == 2
    assert at(r, H)["last_marketing_ms"] == T0


def test_consent_latest_by_event_time_not_arrival() -> None:
    r = rows(log(
        ev("consent", 2, 2 * S, channel="sms", granted=False),
        ev("consent", 1, 1 * S, channel="sms", granted=True),  # arrives later, 1 s older: on time, not latest
        ev("consent", 3, 3 * S, channel="email", granted=False),
        ev("consent", 5, 3 * S, channel="push", granted=True),
        ev("consent", 4, 3 * S, channel="push", granted=False),  # tie at 3 s: larger event_id (e5) wins
    ), "consent")
    assert at(r, 1 * S)["consent_sms"]  # as of 1 s only e1 (granted)
    assert not at(r, 2 * S)["consent_sms"]
    last = at(r, 3 * S)
    assert (last["consent_sms"], last["consent_email"], last["consent_push"]) == (False, False, True)
    assert (last["consent_call"], last["consent_web"]) == (True, True)  # never given: default true


def test_profile_latest_and_signup() -> None:
    r = rows(log(
        ev("profile", 1, 0, timezone="Europe/Lisbon", signup_time="2026-01-01T00:00:01.500Z"),
        ev("profile", 2, D, timezone="Europe/Berlin", preferred_channel="push"),
    ), "profile")
    assert (at(r, 0)["timezone"], at(r, 0)["signup_ms"]) == ("Europe/Lisbon", 1_767_225_601_500)
    assert (at(r, D)["timezone"], at(r, D)["preferred_channel"]) == ("Europe/Berlin", "push")


def test_duplicates_late_and_invalid_are_dropped_and_counted() -> None:
    events = log(
        ev("purchase", 1, 10 * H, amount=1.0),
        ev("purchase", 1, 10 * H, amount=1.0),  # duplicate
        ev("purchase", 2, 10 * H - 1 * S, amount=2.0),  # 1 s out of order: on time
        ev("purchase", 3, 0, amount=100.0),  # 10 h behind: late
        b'{"kind": "purchase"',  # not JSON
        orjson.dumps({**ev("purchase", 4, 10 * H), "event_time": "2026-02-30T00:00:00.000Z"}),  # no such day
        orjson.dumps({k: v for k, v in ev("purchase", 5, 10 * H).items() if k != "amount"}),  # missing field
    )
    res = compute_features(events, stores=[])
    assert (res.invalid, res.duplicates, res.late) == (3, 1, 1)
    assert res.late_event_ids == ["e0000003"]
    assert set(res.invalid_event_ids) == {"e0000004", "e0000005"}
    assert res.invalid_reasons == {"not_json": 1, "bad_event_time": 1, "missing_field": 1}
    r = res.rows
    # only e1 and e2 count: 1 + 2
    assert r["spend_30d"].tolist() == [2.0, 3.0]
    assert r["purchases_30d"].tolist() == [1, 2]


def test_late_tolerance_and_delay() -> None:
    events = log(ev("clickstream", 1, 10 * S), ev("clickstream", 2, 7 * S))  # 3 s behind
    assert compute_features(events, watermark_delay_s=2.0).late == 1
    assert compute_features(events, watermark_delay_s=2.0, tolerance_s=1.5).late == 0
    assert compute_features(events, watermark_delay_s=3.0).late == 0  # exactly at max - delay: not below


def test_late_scope_topic_uses_the_running_max_of_the_own_topic() -> None:
    # a call 1 h behind the newest click: late globally, on time on its own topic (first call seen)
    events = log(ev("clickstream", 1, 2 * H), ev("call", 2, H), ev("call", 3, 0))
    assert compute_features(events).late_event_ids == ["e0000002", "e0000003"]
    assert compute_features(events, late_scope="topic").late_event_ids == ["e0000003"]


def test_output_shape_and_defaults_of_other_groups() -> None:
    res = compute_features(log(ev("purchase", 1, 0), ev("consent", 2, 0), ev("outcome", 3, 0)), stores=[])
    r = res.rows
    assert list(r.columns) == ["customer_id", "group", "event_ts_ms", *feature_columns()]
    assert sorted(r["group"]) == ["consent", "purchase"]  # outcome events feed no group
    purchase = r[r["group"] == "purchase"].iloc[0]
    assert all(pd.isna(purchase[c]) for c in GROUPS["consent"])
    assert (str(r["consent_email"].dtype), str(r["purchases_30d"].dtype)) == ("boolean", "Int64")


def test_parsed_columns_match_raw_messages() -> None:
    events = [ev("call", 1, 0), ev("call", 2, H, reason="other", sentiment=0.5), ev("consent", 3, H)]
    raw = compute_features(log(*events), stores=[]).rows
    parsed = compute_features(pd.DataFrame(events), stores=[]).rows
    assert len(raw) == 3
    assert compare(raw, parsed) == []


def test_compare_reports_mismatches_and_latest_per_customer() -> None:
    # (c2's event arrives before c1's later one: arriving after it, 1 h behind, it would be late)
    res = compute_features(log(ev("clickstream", 1, 0), ev("clickstream", 3, 0, "c2"),
                               ev("clickstream", 2, H)))
    latest = latest_per_customer(res.rows)
    assert list(zip(latest["customer_id"], latest["event_ts_ms"] - T0, strict=True)) == [("c1", H), ("c2", 0)]
    actual = latest.copy()
    actual.loc[0, "clicks_1h"] = 7
    problems = compare(latest, actual)
    assert problems == [f"c1 clickstream @{T0 + H}: clicks_1h expected 2, got 7"]
    assert compare(res.rows, latest, check_extra=False) == [f"missing in actual: c1 clickstream @{T0}"]


# --- brute force: the spec's definitions applied row by row, against the vectorised oracle ---------------

Ev = dict[str, Any]


def _inside(e: Ev, stores: list[dict[str, float]]) -> bool:
    from features.stores import haversine_m

    lat, lon = np.array([e["lat"]]), np.array([e["lon"]])
    return any(float(haversine_m(lat, lon, s["lat"], s["lon"])[0]) <= s["radius_m"] for s in stores)


def _brute_row(mine: list[Ev], t: int, stores: list[dict[str, float]]) -> dict[str, Any]:
    """The group's features as of t, straight from SEMANTICS.md (``mine``: the customer's events <= t)."""
    kind = mine[0]["kind"]
    cur = max((e for e in mine if e["ts"] == t), key=lambda e: e["event_id"])

    def win(w: int, pred: Any = lambda e: True) -> list[Ev]:
        return [e for e in mine if e["ts"] >= t - w and pred(e)]

    def latest(pred: Any) -> Ev | None:
        c = [e for e in mine if pred(e)]
        return max(c, key=lambda e: (e["ts"], e["event_id"])) if c else None

    def opened(e: Ev) -> bool:
        return bool(e["status"] == "opened")

    def delivered(e: Ev) -> bool:
        return bool(e["response"] == "delivered")

    row: dict[str, Any] = {}
    if kind == "clickstream":
        row = {"clicks_1h": len(win(H)), "clicks_24h": len(win(D)), "clicks_7d": len(win(7 * D)),
               "cancel_page_visits_7d": len(win(7 * D, lambda e: e["page"] == "cancel")),
               "help_page_visits_7d": len(win(7 * D, lambda e: e["page"] == "help"))}
    elif kind == "call":
        w7 = win(7 * D)
        inb = [e["wait_s"] for e in w7 if e["direction"] == "inbound"]
        row = {"calls_24h": len(win(D)), "calls_7d": len(w7),
               "repeat_calls_7d": len(w7) - len({e["reason"] for e in w7}),
               "mean_wait_s_7d": sum(inb) / len(inb) if inb else 0.0,
               "last_call_sentiment": cur["sentiment"], "last_call_reason": cur["reason"]}
    elif kind == "complaint":
        by_id: dict[str, list[Ev]] = {}
        for e in mine:
            by_id.setdefault(e["complaint_id"], []).append(e)
        # open: an opened/updated event seen and no resolved one (every event of it is opened/updated)
        open_ids = [c for c, es in by_id.items() if all(e["status"] != "resolved" for e in es)]
        starts = [min(e["ts"] for e in by_id[c] if opened(e)) if any(opened(e) for e in by_id[c])
                  else min(e["ts"] for e in by_id[c]) for c in open_ids]
        same = [e for e in win(30 * D, opened) if e["problem_id"] == cur["problem_id"]]
        row = {"complaints_7d": len(win(7 * D, opened)), "complaints_30d": len(win(30 * D, opened)),
               "problem_recurrences_30d": len(same), "open_complaints": len(open_ids),
               "eta_given": all(any(e["eta_given"] for e in by_id[c]) for c in open_ids),
               "crisis_since_ms": min(starts) if starts else 0}
    elif kind == "gps":
        row = {"last_store_visit_ms": max((e["ts"] for e in mine if _inside(e, stores)), default=0)}
    elif kind == "purchase":
        row = {"spend_30d": sum(e["amount"] for e in win(30 * D)), "purchases_30d": len(win(30 * D)),
               "last_purchase_ms": max(e["ts"] for e in mine)}
    elif kind == "response":
        mkt = [e["ts"] for e in mine if delivered(e) and e["action_kind"] in ("marketing", "upsell")]
        row = {"contacts_24h": len(win(D, delivered)), "contacts_7d": len(win(7 * D, delivered)),
               "last_marketing_ms": max(mkt, default=0)}
        for ch in CHANNELS:
            row[f"contacts_{ch}_24h"] = len([e for e in win(D, delivered) if e["channel"] == ch])
            row[f"contacts_{ch}_7d"] = len([e for e in win(7 * D, delivered) if e["channel"] == ch])
        for k in ACTION_KINDS:
            row[f"rejects_{k}_30d"] = len([e for e in win(30 * D) if e["response"] == "rejected"
                                           and e["action_kind"] == k])
    elif kind == "consent":
        for ch in CHANNELS:
            last = latest(lambda e, c=ch: e["channel"] == c)
            row[f"consent_{ch}"] = True if last is None else last["granted"]
    elif kind == "profile":
        p = latest(lambda e: True)
        if p is None:
            raise AssertionError("a profile row without a profile event")
        row = {"timezone": p["timezone"], "preferred_channel": p["preferred_channel"],
               "signup_ms": int(pd.Timestamp(p["signup_time"]).value // 1_000_000)}
    return row


def _brute(events: list[Ev], stores: list[dict[str, float]]) -> pd.DataFrame:
    evs = [{**e, "ts": int(pd.Timestamp(e["event_time"]).value // 1_000_000)} for e in events]
    out = []
    for cust, kind, t in sorted({(e["customer_id"], e["kind"], e["ts"]) for e in evs if e["kind"] in GROUPS}):
        mine = [e for e in evs if e["customer_id"] == cust and e["kind"] == kind and e["ts"] <= t]
        out.append({"customer_id": cust, "group": kind, "event_ts_ms": t, **_brute_row(mine, t, stores)})
    return pd.DataFrame(out)


def _random_events(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        kind = rng.choice([k for k in GROUPS])
        # coarse times (many peers) over ~40 days, so every window boundary is exercised
        t = rng.randrange(0, 40 * D // H) * H
        fields: dict[str, Any] = {}
        if kind == "clickstream":
            fields = {"page": rng.choice(["home", "cancel", "help"])}
        elif kind == "call":
            fields = {"direction": rng.choice(["inbound", "outbound"]),
                      "reason": rng.choice(["billing", "other", "retention"]),
                      "wait_s": round(rng.uniform(0, 100), 3), "sentiment": round(rng.uniform(-1, 1), 2)}
        elif kind == "complaint":
            fields = {"complaint_id": f"q{rng.randrange(4)}", "problem_id": f"p{rng.randrange(2)}",
                      "status": rng.choice(["opened", "updated", "resolved"]),
                      "eta_given": rng.random() < 0.3}
        elif kind == "gps":
            fields = {"lat": SHOP["lat"] + rng.choice([0.0, 0.0005, 0.01]), "lon": SHOP["lon"]}
        elif kind == "purchase":
            fields = {"amount": round(rng.uniform(1, 200), 2)}
        elif kind == "response":
            fields = {"channel": rng.choice(CHANNELS[:3]), "action_kind": rng.choice(["marketing", "upsell",
                      "service"]), "response": rng.choice(["delivered", "delivered", "rejected", "opened"])}
        elif kind == "consent":
            fields = {"channel": rng.choice(CHANNELS[:2]), "granted": rng.random() < 0.5}
        elif kind == "profile":
            fields = {"timezone": rng.choice(["UTC", "Europe/Madrid"]),
                      "signup_time": ms_to_rfc3339(T0 - rng.randrange(1000) * D)}
        events.append(ev(kind, i, t, cust=f"c{rng.randrange(3)}", **fields))
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_oracle_matches_brute_force(seed: int) -> None:
    events = _random_events(seed, 400)
    events.sort(key=lambda e: e["event_time"])  # arrival in event-time order: nothing late
    res = compute_features(log(*events), stores=[SHOP])
    assert (res.late, res.duplicates) == (0, 0)
    expected = _brute(events, [SHOP])
    assert len(expected) == len(res.rows) > 100
    problems = compare(expected, res.rows)
    assert problems == [], problems[:20]
