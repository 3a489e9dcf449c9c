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
    group views  chained OVER windows (one window per SELECT), see :func:`group_views`
    -> features.changelog  key ``customer_id|group``, value ``{"customer_id","group","event_ts_ms","values"}``

>>> sql_string("it's")
"'it''s'"
>>> "RANGE BETWEEN INTERVAL '7' DAY PRECEDING" in over_window("7d")
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from events.contracts import ENVELOPE_FIELDS, properties, required_fields
from features.names import ACTION_KINDS, CHANNELS, GROUPS, feature_dtype

#: Kinds whose events feed a feature group (``outcome`` is read for validation/dead-letter only).
FEATURE_KINDS: tuple[str, ...] = tuple(GROUPS)
TIME_FORMAT = "yyyy-MM-dd''T''HH:mm:ss.SSS''Z''"
WINDOWS: dict[str, str] = {
    "1h": "INTERVAL '1' HOUR",
    "24h": "INTERVAL '24' HOUR",
    "7d": "INTERVAL '7' DAY",
    "30d": "INTERVAL '30' DAY",
}
_SQL_TYPES = {"string": "STRING", "number": "DOUBLE", "boolean": "BOOLEAN", "integer": "INT"}
_FEATURE_SQL_TYPES = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "str": "STRING"}


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_double(value: float) -> str:
    """A DOUBLE literal (``52.5`` alone is a DECIMAL in Flink SQL: comparing a DOUBLE column with it converts
    the column to DECIMAL on every row).

    >>> sql_double(52.5), sql_double(1e-05), sql_double(-90)
    ('52.5E0', '1e-05', '-90.0E0')
    """
    text = repr(float(value))
    if not math.isfinite(float(value)):
        raise ValueError(f"not a finite number: {value!r}")
    return text if "e" in text else text + "E0"


def ident(name: str) -> str:
    """A quoted identifier (``group``, ``offset`` ... are reserved words).

    >>> ident("group")
    '`group`'
    """
    return f"`{name}`"


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
SPAN_MS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000}


def count_since(span: str, cond: str = "TRUE") -> str:
    """Rows with ``cond`` within ``span`` of the current row, inside a longer OVER window (one operator and one
    shuffle for all of a group's ranges).

    >>> count_since("24h")
    'CXM_COUNT_SINCE(ms, CAST(86400000 AS BIGINT), TRUE)'
    """
    return f"CXM_COUNT_SINCE(ms, CAST({SPAN_MS[span]} AS BIGINT), {cond})"
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
    """INSERT of the invalid rows of a kind into the dead-letter sink."""
    return "INSERT INTO deadletter_sink\n" + _record_select(kind, "dl_reason", "dl_error_kind", "dl_field",
                                                             "dl_reason IS NOT NULL")


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
def over_window(span: str, partition: str = "customer_id") -> str:
    """A RANGE window over event time: ``span`` in WINDOWS or ``unbounded``."""
    lower = "UNBOUNDED PRECEDING" if span == "unbounded" else f"{WINDOWS[span]} PRECEDING"
    return f"(PARTITION BY {partition} ORDER BY ts RANGE BETWEEN {lower} AND CURRENT ROW)"


def _over(name: str, source: str, keep: Sequence[str], aggs: dict[str, str], span: str,
          partition: str = "customer_id") -> str:
    cols = ",\n  ".join([*keep, *(f"{expr} OVER w AS {alias}" for alias, expr in aggs.items())])
    return (f"CREATE TEMPORARY VIEW {name} AS\nSELECT\n  {cols}\nFROM {source}\n"
            f"WINDOW w AS {over_window(span, partition)}")


def _eq(col: str, value: str) -> str:
    return f"{col} = {sql_string(value)}"


def _flag(cond: str) -> str:
    return f"CAST(CASE WHEN {cond} THEN 1 ELSE 0 END AS BIGINT)"


