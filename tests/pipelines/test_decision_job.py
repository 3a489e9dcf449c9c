"""The decision job on the local mini-cluster: changelog rows in, decisions on the merged context out (one per row
with ``coalesce_ms = 0``; at most one per customer and coalescing interval otherwise)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cxm.config import Settings
from tests.pipelines.kafka_io import consume_all, produce_json

pytestmark = pytest.mark.integration

DAY = 86_400_000
T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z


def _row(customer: str, group: str, ts: int, **values: object) -> dict[str, object]:
    return {"customer_id": customer, "group": group, "event_ts_ms": ts, "values": values}


def test_decision_job_merges_groups_and_applies_policies(
    settings: Settings, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    from pipelines.decision_job import run

    src, dst = new_topic("features.changelog", partitions=2), new_topic("decisions", partitions=2)
    s = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(update={"features": src, "decisions": dst}),
            "decisions": settings.decisions.model_copy(update={"coalesce_ms": 0}),  # one decision per row
        }
    )
    rows = [
        # c1: a crisis for five days (complaint group) and then a click: the merged context still holds the crisis,
        # so both decisions are the mandatory free service and marketing never wins.
        _row(
            "c1",
            "profile",
            T0 - 400 * DAY,
            timezone="Europe/Paris",
            preferred_channel="email",
            signup_ms=T0 - 400 * DAY,
        ),
        _row(
            "c1",
            "complaint",
            T0,
            open_complaints=1,
            complaints_7d=1,
            complaints_30d=2,
            problem_recurrences_30d=2,
            eta_given=False,
            crisis_since_ms=T0 - 5 * DAY,
        ),
        _row("c1", "clickstream", T0 + 1000, clicks_1h=3, clicks_24h=3, clicks_7d=9),
        # c2: no complaint at all.
        _row("c2", "clickstream", T0, clicks_1h=1, clicks_24h=5, clicks_7d=20),
    ]
    produce_json(kafka_bootstrap, src, rows)
    run(s, bounded=True, wait=True)
    out = [json.loads(v) for v in consume_all(kafka_bootstrap, dst, expected=len(rows))]
    assert len(out) == len(rows)
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for rec in out:
        by_customer.setdefault(str(rec["customer_id"]), []).append(rec)
    c1 = sorted(by_customer["c1"], key=lambda r: str(r["decided_at"]))
    assert [r["trigger"] for r in c1] == ["profile", "complaint", "clickstream"]
    # after the complaint, the context keeps the crisis even when the trigger is a click
    for rec in c1[1:]:
        assert rec["action_id"] == "svc_free_service", rec
        assert rec["mandatory"] is True
    assert c1[2]["decided_at"] == "2026-11-18T11:06:41.000Z"
    blocked = {a: g["policy"] for g in c1[2]["candidates"]["blocked"] for a in g["actions"]}
    marketing = [a for a in blocked if a.startswith(("mc_", "mb_", "sales_"))]
    assert marketing, "marketing must be blocked for a customer in crisis"
    assert {blocked[a] for a in marketing} == {"crisis_no_marketing"}, blocked
    assert len({r["decision_id"] for r in out}) == len(out)
    (c2,) = by_customer["c2"]
    assert c2["action_id"] != "svc_free_service"


def test_decision_job_coalesces_per_customer_on_the_latest_context(
    settings: Settings, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    """A burst of rows per customer (read within one coalescing interval) yields few decisions, each on the
    customer's latest full context, and together they cover every changelog row exactly once."""
    from pipelines.decision_job import run

    src, dst = new_topic("features.changelog", partitions=2), new_topic("decisions", partitions=2)
    s = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(update={"features": src, "decisions": dst}),
            "decisions": settings.decisions.model_copy(update={"coalesce_ms": 2000}),
        }
    )
    customers = [f"k{i:03d}" for i in range(50)]
    rows = [
        _row(c, "complaint", T0, open_complaints=1, complaints_7d=1, eta_given=False, crisis_since_ms=T0 - 5 * DAY)
        for c in customers[:10]
    ]
    for k in range(20):  # 20 clicks per customer: the newest has the highest count and the latest time
        rows += [_row(c, "clickstream", T0 + 1000 * (k + 1), clicks_1h=k, clicks_24h=k, clicks_7d=k) for c in customers]
    produce_json(kafka_bootstrap, src, rows)
    # unbounded: a bounded run decides per row (pending processing-time windows never fire at the end of input)
    result = run(s, bounded=False, wait=False)
    try:
        out = [json.loads(v) for v in consume_all(kafka_bootstrap, dst, timeout_s=120.0, idle_s=6.0)]
    finally:
        client = result.get_job_client()
        if client is not None:
            client.cancel().result()
    assert out, "no decisions"
    covered: dict[str, int] = {}
    for rec in out:
        covered[rec["customer_id"]] = covered.get(rec["customer_id"], 0) + rec["coalesced"]["rows"]
        assert rec["coalesced"]["newest_event_at"] == rec["decided_at"]
    per_customer = {c: sum(1 for r in rows if r["customer_id"] == c) for c in customers}
    assert covered == per_customer  # every row covered once, none lost at the end of the bounded input
    assert len(out) < len(rows) / 4, f"{len(out)} decisions for {len(rows)} rows: not coalesced"
    assert len({r["decision_id"] for r in out}) == len(out)
    last = {}
    for rec in sorted(out, key=lambda r: str(r["decided_at"])):
        last[rec["customer_id"]] = rec
    for c in customers:
        assert last[c]["decided_at"] == "2026-11-18T11:07:00.000Z", last[c]  # T0 + 20 s: the newest row
        assert last[c]["trigger"] == "clickstream"
    for c in customers[:10]:  # the complaint (an older row of another group) is still in the merged context
        assert last[c]["action_id"] == "svc_free_service", last[c]
