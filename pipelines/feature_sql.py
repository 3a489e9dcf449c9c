"""SQL text of the streaming feature job, generated from the event contracts and the feature contract.

Pure functions (no Flink import): every statement the job runs is built here, so it can be unit-tested and
read. The job (:mod:`pipelines.feature_job`) only executes them.

Per event kind the pipeline is::

    src_<kind>   Kafka, 'raw' format (one STRING column + topic/partition/offset metadata): nothing is lost
                 in a format; rowtime ``ts`` = CXM_RFC3339(event_time) or 1970-01-01 when unparsable (Flink
                 fails the job on a NULL rowtime, so bad rows get a time far behind any watermark and are
                 routed by ``reason`` instead); WATERMARK ts - watermark_delay_s (per partition, idle timeout)
    chk_<kind>   typed fields from one parse (CXM_JSON_FIELDS) + ``reason``/``error_kind``/``field`` (NULL when valid)
    -> events.deadletter   rows with a reason (original payload, reason, topic, partition, offset)
    dv_<kind>    valid rows de-duplicated by event_id (keep first row by processing time)
    -> events.late         rows of dv with ts <= CURRENT_WATERMARK(ts)
    dd_<kind>    the on-time rows of dv
    group views  chained OVER windows (one window per SELECT), see :mod:`pipelines.feature_groups_sql`
    -> features.changelog  key ``customer_id|group``, value ``{"customer_id","group","event_ts_ms","values"}``

>>> sql_string("it's")
"'it''s'"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from events.contracts import ENVELOPE_FIELDS, properties, required_fields
from features.names import GROUPS, feature_dtype
from pipelines.feature_groups_sql import (
    SPAN_MS,
    WINDOWS,
    count_since,
    geofence_condition,
    group_views,
    over_window,
)
from pipelines.sql_text import TIME_FORMAT, ident, sql_double, sql_string

#: Kinds whose events feed a feature group (``outcome`` is read for validation/dead-letter only).
FEATURE_KINDS: tuple[str, ...] = tuple(GROUPS)
_SQL_TYPES = {"string": "STRING", "number": "DOUBLE", "boolean": "BOOLEAN", "integer": "INT"}
_FEATURE_SQL_TYPES = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "str": "STRING"}




@dataclass(frozen=True)
class Field:
    """One field of an event kind as the job reads it."""

    name: str
    sql_type: str
    required: bool
    nullable: bool
    spec: dict[str, Any]


def kind_fields(kind: str) -> list[Field]:
    """The fields of a kind from its JSON Schema (envelope first).

    >>> [(f.name, f.sql_type) for f in kind_fields("gps")][-3:]
    [('lat', 'DOUBLE'), ('lon', 'DOUBLE'), ('accuracy_m', 'DOUBLE')]
    """
    req = set(required_fields(kind))
    out = []
    for name, spec in properties(kind).items():
        types = spec.get("type", "string")
        types = types if isinstance(types, list) else [types]
        main = next((t for t in types if t != "null"), "string")
        out.append(Field(name, _SQL_TYPES.get(main, "STRING"), name in req, "null" in types, spec))
    return out


#: The project's Java SQL functions (``pipelines/jvm``, built by ``make jars``): class per SQL name.
JAVA_FUNCTIONS: dict[str, str] = {
    "CXM_JSON_FIELDS": "org.cxm.flink.JsonFields",
    "CXM_JSON_FIELD": "org.cxm.flink.JsonField",
    "CXM_RFC3339": "org.cxm.flink.Rfc3339",
    "CXM_COUNT_SINCE": "org.cxm.flink.CountSince",
    "CXM_JSON_STRING": "org.cxm.flink.JsonString",
    "CXM_JSON_LONG": "org.cxm.flink.JsonLong",
}
_SPEC_TYPES = {"STRING": "s", "DOUBLE": "n", "INT": "n", "BOOLEAN": "b"}


def function_ddls() -> list[str]:
    """``CREATE TEMPORARY SYSTEM FUNCTION`` statements of the Java functions (the jar is in ``pipeline.jars``).

    >>> function_ddls()[0]
    "CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS CXM_JSON_FIELDS AS 'org.cxm.flink.JsonFields' LANGUAGE JAVA"
    """
    return [f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS {sql_string(cls)} LANGUAGE JAVA"
            for name, cls in JAVA_FUNCTIONS.items()]


def fields_spec(fields: Sequence[Field]) -> str:
    """The ``CXM_JSON_FIELDS`` spec of a kind: ``name:type`` (s string, n number, b boolean).

    >>> fields_spec(kind_fields("gps"))[-24:]
    'lat:n,lon:n,accuracy_m:n'
    """
    return ",".join(f"{f.name}:{_SPEC_TYPES.get(f.sql_type, 's')}" for f in fields)


def json_value(index: int, sql_type: str, array: str = "jf") -> str:
    """The typed value of the ``index``-th (0-based) field of the ``CXM_JSON_FIELDS`` array (NULL when missing,
    null or of another JSON type).

    >>> json_value(0, "DOUBLE")
    'TRY_CAST(jf[2] AS DOUBLE)'
    >>> json_value(1, "BOOLEAN")
    "jf[3] = 'true'"
    """
    ref = f"{array}[{index + 2}]"
    if sql_type in ("DOUBLE", "INT"):
        return f"TRY_CAST({ref} AS {sql_type})"
    if sql_type == "BOOLEAN":
        return f"{ref} = 'true'"
    return ref


# --------------------------------------------------------------------------------------------- DDL
def kafka_options(bootstrap: str, topic: str, extra: dict[str, str] | None = None) -> str:
    opts = {"connector": "kafka", "topic": topic, "properties.bootstrap.servers": bootstrap, **(extra or {})}
    return ",\n  ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in opts.items())


def source_ddl(kind: str, topic: str, bootstrap: str, group_id: str, watermark_delay_s: int,
               bounded: bool = False, startup: str = "earliest-offset", watermark_emit: str = "on-event",
               idle_timeout_ms: int | None = None, fetch_bytes: int | None = None) -> str:
    """The raw Kafka source of one kind with its event-time attribute.

    ``idle_timeout_ms`` overrides ``table.exec.source.idle-timeout`` for this source; ``fetch_bytes`` caps the
    bytes fetched per partition and request (``max.partition.fetch.bytes``): in a replay, the consumer hands out
    one partition's whole fetch before the next one's, and a partition left unread for longer than the idle
    timeout is declared idle, so its next records land behind the watermark (late) although they are not.

    >>> ddl = source_ddl("gps", "events.gps", "b:9092", "g", 2, bounded=True)
    >>> "WATERMARK FOR ts AS ts - INTERVAL '2' SECOND" in ddl, "'format' = 'raw'" in ddl
    (True, True)
    """
    extra = {
        "properties.group.id": group_id,
        "scan.startup.mode": startup,
        "format": "raw",
        "raw.charset": "UTF-8",
        "scan.watermark.emit.strategy": watermark_emit,
    }
    if bounded:
        extra["scan.bounded.mode"] = "latest-offset"
    if idle_timeout_ms is not None:
        extra["scan.watermark.idle-timeout"] = f"{int(idle_timeout_ms)} ms"
    if fetch_bytes is not None:
        extra["properties.max.partition.fetch.bytes"] = str(int(fetch_bytes))
    return f"""CREATE TEMPORARY TABLE src_{kind} (
  payload STRING,
  src_topic STRING METADATA FROM 'topic' VIRTUAL,
  src_partition INT METADATA FROM 'partition' VIRTUAL,
  src_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  ts AS COALESCE(CXM_RFC3339(CXM_JSON_FIELD(payload, 'event_time')), TIMESTAMP '1970-01-01 00:00:00.000'),
  pt AS PROCTIME(),
  WATERMARK FOR ts AS ts - INTERVAL '{int(watermark_delay_s)}' SECOND
) WITH (
  {kafka_options(bootstrap, topic, extra)}
)"""


_RECORD_COLUMNS = """  reason STRING,
  error_kind STRING,
  field STRING,
  kind STRING,
  event_id STRING,
  source_topic STRING,
  `partition` INT,
  `offset` BIGINT,
  original STRING,
  original_encoding STRING,
  detected_at STRING"""


def record_sink_ddl(name: str, topic: str, bootstrap: str) -> str:
    """A sink of dead-letter-style records (the format of ``events.deadletter.dead_letter_record``)."""
    extra = {"format": "json", "sink.delivery-guarantee": "at-least-once",
             "json.encode.ignore-null-fields": "false"}
    opts = kafka_options(bootstrap, topic, extra)
    return f"CREATE TEMPORARY TABLE {name} (\n{_RECORD_COLUMNS}\n) WITH (\n  {opts}\n)"


def values_row_type(group: str) -> str:
    """The SQL ROW type of a group's ``values``.

    >>> values_row_type("purchase")
    'ROW<`spend_30d` DOUBLE, `purchases_30d` BIGINT, `last_purchase_ms` BIGINT>'
    """
    cols = ", ".join(f"{ident(f)} {_FEATURE_SQL_TYPES[feature_dtype(f)]}" for f in GROUPS[group])
    return f"ROW<{cols}>"


def changelog_sink_ddl(group: str, topic: str, bootstrap: str) -> str:
    """The changelog sink of one group: key ``customer_id|group``, value the JSON text
    ``{"customer_id","group","event_ts_ms","values":{...}}`` built by :func:`changelog_insert` (both raw).

    The producer batches up to 256 kB per partition for at most 10 ms (Kafka's defaults, 16 kB and 5 ms, make
    about one produce request per 50 rows here: per-request work in the job and the broker).

    >>> "'value.format' = 'raw'" in changelog_sink_ddl("gps", "features.changelog", "b:9092")
    True
    """
    extra = {
        "key.format": "raw",
        "key.fields": "k",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": "at-least-once",
        "properties.batch.size": "262144",
        "properties.linger.ms": "10",
    }
    return f"""CREATE TEMPORARY TABLE out_{group} (
  k STRING,
  v STRING
) WITH (
  {kafka_options(bootstrap, topic, extra)}
)"""


# --------------------------------------------------------------------------------------- validation
def _checks(kind: str) -> list[tuple[str, str, str, str]]:
    """(condition that makes the row invalid, error_kind, reason SQL, field) in priority order."""
    fields = kind_fields(kind)
    out: list[tuple[str, str, str, str]] = []
    kinds_list = ", ".join(sql_string(k) for k in properties("envelope")["kind"]["enum"])
    out.append((
        "kind IS NULL",
        "CASE WHEN jst = 'not_json' THEN 'not_json' WHEN jst = 'not_object' THEN 'not_object' "
        "ELSE 'missing_field' END",
        "CASE WHEN jst = 'not_json' THEN 'payload is not JSON' WHEN jst = 'not_object' "
        "THEN 'payload is not a JSON object' ELSE 'missing field ''kind''' END",
        "kind",
    ))
    out.append((f"kind NOT IN ({kinds_list})", "'unknown_kind'", "CONCAT('unknown kind ''', kind, '''')", "kind"))
    out.append((f"kind <> {sql_string(kind)}", "'out_of_range'",
                f"CONCAT('kind ''', kind, ''' on the topic of kind {kind}')", "kind"))
    for i, f in enumerate(fields):
        if f.name == "kind" or not f.required:
            continue
        if f.nullable:
            # an explicit null counts as present: the key's flag in the CXM_JSON_FIELDS status
            cond = f"SUBSTR(jst, {i + 1}, 1) <> '1'"
        else:
            cond = f"{f.name} IS NULL"
        out.append((cond, "'missing_field'",
                    sql_string(f"missing or ill-typed field '{f.name}' in {kind} event"), f.name))
    for f in fields:
        if f.name == "event_time":
            cond = "CXM_RFC3339(event_time) IS NULL"
            out.append((cond, "'bad_event_time'",
                        sql_string("bad event_time: need RFC 3339 UTC with milliseconds and Z"), "event_time"))
            continue
        conds = []
        spec = f.spec
        if "const" in spec:
            conds.append(f"{f.name} <> {spec['const']!r}" if f.sql_type != "STRING"
                         else f"{f.name} <> {sql_string(str(spec['const']))}")
        if "enum" in spec and f.name != "kind":
            conds.append(f"{f.name} NOT IN ({', '.join(sql_string(str(v)) for v in spec['enum'])})")
        num = sql_double if f.sql_type == "DOUBLE" else str
        if "minimum" in spec:
            conds.append(f"{f.name} < {num(spec['minimum'])}")
        if "maximum" in spec:
            conds.append(f"{f.name} > {num(spec['maximum'])}")
        if f.sql_type == "STRING":
            if "minLength" in spec:
                conds.append(f"CHAR_LENGTH({f.name}) < {int(spec['minLength'])}")
            if "maxLength" in spec:
                conds.append(f"CHAR_LENGTH({f.name}) > {int(spec['maxLength'])}")
            if "pattern" in spec:
                conds.append(f"NOT REGEXP({f.name}, {sql_string(spec['pattern'])})")
            if f.name == "signup_time":
                conds.append(f"CXM_RFC3339({f.name}) IS NULL")
        if conds:
            out.append(("(" + " OR ".join(conds) + ")", "'out_of_range'",
                        sql_string(f"bad value for '{f.name}' in {kind} event"), f.name))
    return out


def check_view(kind: str) -> str:
    """``chk_<kind>``: typed fields, ``ms`` (epoch ms) and the validation verdict (dl_reason NULL = valid).

    >>> v = check_view("purchase")
    >>> "TRY_CAST(jf[8] AS DOUBLE) END AS amount" in v, "'missing_field'" in v
    (True, True)
    """
    # RAND() makes each extraction non-deterministic, which stops the planner from inlining it into every
    # reference of the outer CASE expressions (Flink does not merge Calcs over non-deterministic expressions
    # referenced more than once): each field is parsed once per event instead of up to ~10 times
    fields = kind_fields(kind)
    cols = [f"CASE WHEN RAND() < 2.0E0 THEN {json_value(i, f.sql_type)} END AS {f.name}"
            for i, f in enumerate(fields)]
    # the checks run once per event (the number of the first failing one, NULL when valid); reason, kind and
    # field are looked up from that number
    checks = _checks(kind)
    first = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, (c, _, _, _) in enumerate(checks, 1)) + " END"
    reason = "CASE dl_idx " + " ".join(f"WHEN {i} THEN {r}" for i, (_, _, r, _) in enumerate(checks, 1)) + " END"
    error_kind = "CASE dl_idx " + " ".join(f"WHEN {i} THEN {e}" for i, (_, e, _, _) in enumerate(checks, 1)) + " END"
    fld = "CASE dl_idx " + " ".join(f"WHEN {i} THEN {sql_string(n)}" for i, (_, _, _, n) in enumerate(checks, 1))
    inner = ",\n    ".join(["payload", "src_topic", "src_partition", "src_offset", "ts", "pt", "jf[1] AS jst",
                                *cols])
    return f"""CREATE TEMPORARY VIEW chk_{kind} AS