def geofence_condition(stores: Sequence[Any], lat: str = "lat", lon: str = "lon") -> str:
    """SQL boolean: the point lies within ``radius_m`` (haversine, like ``features.stores``) of any store.

    >>> geofence_condition([])
    'FALSE'
    >>> "ASIN" in geofence_condition([{"lat": 1.0, "lon": 2.0, "radius_m": 50.0}])
    True
    """
    from features.stores import EARTH_RADIUS_M

    parts = []
    for s in stores:
        slat, slon, rad = (float(s[k] if isinstance(s, dict) else getattr(s, k)) for k in ("lat", "lon", "radius_m"))
        box = rad / 100_000.0 + 1e-3  # degrees; cheap pre-filter (1 deg lat >= 110 km)
        lon_box = box / max(0.05, abs(math.cos(math.radians(slat))))
        la, lo, r = sql_double(slat), sql_double(slon), sql_double(rad)
        hav = (f"POWER(SIN((RADIANS({la}) - RADIANS({lat})) / 2), 2) + COS(RADIANS({lat})) * "
               f"COS(RADIANS({la})) * POWER(SIN(RADIANS({lo} - {lon}) / 2), 2)")
        dist = f"2 * {sql_double(EARTH_RADIUS_M)} * ASIN(SQRT(LEAST(GREATEST({hav}, 0.0E0), 1.0E0)))"
        parts.append(f"(ABS({lat} - {la}) < {sql_double(box)} AND ABS({lon} - {lo}) < {sql_double(lon_box)} "
                     f"AND {dist} <= {r})")
    return " OR ".join(parts) if parts else "FALSE"


def _pad_ms(col: str = "ms") -> str:
    return f"LPAD(CAST({col} AS STRING), 15, '0')"


