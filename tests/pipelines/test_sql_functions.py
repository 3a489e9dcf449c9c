"""The project's Java SQL functions (pipelines/jvm) on a real Flink mini-cluster, edge cases included.

The functions read Flink's internal UTF-8 strings in place; literals in a query arrive as Java strings, values
read from a source as binary ones, so the queries use both (a VALUES row and a nested CONCAT).
"""

from __future__ import annotations

from typing import Any

import pytest

from cxm.config import Settings
from pipelines.feature_sql import function_ddls, sql_string

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def query(settings: Settings) -> Any:
    from pipelines.tableenv import create_table_env

    t_env = create_table_env(settings, "cxm-sql-functions-test", {"parallelism.default": "1"})
    for ddl in function_ddls():
        t_env.execute_sql(ddl)

    def run(expr: str, values: list[str]) -> list[Any]:
        rows = ", ".join(f"({sql_string(v)})" for v in values)
        sql = f"SELECT {expr} FROM (VALUES {rows}) AS t(p)"
        with t_env.execute_sql(sql).collect() as results:
            return [r[0] for r in results]

    return run


def test_rfc3339_is_strict(query: Any) -> None:
    # as text: TIMESTAMP(3) has no zone, PyFlink would hand out naive datetimes
    got = query("CAST(CXM_RFC3339(p) AS STRING)", [
        "2026-11-24T05:20:07.123Z", "2026-02-30T00:00:00.000Z", "2026-11-24T24:00:00.000Z",
        "2026-11-24T05:20:07Z", "2026-11-24T05:2x:07.123Z", "2028-02-29T23:59:59.999Z",
    ])
    assert got == ["2026-11-24 05:20:07.123", None, None, None, None, "2028-02-29 23:59:59.999"]


def test_json_field_reads_one_string_field(query: Any) -> None:
    payloads = [
        '{"a": {"event_time": "nested"}, "event_time": "t\\u00e9"}',
        '{"a": {"event_time": "nested"}, "event_time": "t\\u00e9"}',  # the same bytes again (per-thread memo)
        '{"event_time": 5}',
        '[{"event_time": "x"}]',
        '{"b": "é", "event_time": "ü"}',
        '{"event_time": "x", "broken',
    ]
    got = query("CXM_JSON_FIELD(CONCAT(p, ''), 'event_time')", payloads)
    assert got == ["té", "té", None, None, "ü", "x"]
    # another field name on the same payload is not served from the memo of the first
    assert query("CXM_JSON_FIELD(p, 'b')", ['{"b": "é", "event_time": "ü"}']) == ["é"]


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


def test_json_fields_one_parse(query: Any) -> None:
    spec = "x:s,n:n,b:b,m:s"
    call = f"CXM_JSON_FIELDS(CONCAT(p, ''), '{spec}')"
    # PyFlink cannot collect an ARRAY with NULL elements: one string per result, '~' for NULL
    expr = "CONCAT_WS('|', " + ", ".join(f"COALESCE({call}[{i}], '~')" for i in range(1, 6)) + ")"
    got = query(expr, [
        '{"x": "é", "n": 1.5, "b": true, "z": [1, {"m": "no"}]}',
        '{"x": 3, "n": "1", "b": null}',
        "nope",
        "[1, 2]",
        '{"x": "a"} trailing',
    ])
    assert got[0] == "1110|é|1.5|true|~"
    assert got[1] == "1110|~|~|~|~"  # present, but not of the wanted JSON type
    assert got[2] == "not_json|~|~|~|~"
    assert got[3] == "not_object|~|~|~|~"
    assert got[4] == "not_json|~|~|~|~"


def test_json_string_escapes(query: Any) -> None:
    import orjson

    texts = ["plain c0000042", 'quote " and \\ backslash', "line\nbreak\ttab\u0001", "Europe/Madrid é ü"]
    got = query("CXM_JSON_STRING(CONCAT(p, ''))", texts)
    assert got[0] == '"plain c0000042"'
    assert [orjson.loads(g) for g in got] == texts


