"""The decision job carries each feature group's changelog value as one JSON text through the JVM: the contexts
the Python UDF rebuilds from those texts must give the same decision records as the former column-typed path
(every stored feature decoded into a typed SQL column, merged per feature with LAST_VALUE, handed to pandas
through Arrow)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pytest

from features.names import CHANNELS, GROUPS, feature_dtype, stored_features
from pipelines.decision_job import UDF_META, udf_frame
from pipelines.decision_stage import DecisionStage, stored_frame

T0 = 1_795_000_000_000
DAY = 86_400_000
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}


def _value(rng: random.Random, name: str, ts_ms: int) -> Any:
    kind = feature_dtype(name)
    if name.endswith("_ms"):
        return rng.choice((0, ts_ms - rng.randrange(0, 40 * DAY), ts_ms - rng.randrange(0, 3_600_000)))
    if kind == "int":
        return rng.randrange(0, 6)
    if kind == "float":
        # the JSON of a DOUBLE may be integral (``3`` rather than ``3.0``, e.g. from another producer)
        return rng.choice((float(rng.randrange(0, 4)), round(rng.uniform(-1.0, 90.0), 3), rng.randrange(0, 4)))
    if kind == "bool":
        return rng.random() < 0.7
    if name == "timezone":
        return rng.choice(("Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"))
    if name == "preferred_channel":
        return rng.choice(CHANNELS)
    return rng.choice(("billing", "outage", "moving", ""))


def _changelog(seed: int, customers: int, rows: int) -> list[dict[str, Any]]:
    """Changelog rows (the feature job's value documents) of random groups for a few customers."""
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        group = rng.choice(list(GROUPS))
        ts = T0 + i * 37_000
        values = {f: _value(rng, f, ts) for f in GROUPS[group]}
        out.append({"customer_id": f"c{rng.randrange(customers):03d}", "group": group, "event_ts_ms": ts,
                    "values": values})
    return out


def _old_contexts(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The former path: per customer, the newest non-NULL value of every stored feature (LAST_VALUE over the
    typed ``values`` ROW), one context per customer after its last row, typed as the SQL columns and converted
    to pandas through Arrow (as PyFlink hands a batch to a pandas UDF)."""
    names = stored_features()
    state: dict[str, dict[str, Any]] = {}
    last: dict[str, dict[str, Any]] = {}
    count: dict[str, int] = {}
    for r in rows:
        c = r["customer_id"]
        merged = state.setdefault(c, {})
        for name in names:
            v = r["values"].get(name)
            if v is not None:
                merged[name] = float(v) if feature_dtype(name) == "float" else v  # the JSON format's DOUBLE
        last[c] = r
        count[c] = count.get(c, 0) + 1
    customers = sorted(state)
    arrays = {
        "customer_id": pa.array(customers, pa.string()),
        "trigger": pa.array([last[c]["group"] for c in customers], pa.string()),
        "event_ts_ms": pa.array([last[c]["event_ts_ms"] for c in customers], pa.int64()),
        "rows": pa.array([count[c] for c in customers], pa.int64()),
    }
    for name in names:
        arrays[name] = pa.array([state[c].get(name) for c in customers], ARROW_TYPES[feature_dtype(name)])
    return pa.table(arrays).to_pandas()


def _new_udf_columns(rows: list[dict[str, Any]]) -> list[pd.Series]:
    """The new path: per customer the newest value text of each group (what the TUMBLE + OVER windows keep), as
    the pandas columns the UDF receives."""
    texts: dict[str, dict[str, str]] = {}
    last: dict[str, dict[str, Any]] = {}
    count: dict[str, int] = {}
    for r in rows:
        c = r["customer_id"]
        texts.setdefault(c, {})[r["group"]] = orjson.dumps(r).decode()
        last[c] = r
        count[c] = count.get(c, 0) + 1
    customers = sorted(texts)
    arrays = [
        pa.array(customers, pa.string()),
        pa.array([last[c]["group"] for c in customers], pa.string()),
        pa.array([last[c]["event_ts_ms"] for c in customers], pa.int64()),
        pa.array([count[c] for c in customers], pa.int64()),
        *(pa.array([texts[c].get(g) for c in customers], pa.string()) for g in GROUPS),
    ]
    return [a.to_pandas() for a in arrays]


def _records(stage: DecisionStage, frame: pd.DataFrame) -> list[bytes]:
    return [orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) for r in stage.decide_frame(frame)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_decisions_from_group_texts_equal_the_column_typed_path(seed: int) -> None:
    rows = _changelog(seed, customers=150, rows=900)
    old = _old_contexts(rows)
    new = udf_frame(_new_udf_columns(rows))
    assert len(new) == len(old) > 100
    # some customers lack some groups (defaults), and every group occurs
    assert new["timezone"].isna().any()
    assert new["clicks_7d"].notna().any()
    old_records = _records(DecisionStage.in_memory(), old)
    new_records = _records(DecisionStage.in_memory(), new)
    assert new_records == old_records
    # the records differ between customers: the comparison is not vacuous
    assert len({orjson.loads(r)["action_id"] for r in new_records}) > 2


def test_a_missing_or_broken_group_text_means_the_defaults() -> None:
    good = orjson.dumps({"customer_id": "c1", "group": "purchase", "event_ts_ms": T0,
                         "values": {"spend_30d": 12.5, "purchases_30d": 2, "last_purchase_ms": T0 - DAY}}).decode()
    df = stored_frame({"purchase": [good, None, '{"values": [1]}', "not json"], "gps": [None] * 4})
    assert df["spend_30d"].tolist()[0] == 12.5
    assert df[["spend_30d", "purchases_30d", "last_purchase_ms", "last_store_visit_ms"]].iloc[1:].isna().all().all()
    # a DOUBLE cast to text can be NaN (not JSON): the other features of the group are still read
    nan = stored_frame({"call": ['{"values": {"mean_wait_s_7d": NaN, "calls_7d": 3, "last_call_reason": "x"}}']})
    assert nan["calls_7d"].tolist() == [3]
    assert nan["last_call_reason"].tolist() == ["x"]
    assert nan["mean_wait_s_7d"].isna().all()
    with pytest.raises(ValueError, match="values for 2 rows"):
        stored_frame({"purchase": [good, None], "gps": [None]})


def test_udf_frame_checks_its_columns() -> None:
    cols = _new_udf_columns(_changelog(5, customers=3, rows=20))
    assert list(udf_frame(cols).columns[-len(UDF_META):]) == list(UDF_META)
    with pytest.raises(ValueError, match="columns"):
        udf_frame(cols[:-1])