SELECT *,
  {reason} AS dl_reason,
  {error_kind} AS dl_error_kind,
  {fld} END AS dl_field
FROM (SELECT *,
  CASE WHEN RAND() < 2.0E0 THEN {first} END AS dl_idx,
  EXTRACT(EPOCH FROM ts) * 1000 + EXTRACT(MILLISECOND FROM ts) AS ms
FROM (SELECT
    {inner}
  FROM (SELECT *, CXM_JSON_FIELDS(payload, {sql_string(fields_spec(fields))}) AS jf FROM src_{kind})))"""


def _record_select(kind: str, reason: str, error_kind: str, fld: str, where: str, source: str = "") -> str:
    return f"""SELECT {reason}, {error_kind}, {fld}, kind, event_id, src_topic, src_partition, src_offset,
  payload, 'utf-8', DATE_FORMAT(CURRENT_TIMESTAMP, '{TIME_FORMAT}')
FROM {source or f"chk_{kind}"} WHERE {where}"""


def deadletter_insert(kind: str) -> str:
    """INSERT of the invalid rows of a kind into the dead-letter sink. A watermark record
    (:mod:`events.watermark`) is not an event and not an error: it only moved the source's watermark; one with
    a bad ``event_time`` is dead-lettered.

    >>> "kind <> 'watermark' OR CXM_RFC3339(event_time) IS NULL" in deadletter_insert("gps")
    True
    """
    from events.watermark import WATERMARK_KIND

    keep = (f"dl_reason IS NOT NULL AND (kind IS NULL OR kind <> {sql_string(WATERMARK_KIND)} "
            "OR CXM_RFC3339(event_time) IS NULL)")
    return "INSERT INTO deadletter_sink\n" + _record_select(kind, "dl_reason", "dl_error_kind", "dl_field", keep)


def late_insert(kind: str) -> str:
    """INSERT of the valid but late rows (event time at or behind the watermark) into the late sink."""
    reason = "CONCAT('event_time ', event_time, ' at or behind the watermark')"
    return "INSERT INTO late_sink\n" + _record_select(
        kind, reason, "'late'", "'event_time'", "ts <= CURRENT_WATERMARK(ts)", source=f"dv_{kind}")


def dedup_views(kind: str) -> list[str]:
    """``dv_<kind>``: valid rows, first arrival per event_id (append-only, keeps the rowtime attribute);
    ``dd_<kind>``: those of them that are on time (after the watermark). De-duplication comes first, like the
    oracle: a re-sent copy of an event is a duplicate, not a late event."""
    names = ", ".join(f.name for f in kind_fields(kind) if f.name != "schema_version")
    # The payload crosses the de-duplication shuffle only for rows already late at the source: the watermark
    # downstream is the minimum of the watermarks its inputs sent before the row, so a row that is late there
    # was late at its source (only the late sink reads the payload; it is most of a row's bytes).
    late_at_source = "CURRENT_WATERMARK(ts) IS NOT NULL AND ts <= CURRENT_WATERMARK(ts)"
    return [f"""CREATE TEMPORARY VIEW dv_{kind} AS
