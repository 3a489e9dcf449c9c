"""The decision job (PyFlink): feature changelog -> per-customer context -> scores + policies -> decisions topic.

Wiring only; the logic lives in :mod:`pipelines.decision_stage` (pure Python, batch) and in SQL generated here.

0. Source: ``features.changelog`` (one row per customer and feature group, from the feature job) is read with the
   ``raw`` format: ``customer_id`` and the group come from the key (``customer_id|group``), the event time from
   the value by ``CXM_JSON_LONG`` (a streaming parser that stops at ``event_ts_ms``), and the value text is
   carried through the JVM as one opaque string per row: no JSON-to-ROW decoding of the ~80 features there.
1. Coalescing (``decisions.coalesce_ms``, default 200 ms; JVM side): a processing-time TUMBLE window per
   customer keeps the newest value text of each group (one column per group), the trigger and event time of
   the newest row and the number of rows, so a customer gets at most one decision per interval (``coalesced``
   in the record).
2. Merge: ``LAST_VALUE`` over an unbounded per-customer OVER window (ordered by the windows' time; it skips the
   NULLs of the groups a window did not see) gives the newest text of every group of the customer at the end
   of the window, as an append-only stream. With ``coalesce_ms = 0``, and in a bounded run (``--bounded``:
   Flink does not fire pending processing-time timers at the end of input), the merge runs on every row instead.
3. A **vectorised (pandas) UDF** parses the group texts into the stored features
   (:func:`pipelines.decision_stage.stored_frame`) and decides one Arrow batch at a time (derive -> River
   ``*_many`` scoring -> compiled policies), writing decision records keyed by customer to ``decisions``.
   Delivery is at-least-once with deterministic decision ids (readers de-duplicate) or exactly-once with Kafka
   transactions (``CXM_DECISIONS__DELIVERY=exactly-once``; read_committed readers).

Run: ``python -m pipelines.decision_job [--bounded]`` (mini-cluster) or ``flink run -py pipelines/decision_job.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cxm.config import Settings, load_settings
from features.names import GROUPS

if TYPE_CHECKING:
    from pyflink.table import StreamTableEnvironment, TableResult

    from pipelines.file_io import FileOutput

#: Latency/throughput knobs of the decision job (on top of ``pipelines.tableenv.job_config``):
#: - the two keyed exchanges (merge, coalescing window) flush their network buffers every 10 ms instead of
#:   Flink's default 100 ms;
#: - chained operators pass rows without copying them (object reuse);
#: - the Python worker gets up to 10,000 coalesced contexts per Arrow batch (one ``decide_frame`` call: scoring
#:   and derivation are vectorised, bigger batches amortise them) but never holds a bundle longer than 50 ms.
#:   Pandas UDFs cannot run in "thread" mode (PyFlink runs only general Python scalar/table functions there).
DECISION_JOB_CONF: dict[str, str] = {
    # chained SQL operators hand rows on without a deep copy (the value texts are most of a row's bytes; the
    # copies were the largest item of the JVM profile); Flink's SQL operators copy what they keep themselves
    "pipeline.object-reuse": "true",
    "execution.buffer-timeout.interval": "10 ms",
    "python.fn-execution.bundle.size": "10000",
    "python.fn-execution.bundle.time": "50",
    "python.fn-execution.arrow.batch.size": "10000",
}


#: The decisions producer waits up to this long to fill a batch (Kafka's default 0 sends many small requests:
#: the producer's network thread was an eighth of the job's JVM profile).
SINK_LINGER_MS = 5


def group_column(group: str) -> str:
    """The column that carries a group's newest changelog value text through the coalescing and merge windows.

    >>> group_column("clickstream")
    'v_clickstream'
    """
    if group not in GROUPS:
        raise KeyError(f"unknown feature group {group!r}")
    return f"v_{group}"


def _group_cols() -> list[str]:
    return [group_column(g) for g in GROUPS]


def _group_last(expr: str, suffix: str = "") -> str:
    """One ``LAST_VALUE`` per group over the rows' value texts (``expr``: SQL of the text, ``grp`` the group)."""
    return ",\n".join(f"LAST_VALUE(CASE WHEN grp = '{g}' THEN {expr} END){suffix} AS `{group_column(g)}`"
                      for g in GROUPS)


