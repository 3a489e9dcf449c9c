"""SQL of the feature groups: the OVER windows that turn a kind's on-time, de-duplicated events (``dd_<kind>``)
into its features (pure functions, no Flink import; the job's other statements are in
:mod:`pipelines.feature_sql`).

Each group is one or a few chained OVER windows (one window per SELECT), partitioned by customer and ordered by
event time; shorter ranges inside one window are counted by the project's ``CXM_COUNT_SINCE`` (Java).

>>> "RANGE BETWEEN INTERVAL '7' DAY PRECEDING" in over_window("7d")
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from features.names import ACTION_KINDS, CHANNELS, GROUPS
from pipelines.sql_text import TIME_FORMAT, sql_double, sql_string

WINDOWS: dict[str, str] = {
    "1h": "INTERVAL '1' HOUR",
    "24h": "INTERVAL '24' HOUR",
    "7d": "INTERVAL '7' DAY",
    "30d": "INTERVAL '30' DAY",
}
SPAN_MS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000}


def count_since(span: str, cond: str = "TRUE") -> str:
    """Rows with ``cond`` within ``span`` of the current row, inside a longer OVER window (one operator and one
    shuffle for all of a group's ranges).

    >>> count_since("24h")
    'CXM_COUNT_SINCE(ms, CAST(86400000 AS BIGINT), TRUE)'
    """
    return f"CXM_COUNT_SINCE(ms, CAST({SPAN_MS[span]} AS BIGINT), {cond})"

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
