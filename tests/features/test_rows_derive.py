"""Changelog rows (parse, coalesce) and read-time derivation (scalar == vectorised)."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from features.derive import MS_PER_DAY, derive, derive_frame
from features.names import FEATURES, GROUPS, TIMESTAMP_FEATURES, stored_features
from features.rows import BadRow, FeatureRow, coalesce, parse_row


def test_coalesce_keeps_newest_per_customer_and_group() -> None:
    rows = [FeatureRow("a", "gps", 5, {"v": 1}), FeatureRow("a", "gps", 9, {"v": 2}),
            FeatureRow("a", "gps", 7, {"v": 3}), FeatureRow("a", "call", 1, {"v": 4}),
            FeatureRow("b", "gps", 9, {"v": 5}), FeatureRow("b", "gps", 9, {"v": 6})]
    out = {(r.customer_id, r.group): r.values["v"] for r in coalesce(rows)}
    assert out == {("a", "gps"): 2, ("a", "call"): 4, ("b", "gps"): 6}


@pytest.mark.parametrize("raw", [b"nope", b"[]", b'{"customer_id":"a","group":"gps","values":{}}',
                                 b'{"customer_id":"","group":"gps","event_ts_ms":1,"values":{}}',
                                 b'{"customer_id":"a","group":"gps","event_ts_ms":true,"values":{}}',
                                 b'{"customer_id":"a","group":"gps","event_ts_ms":1,"values":3}'])
def test_bad_rows_rejected(raw: bytes) -> None:
    with pytest.raises(BadRow):
        parse_row(raw)


def _random_stored(rng: random.Random, now: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for n in stored_features():
        if rng.random() < 0.3:
            continue
        if n in TIMESTAMP_FEATURES:
            out[n] = rng.choice([0, now - rng.randint(0, 40 * MS_PER_DAY), now - rng.randint(0, 3_600_000)])
        else:
            dt = FEATURES[n].dtype
            out[n] = {"int": rng.randint(0, 50), "float": rng.uniform(0, 10), "bool": rng.random() < 0.5,
                      "str": rng.choice(["a", "b"])}[dt]
    return out


def test_derive_frame_equals_derive() -> None:
    rng = random.Random(11)
    now = 1_800_000_000_000
    recs = [_random_stored(rng, now) for _ in range(200)]
    frame = derive_frame(pd.DataFrame.from_records(recs), now)
    assert list(frame.columns) == list(FEATURES)
    for i, rec in enumerate(recs):
        expect = derive(rec, now)
        got = frame.iloc[i].to_dict()
        for n in FEATURES:
            if isinstance(expect[n], float):
                assert got[n] == pytest.approx(expect[n]), n
            else:
                assert got[n] == expect[n], n


def test_derive_semantics() -> None:
    now = 100 * MS_PER_DAY
    f = derive({"last_store_visit_ms": now - 31 * 60_000, "last_marketing_ms": now - 3 * 3_600_000,
                "signup_ms": now - 10 * MS_PER_DAY}, now)
    assert f["near_store"] is False
    assert f["days_since_store_visit"] == pytest.approx(31 / 1440)
    assert f["hours_since_marketing"] == pytest.approx(3.0)
    assert f["tenure_days"] == pytest.approx(10.0)
    assert f["days_in_crisis"] == 0.0
    assert set(GROUPS["gps"]) <= set(stored_features())