def changelog_source_ddl(s: Settings, group_id: str, bounded: bool) -> str:
    """Source over ``features.changelog`` with the ``raw`` format for key and value: ``customer_id`` and ``grp``
    from the key ``customer_id|group`` (from the value when the key has no ``|``: producers keyed by customer),
    ``event_ts_ms`` read from the value by ``CXM_JSON_LONG`` (NULL when missing or not JSON before it: such rows
    are dropped), ``v`` the value text (``{"customer_id", "group", "event_ts_ms", "values"}``) untouched. The rest
    of the text is not validated here: a value broken after ``event_ts_ms`` is kept, and the UDF reads that
    group as missing (its defaults) until the customer's next row of the group (the JSON-format source used to
    drop such a row).

    >>> ddl = changelog_source_ddl(Settings.defaults(), "g", False)
    >>> "CXM_JSON_LONG(v, 'event_ts_ms')" in ddl and "'topic' = 'features.changelog'" in ddl
    True
    """
    bounded_opt = "'scan.bounded.mode' = 'latest-offset'," if bounded else ""
    # CASE (not COALESCE): the value is only parsed for keys without a group
    keyed = "POSITION('|' IN k) > 0"
    return f"""
        CREATE TEMPORARY TABLE changelog (
            k STRING,
            v STRING,
            customer_id AS CASE WHEN {keyed} THEN SPLIT_INDEX(k, '|', 0)
                                ELSE COALESCE(NULLIF(k, ''), CXM_JSON_FIELD(v, 'customer_id')) END,
            grp AS CASE WHEN {keyed} THEN SPLIT_INDEX(k, '|', 1) ELSE CXM_JSON_FIELD(v, 'group') END,
            event_ts_ms AS CXM_JSON_LONG(v, 'event_ts_ms'),
            proc AS PROCTIME()
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{s.topics.features}',
            'properties.bootstrap.servers' = '{s.kafka.bootstrap}',
            'properties.group.id' = '{group_id}',
            'scan.startup.mode' = 'earliest-offset',
            {bounded_opt}
            'key.format' = 'raw',
            'key.fields' = 'k',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )"""


def decisions_sink_ddl(s: Settings, job_tag: str) -> str:
    d = s.decisions
    guarantee = d.delivery
    eos = (
        f"'sink.transactional-id-prefix' = 'cxm-decisions-{job_tag}',"
        f"'properties.transaction.timeout.ms' = '{d.transaction_timeout_ms}',"
        if guarantee == "exactly-once"
        else ""
    )
    return f"""
        CREATE TEMPORARY TABLE decisions_sink (
            customer_id STRING,
            record STRING
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{s.topics.decisions}',
            'properties.bootstrap.servers' = '{s.kafka.bootstrap}',
            'key.format' = 'raw',
            'key.fields' = 'customer_id',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY',
            'properties.linger.ms' = '{SINK_LINGER_MS}',
            {eos}
            'sink.delivery-guarantee' = '{guarantee}'
        )"""


