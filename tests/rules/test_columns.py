"""The column-wise membrane (rules.columns, rules.vexpr, rules.batch_records) against the row-wise reference.

Every record of a batch decided with numpy must equal ``PolicySet.decide(...).to_record()`` for the same row:
over random customers, with and without scores, with and without event ids, on inbound contacts, across quiet
hours and a daylight-saving change, for the shipped policies and for a set that adds caps with conditions,
inbound channels an action does not list, arithmetic, chained comparisons and a second quiet-hours policy.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.names import FEATURES, SCORES
from pipelines.decision_stage import DecisionStage
from rules.batch_records import ColumnContext
from rules.columns import ColumnFallback, local_parts
from rules.engine import DecisionContext, PolicySet, _zone
from rules.expr import compile_condition
from rules.policies import DEFAULT_POLICY_DIR
from rules.store import PolicyStore
from rules.testing import random_inputs
from rules.vexpr import column_condition

EXTRA = """
version: "test"
policies:
  - id: cap_service_when_calm
    kind: cap
    max: 1
    per: day
    when: "last_call_sentiment > -0.2"
    actions: {ids: [svc_tech_visit, svc_service_credit], kinds: [greeting]}
    reason: one service contact a day when calm
  - id: browsing_or_in_store
    kind: inbound
    when: "inbound_channel in ['web', 'store']"
    factor: 1.25
    actions: {all: true}
    reason: the customer is here
  - id: arithmetic_weight
    kind: weight
    when: "churn_risk * 2 + 0.1 > days_in_crisis / calls_24h and not (stage in ['engaged'])"
    factor: 1.7
    actions: {kinds: [service, retention_offer]}
    reason: arithmetic
  - id: chained_defer
    kind: defer
    when: "0 < contacts_7d <= 2 and -tenure_days < -100"
    hours: 3.5
    actions: {kinds: [upsell, survey]}
    reason: chained
  - id: quiet_web_weekends
    kind: quiet_hours
    start: "22:30"
    end: "07:15"
    channels: [web, email]
    when: "local_weekday >= 5 or local_hour < 7"
    reason: weekend nights
