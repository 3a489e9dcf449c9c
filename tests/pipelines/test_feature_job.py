"""The feature job on the local mini-cluster against the real broker, with a tiny hand-made event log.

Expected values are derived by hand from features/SEMANTICS.md (comments next to each assertion).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from cxm.config import Settings
from events.watermark import watermark_record
from features.stores import load_stores
from pipelines.feature_job import compile_feature_job, run_feature_job
from pipelines.feature_sql import FEATURE_KINDS
from pipelines.flink_env import FeatureJobConfig
from tests.pipelines.feature_job_io import at, event, fresh_topics, ms, produce_raw, read_json, topic_factory

pytestmark = pytest.mark.integration

C1, C2 = "c0000001", "c0000002"


def _log(stores: list[Any]) -> list[tuple[str, dict[str, Any] | bytes]]:
    s = stores[0]
    return [
        # clickstream of C1, in arrival order
        ("clickstream", event("clickstream", "ev-click-01", C1, at(0), page="home", session_id="s1", device="web")),
        ("clickstream", event("clickstream", "ev-click-02", C1, at(30), page="cancel", session_id="s1",
                              device="web")),
        # out of order by 1 s (< watermark delay 2 s): on time
        ("clickstream", event("clickstream", "ev-click-03", C1, at(30, -1), page="help", session_id="s1",
                              device="web")),
        # duplicate of ev-click-02 (same id): dropped
        ("clickstream", event("clickstream", "ev-click-02", C1, at(30), page="cancel", session_id="s1",
                              device="web")),
        # malformed (truncated JSON): dead letter
        ("clickstream", b'{"event_id": "ev-click-bad", "customer_id": "c0000001", "kind": "click'),
        # late: 1 h behind the watermark
        ("clickstream", event("clickstream", "ev-click-04", C1, at(-60), page="home", session_id="s0",
                              device="web")),
        ("clickstream", event("clickstream", "ev-click-05", C1, at(80), page="help", session_id="s2", device="ios")),
        # missing field (no device): dead letter
        ("clickstream", {k: v for k, v in event("clickstream", "ev-click-06", C1, at(81), page="home",
                                                session_id="s2", device="ios").items() if k != "device"}),
        # a watermark record (events.watermark) moves the clickstream's event time to 200 min: neither an event
        # nor dead-lettered, but the event after it, at 100 min, is late
        ("clickstream", watermark_record(ms(200))),
        ("clickstream", event("clickstream", "ev-click-07", C1, at(100), page="home", session_id="s3",
                              device="ios")),
        # a watermark record with a bad time: dead letter
        ("clickstream", b'{"kind": "watermark", "event_time": "soon"}'),
        # complaints of C2
        ("complaint", event("complaint", "ev-cmp-01", C2, at(0), complaint_id="k1", status="opened",
                            category="billing", problem_id="p1", eta_given=False, eta=None)),
        ("complaint", event("complaint", "ev-cmp-02", C2, at(5), complaint_id="k2", status="opened",
                            category="billing", problem_id="p1", eta_given=False, eta=None)),
        ("complaint", event("complaint", "ev-cmp-03", C2, at(10), complaint_id="k1", status="updated",
                            category="billing", problem_id="p1", eta_given=True, eta=at(600))),
        ("complaint", event("complaint", "ev-cmp-04", C2, at(20), complaint_id="k1", status="resolved",
                            category="billing", problem_id="p1", eta_given=False, eta=None)),
        ("complaint", event("complaint", "ev-cmp-05", C2, at(30), complaint_id="k2", status="updated",
                            category="billing", problem_id="p1", eta_given=True, eta=at(900))),
        # calls of C1
        ("call", event("call", "ev-call-01", C1, at(0), call_id="x1", direction="inbound", reason="billing",
                       wait_s=30.0, talk_s=100.0, resolved=False, sentiment=-0.5)),
        ("call", event("call", "ev-call-02", C1, at(10), call_id="x2", direction="outbound", reason="billing",
                       wait_s=0.0, talk_s=50.0, resolved=False, sentiment=0.0)),
        ("call", event("call", "ev-call-03", C1, at(20), call_id="x3", direction="inbound", reason="other",
                       wait_s=60.0, talk_s=70.0, resolved=True, sentiment=0.25)),
        # gps of C1: inside the first store, then far away
        ("gps", event("gps", "ev-gps-01", C1, at(0), lat=s.lat, lon=s.lon, accuracy_m=5.0)),
        ("gps", event("gps", "ev-gps-02", C1, at(10), lat=0.0, lon=0.0, accuracy_m=5.0)),
        # purchases
        ("purchase", event("purchase", "ev-buy-01", C1, at(0), order_id="o1", amount=10.0, currency="EUR",
                           item="a")),
        ("purchase", event("purchase", "ev-buy-02", C1, at(1), order_id="o2", amount=5.5, currency="EUR",
                           item="b")),
        # responses
        ("response", event("response", "ev-rsp-01", C1, at(0), decision_id="d1", action_id="a1",
                           action_kind="marketing", channel="email", response="delivered")),
        ("response", event("response", "ev-rsp-02", C1, at(5), decision_id="d2", action_id="a2",
                           action_kind="upsell", channel="sms", response="rejected")),
        # consent: the second arrives later but is earlier in event time (0.5 s, on time)
        ("consent", event("consent", "ev-cns-01", C1, at(0), channel="email", granted=False)),
        ("consent", event("consent", "ev-cns-02", C1, at(0, -0.5), channel="email", granted=True)),
        ("profile", event("profile", "ev-prf-01", C1, at(0), timezone="Europe/Madrid", preferred_channel="sms",
                          home_lat=40.4, home_lon=-3.7, signup_time="2025-01-01T00:00:00.000Z")),
        ("outcome", event("outcome", "ev-out-01", C1, at(0), outcome="renewed")),
    ]


def _rows(records: list[dict[str, Any]], group: str, customer: str) -> dict[int, dict[str, Any]]:
    return {r["event_ts_ms"]: r["values"] for r in records if r["group"] == group and r["customer_id"] == customer}


@pytest.fixture(scope="module")
def job_output(kafka_bootstrap: str, settings: Settings) -> dict[str, Any]:
    stores = load_stores()
    topics = fresh_topics(topic_factory(kafka_bootstrap))
    msgs = []
    for kind, ev in _log(stores):
        value = ev if isinstance(ev, bytes) else json.dumps(ev).encode()
        msgs.append((topics.events[kind], value, C1.encode()))
    produce_raw(kafka_bootstrap, msgs)
    s = settings.model_copy(update={"flink": settings.flink.model_copy(update={"watermark_delay_s": 2})})
    job = FeatureJobConfig(restart_attempts=0, group_id="test-feature-job", watermark_emit="on-event")
    run_feature_job(s, bounded=True, job=job, topics=topics, stores=stores, wait=True)
    return {
        "changelog": read_json(kafka_bootstrap, topics.changelog),
        "dead": read_json(kafka_bootstrap, topics.dead_letter),
        "late": read_json(kafka_bootstrap, topics.late),
        "topics": topics,
    }


def test_dead_letter_and_late(job_output: dict[str, Any]) -> None:
    dead = {d["event_id"] or "": d for d in job_output["dead"]}
    # the truncated payload is not JSON: no event id can be read, the original is kept
    not_json = [d for d in job_output["dead"] if d["error_kind"] == "not_json"]
    assert len(not_json) == 1
    assert not_json[0]["original"].startswith('{"event_id": "ev-click-bad"')
    assert not_json[0]["source_topic"] == job_output["topics"].events["clickstream"]
    assert not_json[0]["offset"] == 4  # fifth message of the clickstream topic
    assert dead["ev-click-06"]["error_kind"] == "missing_field"
    assert dead["ev-click-06"]["field"] == "device"
    bad_mark = [d for d in job_output["dead"] if '"soon"' in d["original"]]
    assert [d["error_kind"] for d in bad_mark] == ["unknown_kind"]
    assert len(job_output["dead"]) == 3
    late = job_output["late"]
    assert [r["event_id"] for r in late] == ["ev-click-04", "ev-click-07"]
    assert late[0]["error_kind"] == "late"
    # the late record keeps the original payload (it crosses the de-duplication shuffle for late rows only)
    assert orjson.loads(late[0]["original"])["event_id"] == "ev-click-04"


def test_clickstream_windows_dedup_and_order(job_output: dict[str, Any]) -> None:
    rows = _rows(job_output["changelog"], "clickstream", C1)
    # on-time, de-duplicated events: 10:00 home, 10:29:59 help, 10:30 cancel, 11:20 help (late 09:00 dropped)
    assert sorted(rows) == [ms(0), ms(30, -1), ms(30), ms(80)]
    assert rows[ms(0)] == {"clicks_1h": 1, "clicks_24h": 1, "clicks_7d": 1, "cancel_page_visits_7d": 0,
                           "help_page_visits_7d": 0}
    # the out-of-order help click is counted at its own time, before the cancel click
    assert rows[ms(30, -1)]["clicks_1h"] == 2
    assert rows[ms(30, -1)]["help_page_visits_7d"] == 1
    # the duplicate of the cancel click is not counted: 3, not 4
    assert rows[ms(30)]["clicks_7d"] == 3
    assert rows[ms(30)]["cancel_page_visits_7d"] == 1
    # 1 h window at 11:20 = [10:20, 11:20]: help@10:29:59, cancel@10:30, help@11:20
    assert rows[ms(80)] == {"clicks_1h": 3, "clicks_24h": 4, "clicks_7d": 4, "cancel_page_visits_7d": 1,
                            "help_page_visits_7d": 2}


def test_complaint_lifecycle(job_output: dict[str, Any]) -> None:
    rows = _rows(job_output["changelog"], "complaint", C2)
    assert sorted(rows) == [ms(0), ms(5), ms(10), ms(20), ms(30)]
    # k1 opened: 1 open complaint without ETA, crisis since 10:00
    assert rows[ms(0)] == {"open_complaints": 1, "complaints_7d": 1, "complaints_30d": 1,
                           "problem_recurrences_30d": 1, "eta_given": False, "crisis_since_ms": ms(0)}
    # k2 opened for the same problem: 2 open, 2 openings of p1
    assert rows[ms(5)]["open_complaints"] == 2
    assert rows[ms(5)]["problem_recurrences_30d"] == 2
    # k1 got an ETA, k2 not yet: eta_given False
    assert rows[ms(10)]["eta_given"] is False
    assert rows[ms(10)]["crisis_since_ms"] == ms(0)
    # k1 resolved: only k2 open, crisis since k2's opening
    assert rows[ms(20)]["open_complaints"] == 1
    assert rows[ms(20)]["crisis_since_ms"] == ms(5)
    # k2 got an ETA: every open complaint has one
    assert rows[ms(30)] == {"open_complaints": 1, "complaints_7d": 2, "complaints_30d": 2,
                            "problem_recurrences_30d": 2, "eta_given": True, "crisis_since_ms": ms(5)}


def test_other_groups(job_output: dict[str, Any]) -> None:
    out = job_output["changelog"]
    call = _rows(out, "call", C1)[ms(20)]
    # 3 calls, 2 distinct reasons -> 1 repeat; inbound waits 30 and 60 -> 45
    assert call == {"calls_24h": 3, "calls_7d": 3, "repeat_calls_7d": 1, "mean_wait_s_7d": 45.0,
                    "last_call_sentiment": 0.25, "last_call_reason": "other"}
    gps = _rows(out, "gps", C1)
    assert (gps[ms(0)]["last_store_visit_ms"], gps[ms(10)]["last_store_visit_ms"]) == (ms(0), ms(0))
    buy = _rows(out, "purchase", C1)[ms(1)]
    assert buy == {"spend_30d": 15.5, "purchases_30d": 2, "last_purchase_ms": ms(1)}
    rsp = _rows(out, "response", C1)[ms(5)]
    assert (rsp["contacts_24h"], rsp["contacts_email_24h"], rsp["contacts_sms_24h"]) == (1, 1, 0)
    assert rsp["rejects_upsell_30d"] == 1
    assert rsp["rejects_marketing_30d"] == 0
    assert rsp["last_marketing_ms"] == ms(0)
    consent = _rows(out, "consent", C1)
    # latest by event time: at 09:59:59.5 only the grant; at 10:00 the withdrawal wins although it arrived first
    assert consent[ms(0, -0.5)]["consent_email"] is True
    assert consent[ms(0)]["consent_email"] is False
    assert consent[ms(0)]["consent_sms"] is True  # no event: default
    prof = _rows(out, "profile", C1)[ms(0)]
    assert prof == {"timezone": "Europe/Madrid", "preferred_channel": "sms", "signup_ms": 1735689600000}
    # keys are customer|group
    assert {r["group"] for r in out} == {"clickstream", "call", "complaint", "gps", "purchase", "response",
                                         "consent", "profile"}


def test_each_kind_is_deduplicated_once(settings: Settings) -> None:
    # a kind's de-duplicated rows feed its late sink and its feature group: one de-duplication (one event_id
    # state, one shuffle) for both, not one per INSERT
    _, plan_json = compile_feature_job(settings, bounded=True)
    nodes = json.loads(plan_json)["nodes"]
    dedups = [n for n in nodes if n["type"].startswith("stream-exec-deduplicate")]
    sources = [n for n in nodes if n["type"].startswith("stream-exec-table-source-scan")]
    assert len(sources) >= len(FEATURE_KINDS)
    assert len(dedups) == len(sources)

