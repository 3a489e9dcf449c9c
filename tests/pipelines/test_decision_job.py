"""The decision job on the local mini-cluster: changelog rows in, one decision per context change out."""

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
    s = settings.model_copy(update={"topics": settings.topics.model_copy(update={"features": src, "decisions": dst})})
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
    candidates: list[dict[str, str]] = c1[2]["candidates"]
    blocked = {c["action_id"]: c for c in candidates if c["status"] == "blocked"}
    marketing = [a for a, c in blocked.items() if c["kind"] in ("marketing", "upsell")]
    assert marketing, "marketing must be blocked for a customer in crisis"
    assert len({r["decision_id"] for r in out}) == len(out)
    (c2,) = by_customer["c2"]
    assert c2["action_id"] != "svc_free_service"