"""

#: 2026-10-25 01:00 UTC: Europe ends daylight saving time; the batches below span it
DST_END_MS = 1_792_890_000_000


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> PolicySet:
    d = tmp_path_factory.mktemp("policies")
    for f in DEFAULT_POLICY_DIR.glob("*.yaml"):
        shutil.copy(f, d / f.name)
    (d / "50_extra.yaml").write_text(EXTRA)
    return PolicySet.load(Path(d))


def _batch(n: int, seed: int, span_ms: int, start_ms: int) -> dict[str, Any]:
    rows = random_inputs(n, seed=seed)
    rng = np.random.default_rng(seed)
    ts = (start_ms + rng.integers(0, span_ms, n)).astype(np.int64)
    inbound = [r["inbound_channel"] or str(rng.choice(["", "", "", "web", "store"])) for r in rows]
    events = [None if rng.random() < 0.4 else f"e{seed}-{i}" for i in range(n)]
    return {
        "feats": pd.DataFrame([{k: r[k] for k in FEATURES} for r in rows]),
        "scores": pd.DataFrame([{**{k: r[k] for k in SCORES}, "model_version": "m-7"} for r in rows]),
        "ctx": ColumnContext(
            [r["customer_id"] for r in rows],
            events,
            ["call" if c == "call" else "gps" if c == "store" else "clickstream" for c in inbound],
            inbound,
            ["" if e else f"k{i}" for i, e in enumerate(events)],
        ),
        "ts": ts,
    }


def _row_wise(ps: PolicySet, b: dict[str, Any], with_scores: bool) -> list[dict[str, Any]]:
    feats = b["feats"].to_dict("records")
    scores = b["scores"].to_dict("records") if with_scores else [None] * len(feats)
    c: ColumnContext = b["ctx"]
    out = []
    for i, ts in enumerate(b["ts"].tolist()):
        ctx = DecisionContext(c.customers[i], c.event_ids[i], c.inbound[i], c.triggers[i], with_scores,
                              context_key=c.context_keys[i])
        out.append(ps.decide(feats[i], scores[i], ctx, datetime.fromtimestamp(ts / 1000, tz=UTC)).to_record())
    return out


@pytest.mark.parametrize("which", ["shipped", "extended"])
@pytest.mark.parametrize("with_scores", [True, False])
@pytest.mark.parametrize(("seed", "span_ms", "start_ms"), [
    (1, 7 * 86_400_000, 1_795_000_000_000),  # a week: quiet hours and weekends in every zone
    (2, 6 * 3_600_000, DST_END_MS - 3 * 3_600_000),  # across the end of daylight saving time
    (3, 200, 1_795_000_000_000),  # one coalescing window: the decision job's usual batch
])
def test_column_records_equal_row_wise(policy_set: PolicySet, extended: PolicySet, which: str,
                                       with_scores: bool, seed: int, span_ms: int, start_ms: int) -> None:
    ps = policy_set if which == "shipped" else extended
    b = _batch(1500, seed, span_ms, start_ms)
    got = ps.columns.records(b["feats"], b["scores"] if with_scores else None, b["ctx"], b["ts"])
    want = _row_wise(ps, b, with_scores)
    diff = [i for i in range(len(want)) if got[i] != want[i]]
    assert not diff, (got[diff[0]], want[diff[0]])


def test_the_comparison_reaches_every_policy(extended: PolicySet) -> None:
    """The equality above means something only if the random batches make every policy act."""
    seen: Counter[str] = Counter()
    reasons: set[str] = set()
    for seed, span, start in ((1, 7 * 86_400_000, 1_795_000_000_000), (2, 6 * 3_600_000, DST_END_MS)):
        b = _batch(1500, seed, span, start)
        for scores in (b["scores"], None):
            for r in extended.columns.records(b["feats"], scores, b["ctx"], b["ts"]):
                seen.update(r["applied_policies"])
                seen.update(g["policy"] for g in r["candidates"]["blocked"])
                seen.update(d["policy"] for d in r["candidates"]["deferred"])
                reasons.update(g["reason"] for g in r["candidates"]["blocked"])
    text = "\n".join(reasons)
    # a channel removal shows in the blocked reasons ("no allowed channel: email: <reason>; ...")
    never = {p.id for p in extended.policies if p.id not in seen and p.reason not in text}
    assert not never
    assert any(t.startswith("no allowed channel") for t in reasons)


def test_a_batch_it_cannot_take_goes_row_wise(policy_set: PolicySet) -> None:
    """A missing score (None in a text column) is a default for decide(); the column path hands the batch back."""
    b = _batch(50, 4, 3_600_000, 1_795_000_000_000)
    scores = b["scores"].astype({"stage": object})
    scores.loc[3, "stage"] = None
    with pytest.raises(ColumnFallback, match="stage"):
        policy_set.columns.records(b["feats"], scores, b["ctx"], b["ts"])
    stage = DecisionStage(PolicyStore(), None)
    frame = pd.DataFrame({"customer_id": b["ctx"].customers, "trigger": b["ctx"].triggers, "event_ts_ms": b["ts"]})
    stage.column_wise = False
    want = stage.decide_frame(frame)
    stage.column_wise = True
    assert stage.decide_frame(frame) == want
    assert stage.stats["row_wise"] == 0

    class Broken:  # a policy set without a column form: the stage decides row by row
        def __init__(self) -> None:
            self.inner = PolicyStore().current

        def decide(self, *args: Any) -> Any:
            return self.inner.decide(*args)

    class Store:
        current = Broken()

        def refresh(self) -> None:
            pass

    fallback = DecisionStage(Store(), None)
    assert fallback.decide_frame(frame) == want
    assert fallback.stats["row_wise"] == len(frame)


CONDITIONS = [
    "stage == 'in_crisis' or open_complaints > 0",
    "not context_known",
    "tenure_days >= 730 and stage == 'engaged'",
    "churn_risk * 2 + 0.1 > days_in_crisis / calls_24h",
    "days_in_crisis / open_complaints >= 2",
    "0 < contacts_7d <= 2",
    "-tenure_days < -100 or near_store",
    "stage not in ['engaged', 'dormant'] and preferred_channel in ['sms', 'push']",
    "last_call_sentiment - 0.5 * churn_risk < -0.3",
    "eta_given == false and open_complaints != 0",
    "true",
    "false or near_store",
    "1 < 2",
]


@pytest.mark.parametrize("source", CONDITIONS)
def test_column_conditions_equal_row_closures(source: str) -> None:
    cond = compile_condition(source)
    rows = random_inputs(400, seed=9)
    for r in rows:
        r["context_known"] = r["customer_id"][-1] != "3"
    cols = {k: np.array([r[k] for r in rows], dtype=object if isinstance(rows[0][k], str) else None)
            for k in cond.names}
    got = column_condition(cond)(cols, len(rows)).tolist()
    want = [bool(cond.fn(r)) for r in rows]
    assert got == want
    assert len(set(want)) == 2 or not cond.names  # both outcomes occur for every condition on names


def test_local_parts_equal_astimezone_across_transitions() -> None:
    zones = ["Europe/Madrid", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC", "Not/AZone"]
    rng = np.random.default_rng(3)
    for start, span in ((DST_END_MS - 86_400_000, 2 * 86_400_000), (1_795_000_000_000, 200),
                        (1_780_000_000_000, 200 * 86_400_000)):
        ts = (start + rng.integers(0, span, 3000)).astype(np.int64)
        zs = np.array([zones[i % len(zones)] for i in range(len(ts))])
        hour, day = local_parts(ts, zs)
        want = [datetime.fromtimestamp(t / 1000, tz=UTC).astimezone(_zone(str(z)))
                for t, z in zip(ts.tolist(), zs, strict=True)]
        assert hour.tolist() == [w.hour for w in want]
        assert day.tolist() == [w.weekday() for w in want]