def group_views(group: str, stores: Sequence[Any] = ()) -> tuple[list[str], str, dict[str, str]]:
    """Views computing one group: (CREATE VIEW statements, final view name, feature -> SQL expression).

    The final view has ``customer_id``, ``ms`` and the columns the expressions use.

    >>> views, last, exprs = group_views("purchase")
    >>> last, sorted(exprs)
    ('g_purchase_1', ['last_purchase_ms', 'purchases_30d', 'spend_30d'])
    """
    k = ["customer_id", "ts", "ms"]
    if group == "clickstream":
        # one unbounded window: the counts drop rows older than their span themselves (CXM_COUNT_SINCE), which is
        # cheaper than a 7-day RANGE window retracting them
        v = [
            _over("g_clickstream_1", "dd_clickstream", k, {
                "clicks_7d": count_since("7d"),
                "cancel_page_visits_7d": count_since("7d", f"({_eq('page', 'cancel')})"),
                "help_page_visits_7d": count_since("7d", f"({_eq('page', 'help')})"),
                "clicks_24h": count_since("24h"),
                "clicks_1h": count_since("1h"),
            }, "unbounded"),
        ]
        return v, "g_clickstream_1", {f: f for f in GROUPS[group]}
    if group == "call":
        inbound = "direction = 'inbound'"
        v = [
            _over("g_call_1", "dd_call", [*k, "reason", "sentiment"], {
                "calls_7d": "COUNT(*)",
                "reasons_7d": "COUNT(DISTINCT reason)",
                "inbound_7d": f"SUM({_flag(inbound)})",
                "wait_sum_7d": f"SUM(CASE WHEN {inbound} THEN wait_s ELSE 0.0E0 END)",
                "calls_24h": count_since("24h"),
            }, "7d"),
        ]
        return v, "g_call_1", {
            "calls_24h": "calls_24h",
            "calls_7d": "calls_7d",
            "repeat_calls_7d": "calls_7d - reasons_7d",
            "mean_wait_s_7d": "CASE WHEN inbound_7d > 0 THEN wait_sum_7d / inbound_7d ELSE 0.0E0 END",
            "last_call_sentiment": "sentiment",
            "last_call_reason": "reason",
        }
    if group == "complaint":
        opened = "status = 'opened'"
        tok = (f"CASE WHEN resolved_now = 1 THEN CAST(NULL AS STRING) "
               f"ELSE CONCAT({_pad_ms('COALESCE(first_opened, first_any)')}, '|', complaint_id) END")
        noeta = "CASE WHEN resolved_now = 0 AND eta_now = 0 THEN complaint_id ELSE CAST(NULL AS STRING) END"
        v = [
            # recurrences of the current event's problem: opened events in 30 d with the same problem_id
            _over("g_complaint_1", "dd_complaint", [*k, "complaint_id", "status", "eta_given"],
                  {"problem_recurrences_30d": f"SUM({_flag(opened)})"}, "30d", "customer_id, problem_id"),
            # per complaint, as of t: since (first opened, else first event), resolved seen, ETA seen
            _over("g_complaint_2", "g_complaint_1", [*k, "complaint_id", "status", "problem_recurrences_30d"], {
                "first_opened": f"MIN(CASE WHEN {opened} THEN ms END)",
                "first_any": "MIN(ms)",
                "resolved_now": f"MAX({_flag(_eq('status', 'resolved'))})",
                "eta_now": f"MAX({_flag('eta_given')})",
            }, "unbounded", "customer_id, complaint_id"),
            f"""CREATE TEMPORARY VIEW g_complaint_3 AS
SELECT {', '.join(k)}, complaint_id, status, problem_recurrences_30d, {tok} AS tok, {noeta} AS noeta
FROM g_complaint_2""",
            # the token a complaint contributed before this event (removed from the open set when it changes)
            f"""CREATE TEMPORARY VIEW g_complaint_4 AS
SELECT {', '.join(k)}, status, problem_recurrences_30d, tok, noeta,
  LAG(tok) OVER (PARTITION BY customer_id, complaint_id ORDER BY ts) AS prev_tok,
  LAG(noeta) OVER (PARTITION BY customer_id, complaint_id ORDER BY ts) AS prev_noeta
FROM g_complaint_3""",
            _over("g_complaint_5", "g_complaint_4", [*k, "status", "problem_recurrences_30d"], {
                "open_set": "ARRAY_AGG(tok)",
                "closed_set": "ARRAY_AGG(CASE WHEN prev_tok IS DISTINCT FROM tok THEN prev_tok END)",
                "noeta_set": "ARRAY_AGG(noeta)",
                "noeta_closed": "ARRAY_AGG(CASE WHEN prev_noeta IS DISTINCT FROM noeta THEN prev_noeta END)",
            }, "unbounded"),
            f"""CREATE TEMPORARY VIEW g_complaint_6 AS
SELECT {', '.join(k)}, status, problem_recurrences_30d,
  ARRAY_REMOVE(ARRAY_EXCEPT(open_set, closed_set), CAST(NULL AS STRING)) AS open_toks,
  ARRAY_REMOVE(ARRAY_EXCEPT(noeta_set, noeta_closed), CAST(NULL AS STRING)) AS noeta_ids
FROM g_complaint_5""",
            _over("g_complaint_7", "g_complaint_6", [*k, "status", "problem_recurrences_30d", "open_toks",
                                                     "noeta_ids"],
                  {"complaints_7d": f"SUM({_flag(opened)})"}, "7d"),
            _over("g_complaint_8", "g_complaint_7", [*k, "problem_recurrences_30d", "open_toks", "noeta_ids",
                                                     "complaints_7d"],
                  {"complaints_30d": f"SUM({_flag(opened)})"}, "30d"),
        ]
        return v, "g_complaint_8", {
            "open_complaints": "CAST(CARDINALITY(open_toks) AS BIGINT)",
            "complaints_7d": "complaints_7d",
            "complaints_30d": "complaints_30d",
            "problem_recurrences_30d": "problem_recurrences_30d",
            "eta_given": "CARDINALITY(noeta_ids) = 0",
            "crisis_since_ms":
                "COALESCE(CAST(SPLIT_INDEX(ARRAY_MIN(open_toks), '|', 0) AS BIGINT), CAST(0 AS BIGINT))",
        }
    if group == "gps":
        v = [
            f"CREATE TEMPORARY VIEW g_gps_0 AS\nSELECT {', '.join(k)}, {geofence_condition(stores)} AS inside\n"
            "FROM dd_gps",
            _over("g_gps_1", "g_gps_0", k, {"last_store_visit_ms": "MAX(CASE WHEN inside THEN ms END)"},
                  "unbounded"),
        ]
        return v, "g_gps_1", {"last_store_visit_ms": "COALESCE(last_store_visit_ms, CAST(0 AS BIGINT))"}
    if group == "purchase":
        v = [_over("g_purchase_1", "dd_purchase", k, {
            "spend_30d": "SUM(amount)", "purchases_30d": "COUNT(*)", "last_purchase_ms": "MAX(ms)"}, "30d")]
        return v, "g_purchase_1", {f: f for f in GROUPS[group]}
    if group == "response":
        dlv = "response = 'delivered'"
        r30 = {f"rejects_{a}_30d": count_since("30d", f"({_eq('response', 'rejected')} AND {_eq('action_kind', a)})")
               for a in ACTION_KINDS}

        def contacts(w: str) -> dict[str, str]:
            d = {f"contacts_{w}": count_since(w, f"({dlv})")}
            d.update({f"contacts_{ch}_{w}": count_since(w, f"({dlv} AND channel = {sql_string(ch)})")
                      for ch in CHANNELS})
            return d

        c7, c24 = contacts("7d"), contacts("24h")
        mk = f"{dlv} AND action_kind IN ('marketing', 'upsell')"
        v = [
            # one unbounded window for the 30 d, 7 d and 24 h counts (each drops rows older than its span) and the
            # last marketing contact
            _over("g_response_1", "dd_response", k, {
                **r30, **c7, **c24, "last_marketing_ms": f"MAX(CASE WHEN {mk} THEN ms END)"}, "unbounded"),
        ]
        exprs = {f: f for f in GROUPS[group]}
        exprs["last_marketing_ms"] = "COALESCE(last_marketing_ms, CAST(0 AS BIGINT))"
        return v, "g_response_1", exprs
    if group == "consent":
        # latest by event time, ties by larger event_id: MAX over "ms event_id<SOH>granted" strings
        aggs = {f"c_{ch}": (f"MAX(CASE WHEN channel = {sql_string(ch)} THEN CONCAT({_pad_ms()}, ' ', event_id, "
                            f"CHR(1), CASE WHEN granted THEN '1' ELSE '0' END) END)") for ch in CHANNELS}
        v = [_over("g_consent_1", "dd_consent", k, aggs, "unbounded")]
        return v, "g_consent_1", {
            f"consent_{ch}": f"COALESCE(SPLIT_INDEX(c_{ch}, CHR(1), 1) = '1', TRUE)" for ch in CHANNELS}
    if group == "profile":
        signup = (f"EXTRACT(EPOCH FROM TO_TIMESTAMP(signup_time, '{TIME_FORMAT}')) * 1000 + "
                  f"EXTRACT(MILLISECOND FROM TO_TIMESTAMP(signup_time, '{TIME_FORMAT}'))")
        latest = (f"MAX(CONCAT({_pad_ms()}, ' ', event_id, CHR(1), timezone, CHR(1), preferred_channel, CHR(1), "
                  f"CAST(COALESCE({signup}, 0) AS STRING)))")
        v = [_over("g_profile_1", "dd_profile", k, {"latest": latest}, "unbounded")]
        return v, "g_profile_1", {
            "timezone": "SPLIT_INDEX(latest, CHR(1), 1)",
            "preferred_channel": "SPLIT_INDEX(latest, CHR(1), 2)",
            "signup_ms": "CAST(SPLIT_INDEX(latest, CHR(1), 3) AS BIGINT)",
        }
    raise KeyError(f"unknown group {group!r}")


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
    "Field",
    "changelog_insert",
    "changelog_sink_ddl",
    "check_view",
    "dedup_views",
    "function_ddls",
    "geofence_condition",
    "group_views",
    "kind_fields",
    "late_insert",
    "record_sink_ddl",
    "source_ddl",
]
