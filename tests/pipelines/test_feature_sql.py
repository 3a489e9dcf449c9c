"""Unit tests of the feature job's SQL generation (no Flink needed)."""

from __future__ import annotations

import json
import re

import pytest

from cxm.config import EVENT_KINDS, Settings
from events.contracts import required_fields
from features.names import GROUPS, feature_dtype
from features.stores import load_stores
from pipelines import feature_sql as fsql
from pipelines.feature_job import Topics, build_plan
from pipelines.flink_env import FeatureJobConfig, flink_config, set_state_ttls


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_every_required_field_is_extracted_and_checked(kind: str) -> None:
    view = fsql.check_view(kind)
    for name in required_fields(kind):
        assert f"AS {name}" in view
        if name != "kind":
            assert f"field '{name}'" in view or f"field ''{name}''" in view


def test_enum_and_bounds_come_from_the_schema() -> None:
    view = fsql.check_view("response")
    assert "'unsubscribed'" in view
    call = fsql.check_view("call")
    assert "sentiment < -1" in call
    assert "sentiment > 1" in call


@pytest.mark.parametrize("group", list(GROUPS))
def test_changelog_insert_has_every_feature_in_contract_order(group: str) -> None:
    _, last, exprs = fsql.group_views(group, load_stores())
    assert set(exprs) == set(GROUPS[group])
    insert = fsql.changelog_insert(group, last, exprs)
    assert f"FROM {last}" in insert
    # the JSON value names every feature once, in the contract's order, each followed by its expression
    positions = [insert.index(f'"{f}":') for f in GROUPS[group]]
    assert positions == sorted(positions)
    for f in GROUPS[group]:
        assert insert.count(f'"{f}":') == 1
        assert fsql.json_value_sql(exprs[f], feature_dtype(f)) in insert
    row_type = fsql.values_row_type(group)
    assert [p.split("`")[1] for p in row_type[4:-1].split(", ")] == list(GROUPS[group])


def test_one_over_window_per_select() -> None:
    for group in GROUPS:
        views, _, _ = fsql.group_views(group, [])
        for v in views:
            assert v.count("WINDOW w AS") <= 1


def test_source_is_raw_with_watermark_and_metadata() -> None:
    ddl = fsql.source_ddl("call", "events.call", "h:1", "g", 3, bounded=False)
    assert "'format' = 'raw'" in ddl
    assert "WATERMARK FOR ts AS ts - INTERVAL '3' SECOND" in ddl
    assert "METADATA FROM 'offset'" in ddl
    assert "scan.bounded.mode" not in ddl


def test_geofence_sql_has_every_store_with_its_radius() -> None:
    stores = load_stores()
    cond = fsql.geofence_condition(stores, lat="lat", lon="lon")
    assert cond.count("ASIN(SQRT(") == len(stores)
    for st in stores:
        assert f"<= {fsql.sql_double(st.radius_m)})" in cond
        assert f"RADIANS({fsql.sql_double(st.lat)})" in cond
    # DOUBLE literals only: a DECIMAL literal makes Flink compare in DECIMAL, converting the column on every row
    assert not re.search(r"(?<![\w.])\d+\.\d+(?![\dE])", cond)
    # the same great-circle radius as features.stores (numerical agreement: the integration and oracle tests)
    assert "6371008.8" in cond


def test_plan_has_a_sink_per_group_and_dead_letter_and_late_per_kind() -> None:
    s = Settings()
    plan = build_plan(s, FeatureJobConfig(), Topics.of(s), bounded=True, stores=[])
    assert sum("INSERT INTO deadletter_sink" in i for i in plan.inserts) == len(EVENT_KINDS)
    assert sum("INSERT INTO late_sink" in i for i in plan.inserts) == len(EVENT_KINDS)
    assert {i.split()[2] for i in plan.inserts if i.startswith("INSERT INTO out_")} == {f"out_{g}" for g in GROUPS}


def test_config_has_ttl_checkpoints_and_restore(tmp_path: object) -> None:
    from pathlib import Path

    job = FeatureJobConfig(checkpoint_dir=Path("/tmp/ck"), restore_path=Path("/tmp/ck/x/chk-3"), restart_attempts=0,
                           state_ttl_ms=1000)
    conf = flink_config(Settings(), job)
    assert conf["execution.checkpointing.dir"] == "file:///tmp/ck"
    assert conf["execution.state-recovery.path"] == "file:///tmp/ck/x/chk-3"
    assert conf["table.exec.state.ttl"] == "1000 ms"
    assert conf["restart-strategy.type"] == "none"


def test_set_state_ttls_only_touches_matching_nodes() -> None:
    plan = {"nodes": [{"type": "stream-exec-deduplicate_1", "state": [{"ttl": "9 ms"}]},
                      {"type": "stream-exec-over-aggregate_1", "state": [{"ttl": "9 ms"}]}]}
    new, changed = set_state_ttls(json.dumps(plan), {"stream-exec-deduplicate": 5})
    nodes = json.loads(new)["nodes"]
    assert nodes[0]["state"][0]["ttl"] == "5 ms"
    assert nodes[1]["state"][0]["ttl"] == "9 ms"
    assert changed == {"stream-exec-deduplicate": 1}