def test_changelog_json_numbers_are_json(query: Any) -> None:
    from pipelines.feature_sql import json_value_sql

    got = query(json_value_sql("CAST(p AS DOUBLE)", "float"), ["1.5", "NaN", "-Infinity", "1e300", "0.000125"])
    assert got[1:3] == ["null", "null"]
    import orjson

    assert [orjson.loads(g) for g in got] == [1.5, None, None, 1e300, 0.000125]


def test_mini_cluster_jvm_uses_the_configured_collector(query: Any, settings: Settings) -> None:
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    beans = [b.getName() for b in jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()]
    assert "-XX:+UseParallelGC" in settings.flink.local_jvm_opts
    assert "PS Scavenge" in beans, beans


def test_mini_cluster_jvm_uses_the_scaled_compile_thresholds(query: Any, settings: Settings) -> None:
    from pyflink.java_gateway import get_gateway

    from cxm.config import JIT_COMPILE_THRESHOLD_SCALING, JIT_OPTS

    jvm = get_gateway().jvm
    bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
        jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean"))
    option = bean.getVMOption("CompileThresholdScaling")
    assert JIT_OPTS in settings.flink.local_jvm_opts
    assert float(option.getValue()) == JIT_COMPILE_THRESHOLD_SCALING != 1
    assert str(option.getOrigin()) == "VM_CREATION", str(option.getOrigin())


def test_count_since_accumulator_serializer_round_trips(query: Any) -> None:
    from py4j.java_gateway import get_field, set_field
    from py4j.protocol import Py4JJavaError
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    jvm = gateway.jvm
    t0 = 1_790_000_000_000  # epoch ms (above 2**31: py4j hands them to Java as longs)
    fn, ser = jvm.org.cxm.flink.CountSince(), jvm.org.cxm.flink.CountSinceAccSerializer()
    acc = fn.createAccumulator()
    ts = gateway.new_array(jvm.long, 16)
    for i in range(16):
        ts[i] = t0 + i * 60_000
    for name, value in {"ts": ts, "start": 3, "end": 11, "last": t0 + 10 * 60_000, "span": 300_000,
                        "evicted": 2}.items():
        set_field(acc, name, value)
    out = jvm.org.apache.flink.core.memory.DataOutputSerializer(64)
    ser.serialize(acc, out)
    data = out.getCopyOfBuffer()
    assert len(data) == 4 + 8 * 8 + 3 * 8  # the 8 live times only, not the array's capacity of 16

    def fields(a: Any) -> tuple[list[int], int, int, int, int]:
        arr, start, end = get_field(a, "ts"), get_field(a, "start"), get_field(a, "end")
        return ([arr[i] for i in range(start, end)], get_field(a, "last"), get_field(a, "span"),
                get_field(a, "evicted"), fn.getValue(a))

    want = fields(acc)
    assert want[0] == [t0 + i * 60_000 for i in range(3, 11)]
    assert want[4] == 6
    back = ser.deserialize(jvm.org.apache.flink.core.memory.DataInputDeserializer(data))
    copied = ser.copy(acc)
    assert fields(back) == want
    assert fields(copied) == want
    assert get_field(back, "start") == 0
    assert get_field(copied, "start") == 0
    get_field(acc, "ts")[5] = t0  # the copy does not share the original's array
    assert fields(copied) == want
    # the byte-level copy of a serialized accumulator (Flink's copy between views) gives the same bytes
    out2 = jvm.org.apache.flink.core.memory.DataOutputSerializer(128)  # write(view, n) does not grow it
    ser.copy(jvm.org.apache.flink.core.memory.DataInputDeserializer(data), out2)
    assert bytes(out2.getCopyOfBuffer()) == bytes(data)
    # a corrupt count is an error, not an accumulator
    bad = jvm.org.apache.flink.core.memory.DataOutputSerializer(8)
    bad.writeInt(-1)
    with pytest.raises(Py4JJavaError, match="negative number of event times"):
        ser.deserialize(jvm.org.apache.flink.core.memory.DataInputDeserializer(bad.getCopyOfBuffer()))
