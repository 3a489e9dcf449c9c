"""``CXM_JSON_LONG`` (pipelines/jvm, JsonLong.java) on a Flink mini-cluster: the decision job reads the event time
of a changelog row with it. Values come both as binary strings (``CONCAT(p, '')``: parsed in place) and as
literals (Java strings)."""

from __future__ import annotations

from typing import Any

import pytest

from cxm.config import Settings
from pipelines.feature_sql import function_ddls, sql_string

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def query(settings: Settings) -> Any:
    from pipelines.tableenv import create_table_env

    t_env = create_table_env(settings, "cxm-json-long-test", {"parallelism.default": "1"})
    for ddl in function_ddls():
        t_env.execute_sql(ddl)

    def run(expr: str, values: list[str]) -> list[Any]:
        rows = ", ".join(f"({sql_string(v)})" for v in values)
        with t_env.execute_sql(f"SELECT {expr} FROM (VALUES {rows}) AS t(p)").collect() as results:
            return [r[0] for r in results]

    return run


def test_json_long_reads_one_top_level_integer(query: Any) -> None:
    payloads = [
        '{"customer_id": "c1", "group": "gps", "event_ts_ms": 1795000000123, "values": {"x": 1}}',
        '{"values": {"event_ts_ms": 1}, "event_ts_ms": -5}',  # nested ones are skipped
        '{"event_ts_ms": 1.5}',
        '{"event_ts_ms": "17"}',
        '{"event_ts_ms": 92233720368547758070}',  # beyond BIGINT
        '[{"event_ts_ms": 1}]',
        '{"customer_id": "é", "event_ts_ms": 7, "broken',  # broken after the field: not looked at
        '{"customer_id": "c1", "broken',
        "",
    ]
    expected = [1795000000123, -5, None, None, None, None, 7, None, None]
    assert query("CXM_JSON_LONG(CONCAT(p, ''), 'event_ts_ms')", payloads) == expected
    assert query("CXM_JSON_LONG(p, 'event_ts_ms')", payloads) == expected