SELECT {names}, ts, ms, payload, src_topic, src_partition, src_offset FROM (
  SELECT {names}, ts, ms, src_topic, src_partition, src_offset,
    CASE WHEN {late_at_source} THEN payload END AS payload,
    ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY pt ASC) AS rn
  FROM chk_{kind}
  WHERE dl_reason IS NULL
) WHERE rn = 1""", f"""CREATE TEMPORARY VIEW dd_{kind} AS
SELECT * FROM dv_{kind}
WHERE CURRENT_WATERMARK(ts) IS NULL OR ts > CURRENT_WATERMARK(ts)"""]


# ------------------------------------------------------------------------------------------- groups
def json_value_sql(expr: str, dtype: str) -> str:
    """SQL text of the JSON value of a feature expression of contract type ``dtype`` (``null`` for NULL).

    >>> json_value_sql("x", "int")
    "COALESCE(CAST(CAST(x AS BIGINT) AS STRING), 'null')"
    >>> json_value_sql("b", "bool")
    "CASE WHEN b THEN 'true' WHEN NOT b THEN 'false' ELSE 'null' END"
    >>> json_value_sql("f", "float")
    "CASE WHEN CAST(f AS DOUBLE) - CAST(f AS DOUBLE) = 0.0E0 THEN CAST(CAST(f AS DOUBLE) AS STRING) ELSE 'null' END"
    """
    if dtype == "bool":
        return f"CASE WHEN {expr} THEN 'true' WHEN NOT {expr} THEN 'false' ELSE 'null' END"
    if dtype == "str":
        return f"COALESCE(CXM_JSON_STRING(CAST({expr} AS STRING)), 'null')"
    if dtype == "float":
        # JSON has no NaN or Infinity: x - x is 0 only for a finite x (NaN, +-Inf and NULL give 'null')
        x = f"CAST({expr} AS DOUBLE)"
        return f"CASE WHEN {x} - {x} = 0.0E0 THEN CAST({x} AS STRING) ELSE 'null' END"
    return f"COALESCE(CAST(CAST({expr} AS {_FEATURE_SQL_TYPES[dtype]}) AS STRING), 'null')"


def changelog_insert(group: str, last_view: str, exprs: dict[str, str]) -> str:
    """INSERT of a group's rows into its changelog sink: the value is the JSON text
    ``{"customer_id": .., "group": .., "event_ts_ms": .., "values": {feature: value, ...}}`` (features in the
    contract's order and types) built with CONCAT: Flink's JSON format builds a tree per row and was about a
    tenth of the job's CPU.

    >>> "CXM_JSON_STRING(customer_id)" in changelog_insert("purchase", "g", {"spend_30d": "s",
    ...     "purchases_30d": "p", "last_purchase_ms": "m"})
    True
    """
    parts = [sql_string('{"customer_id":'), "CXM_JSON_STRING(customer_id)",
             sql_string(f',"group":"{group}","event_ts_ms":'), "CAST(ms AS STRING)", sql_string(',"values":{')]
    for i, f in enumerate(GROUPS[group]):
        parts.append(sql_string(("," if i else "") + f'"{f}":'))
        parts.append(json_value_sql(exprs[f], feature_dtype(f)))
    parts.append(sql_string("}}"))
    return f"""INSERT INTO out_{group}
SELECT CONCAT(customer_id, '|{group}'), CONCAT({", ".join(parts)})
FROM {last_view}"""


__all__ = [
    "ENVELOPE_FIELDS",
    "FEATURE_KINDS",
    "SPAN_MS",
    "TIME_FORMAT",
    "WINDOWS",
    "Field",
    "changelog_insert",
    "changelog_sink_ddl",
    "check_view",
    "count_since",
    "dedup_views",
    "function_ddls",
    "geofence_condition",
    "group_views",
    "ident",
    "kind_fields",
    "late_insert",
    "over_window",
    "record_sink_ddl",
    "source_ddl",
    "sql_double",
    "sql_string",
]