def contexts_view() -> str:
    """Merge the groups' rows per customer: the newest value text of every group after every changelog row.

    ``LAST_VALUE`` skips NULLs, so over an unbounded OVER window ordered by arrival each group column keeps its
    latest text: an append-only stream of full contexts (state = one accumulator per customer, no rows).

    >>> "LAST_VALUE(CASE WHEN grp = 'gps' THEN v END) OVER w AS `v_gps`" in contexts_view()
    True
    """
    return f"""
        CREATE TEMPORARY VIEW contexts AS
        SELECT customer_id, grp AS `trigger`, event_ts_ms, proc,
               {_group_last("v", " OVER w")}
        FROM changelog
        WHERE customer_id IS NOT NULL AND event_ts_ms IS NOT NULL
        WINDOW w AS (PARTITION BY customer_id ORDER BY proc ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""


def coalesced_view(coalesce_ms: int) -> str:
    """Coalesce the raw changelog per customer and processing-time window, then merge the windows' rows.

    The TUMBLE window keeps per customer and window the newest value text of each group, the trigger and
    event time of the newest row and the number of rows; the unbounded OVER window (ordered by the windows'
    processing time) then merges them with the customer's earlier windows, exactly like :func:`contexts_view`
    does per row, so the result is the customer's full context at the end of the window. Coalescing first keeps
    the per-row work in the JVM to the window's buffer: the merge runs once per customer and window.

    >>> sql = coalesced_view(200)
    >>> "INTERVAL '0.200' SECOND" in sql, sql.count("LAST_VALUE(CASE WHEN grp"), sql.count("OVER w")
    (True, 8, 8)
    """
    merged = ",\n".join(f"LAST_VALUE(`{c}`) OVER w AS `{c}`" for c in _group_cols())
    return f"""
        CREATE TEMPORARY VIEW coalesced AS
        SELECT customer_id, `trigger`, event_ts_ms, `rows`,
               {merged}
        FROM (
            SELECT customer_id, window_time, COUNT(*) AS `rows`, LAST_VALUE(grp) AS `trigger`,
                   LAST_VALUE(event_ts_ms) AS event_ts_ms,
                   {_group_last("v")}
            FROM TABLE(TUMBLE(TABLE changelog, DESCRIPTOR(proc), INTERVAL '{coalesce_ms / 1000:.3f}' SECOND))
            WHERE customer_id IS NOT NULL AND event_ts_ms IS NOT NULL
            GROUP BY customer_id, window_start, window_end, window_time
        )
        WINDOW w AS (PARTITION BY customer_id ORDER BY window_time
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""


def decisions_query(coalesce_ms: int = 200) -> str:
    """Decide on the merged contexts, at most once per customer per ``coalesce_ms`` of processing time.

    With ``coalesce_ms > 0`` Python sees one row per active customer and window (:func:`coalesced_view`: the
    latest full context, the trigger and event time of the newest row, how many rows it covers);
    ``coalesce_ms = 0`` decides on every changelog row (:func:`contexts_view`).

    >>> "FROM coalesced" in decisions_query(200), "FROM contexts" in decisions_query(0)
    (True, True)
    """
    groups = ", ".join(f"`{c}`" for c in _group_cols())
    args = f"customer_id, `trigger`, event_ts_ms, `rows`, {groups}"
    if coalesce_ms <= 0:
        inner = f"SELECT customer_id, `trigger`, event_ts_ms, CAST(1 AS BIGINT) AS `rows`, {groups} FROM contexts"
    else:
        inner = "SELECT * FROM coalesced"
    return f"""
        INSERT INTO decisions_sink
        SELECT customer_id, decide({args})
        FROM ({inner})"""


#: The UDF's arguments before the group texts (then one text column per group, in ``GROUPS`` order).
UDF_META = ("customer_id", "trigger", "event_ts_ms", "rows")


def udf_frame(cols: Sequence[Any]) -> Any:
    """The frame ``DecisionStage.decide_frame`` takes, from the pandas columns the UDF receives (``UDF_META``, then
    the newest value text of each group, in ``GROUPS`` order).

    >>> import pandas as pd
    >>> texts = [pd.Series([None]) for _ in GROUPS]
    >>> texts[list(GROUPS).index("gps")] = pd.Series(['{"values": {"last_store_visit_ms": 7}}'])
    >>> df = udf_frame([pd.Series(["c1"]), pd.Series(["gps"]), pd.Series([9]), pd.Series([1]), *texts])
    >>> [str(df.loc[0, c]) for c in ("customer_id", "trigger", "event_ts_ms", "last_store_visit_ms")]
    ['c1', 'gps', '9', '7']
    >>> udf_frame([pd.Series(["c1"]), pd.Series(["gps"]), pd.Series([9]), 1, *texts])["rows"].tolist()
    [1]
    """
    from pipelines.decision_stage import stored_frame

    if len(cols) != len(UDF_META) + len(GROUPS):
        raise ValueError(f"expected {len(UDF_META) + len(GROUPS)} columns, got {len(cols)}")
    n = len(cols[0])
    frame = stored_frame({g: c.tolist() for g, c in zip(GROUPS, cols[len(UDF_META):], strict=True)}, n)
    for name, c in zip(UDF_META, cols[: len(UDF_META)], strict=True):
        # a constant argument (``CAST(1 AS BIGINT)``: the per-row path's ``rows``) arrives as a scalar
        frame[name] = c.to_numpy() if hasattr(c, "to_numpy") else [c] * n
    return frame


def make_decide_udf(s: Settings) -> Any:
    """The vectorised UDF: a pandas batch of contexts (``customer_id``, ``trigger``, ``event_ts_ms``, ``rows`` and
    the newest value text of each group) in, a batch of JSON decision records out."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import FunctionContext, ScalarFunction, udf

    policy_dir, models_dir, refresh_s = s.decisions.policy_dir, s.decisions.models_dir, s.decisions.refresh_s

    class Decide(ScalarFunction):
        def open(self, function_context: FunctionContext) -> None:
            from cxm.heap import freeze_startup_heap
            from pipelines.decision_stage import DecisionStage

            self.stage = DecisionStage.from_dirs(policy_dir, models_dir, refresh_s)
            # the worker's imports, models and policies stay out of the cyclic collector's full scans (those
            # were ~40% of the per-decision Python time: cxm.heap)
            freeze_startup_heap()
            # Metrics (exposed by the Prometheus reporter): decisions by action, blocked candidates by policy,
            # decisions made without scores (a dead model dependency).
            self.metrics = function_context.get_metric_group().add_group("cxm")
            self.counters: dict[tuple[str, str], Any] = {}
            self.total = self.metrics.counter("decisions")
            self.degraded = self.metrics.counter("decisions_degraded")

        def _count(self, group: str, key: str, n: int) -> None:
            counter = self.counters.get((group, key))
            if counter is None:
                counter = self.metrics.add_group(group, key).counter("count")
                self.counters[(group, key)] = counter
            counter.inc(n)

        def eval(self, *cols: Any) -> Any:
            from collections import Counter

            import orjson
            import pandas as pd

            from rules.decision import blocked_by_policy

            records = self.stage.decide_frame(udf_frame(cols))
            self.total.inc(len(records))
            # counted per batch, one counter update per key (not per record)
            actions = Counter(r["action_id"] or "no_action" for r in records)
            blocked = blocked_by_policy(r["candidates"] for r in records)
            self.degraded.inc(sum(1 for r in records if not r["context_known"]))
            for key, n in actions.items():
                self._count("action", key, n)
            for key, n in blocked.items():
                self._count("blocked", key, n)
            opt = orjson.OPT_SERIALIZE_NUMPY
            return pd.Series([orjson.dumps(r, option=opt).decode() for r in records], dtype=object)

    input_types = [DataTypes.STRING(), DataTypes.STRING(), DataTypes.BIGINT(), DataTypes.BIGINT()]
    input_types += [DataTypes.STRING() for _ in GROUPS]
    return udf(Decide(), input_types=input_types, result_type=DataTypes.STRING(), func_type="pandas")


def build(s: Settings, bounded: bool, job_name: str = "cxm-decisions",
          output: FileOutput | None = None) -> tuple[StreamTableEnvironment, Any]:
    """The table environment and statement set of the decision job (``output``: also JSON-lines files)."""
    from pipelines.feature_sql import function_ddls
    from pipelines.tableenv import create_table_env

    tag = uuid.uuid4().hex[:8]
    conf = dict(DECISION_JOB_CONF)
    if s.decisions.parallelism is not None:
        conf["parallelism.default"] = str(s.decisions.parallelism)
        if s.decisions.parallelism > 1:
            # PyFlink's switch (read when the job is submitted) between Python workers as threads of this process
            # ("loopback", its default on a mini-cluster) and one process per subtask, as on a cluster
            os.environ.setdefault("_python_worker_execution_mode", "process")
    t_env = create_table_env(s, job_name, conf)
    t_env.create_temporary_function("decide", make_decide_udf(s))
    for ddl in function_ddls():  # CXM_JSON_LONG / CXM_JSON_FIELD of the source's computed columns
        t_env.execute_sql(ddl)
    t_env.execute_sql(changelog_source_ddl(s, s.decisions.group_id or f"cxm-decisions-{tag}", bounded))
    t_env.execute_sql(decisions_sink_ddl(s, tag))
    coalesce_ms = 0 if bounded else s.decisions.coalesce_ms
    t_env.execute_sql(coalesced_view(coalesce_ms) if coalesce_ms > 0 else contexts_view())
    stmts = t_env.create_statement_set()
    # Flink quiesces pending processing-time timers at the end of a bounded input (the last window would never
    # fire), so a bounded run decides on every row.
    stmts.add_insert_sql(decisions_query(coalesce_ms))
    if output is not None:
        from pipelines.file_io import add_decisions_file_insert

        add_decisions_file_insert(t_env, stmts, decisions_query(coalesce_ms), output)
    return t_env, stmts


def run(s: Settings, bounded: bool = False, wait: bool = True, output: FileOutput | None = None) -> TableResult:
    _, stmts = build(s, bounded, output=output)
    result = stmts.execute()
    if wait:
        result.wait()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bounded", action="store_true", help="stop at the current end of the input topics")
    parser.add_argument("--no-wait", action="store_true", help="return after submission (with flink run -d)")
    args = parser.parse_args(argv)
    from pipelines.file_io import FileIOConfig

    # CXM_FILE_IO__OUTPUT: the decisions also go to JSON-lines files
    run(load_settings(), bounded=args.bounded, wait=not args.no_wait, output=FileIOConfig().file_output())
    return 0


if __name__ == "__main__":
    sys.exit(main())
