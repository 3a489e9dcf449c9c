"""The decision job (PyFlink): feature changelog -> per-customer context -> scores + policies -> decisions topic.

Wiring only; the logic lives in :mod:`pipelines.decision_stage` (pure Python, batch) and in SQL generated here.

1. Coalescing (``decisions.coalesce_ms``, default 200 ms; JVM side): ``features.changelog`` (one row per
   customer and feature group, from the feature job) goes through a processing-time TUMBLE window per customer
   that keeps the newest non-NULL value of each feature, the trigger and event time of the newest row and the
   number of rows, so a customer gets at most one decision per interval (``coalesced`` in the record).
2. Merge: ``LAST_VALUE`` over an unbounded per-customer OVER window (ordered by the windows' time; it skips the
   NULLs of the groups a window did not see) gives the full stored context of the customer at the end of the
   window, as an append-only stream. With ``coalesce_ms = 0``, and in a bounded run (``--bounded``: Flink does
   not fire pending processing-time timers at the end of input), the merge runs on every row instead.
3. A **vectorised (pandas) UDF** decides one Arrow batch at a time (derive -> River ``*_many`` scoring ->
   compiled policies), writing decision records keyed by customer to ``decisions``. Delivery is at-least-once
   with deterministic decision ids (readers de-duplicate) or exactly-once with Kafka transactions
   (``CXM_DECISIONS__DELIVERY=exactly-once``; read_committed readers).

Run: ``python -m pipelines.decision_job [--bounded]`` (mini-cluster) or ``flink run -py pipelines/decision_job.py``.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import TYPE_CHECKING, Any

from cxm.config import Settings, load_settings
from features.names import feature_dtype, stored_features

if TYPE_CHECKING:
    from pyflink.table import StreamTableEnvironment, TableResult

    from pipelines.file_io import FileOutput

SQL_TYPES = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "str": "STRING"}

#: Latency/throughput knobs of the decision job (on top of ``pipelines.tableenv.job_config``):
#: - the two keyed exchanges (merge, coalescing window) flush their network buffers every 10 ms instead of
#:   Flink's default 100 ms;
#: - the Python worker gets up to 10,000 coalesced contexts per Arrow batch (one ``decide_frame`` call: scoring
#:   and derivation are vectorised, bigger batches amortise them) but never holds a bundle longer than 50 ms.
#:   Pandas UDFs cannot run in "thread" mode (PyFlink runs only general Python scalar/table functions there).
DECISION_JOB_CONF: dict[str, str] = {
    "execution.buffer-timeout.interval": "10 ms",
    "python.fn-execution.bundle.size": "10000",
    "python.fn-execution.bundle.time": "50",
    "python.fn-execution.arrow.batch.size": "10000",
}


def _cols() -> list[str]:
    return stored_features()


def changelog_source_ddl(s: Settings, group_id: str, bounded: bool) -> str:
    """Source over ``features.changelog``: the ``values`` object is a ROW of every stored feature (NULL when absent).

    >>> ddl = changelog_source_ddl(Settings.defaults(), "g", False)
    >>> "`clicks_1h` BIGINT" in ddl and "'topic' = 'features.changelog'" in ddl
    True
    """
    fields = ", ".join(f"`{c}` {SQL_TYPES[feature_dtype(c)]}" for c in _cols())
    bounded_opt = "'scan.bounded.mode' = 'latest-offset'," if bounded else ""
    return f"""
        CREATE TEMPORARY TABLE changelog (
            customer_id STRING,
            `group` STRING,
            event_ts_ms BIGINT,
            `values` ROW<{fields}>,
            proc AS PROCTIME()
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{s.topics.features}',
            'properties.bootstrap.servers' = '{s.kafka.bootstrap}',
            'properties.group.id' = '{group_id}',
            'scan.startup.mode' = 'earliest-offset',
            {bounded_opt}
            'format' = 'json',
            'json.fail-on-missing-field' = 'false',
            'json.ignore-parse-errors' = 'true'
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
            {eos}
            'sink.delivery-guarantee' = '{guarantee}'
        )"""


def contexts_view() -> str:
    """Merge the groups' rows per customer: the full stored context after every changelog row.

    ``LAST_VALUE`` skips NULLs, so over an unbounded OVER window ordered by arrival each feature keeps its
    latest value: an append-only stream of full contexts (state = one accumulator per customer, no rows).
    """
    cols = ",\n".join(f"LAST_VALUE(`values`.`{c}`) OVER w AS `{c}`" for c in _cols())
    return f"""
        CREATE TEMPORARY VIEW contexts AS
        SELECT customer_id, `group` AS `trigger`, event_ts_ms, proc,
               {cols}
        FROM changelog
        WHERE customer_id IS NOT NULL AND event_ts_ms IS NOT NULL
        WINDOW w AS (PARTITION BY customer_id ORDER BY proc ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""


def coalesced_view(coalesce_ms: int) -> str:
    """Coalesce the raw changelog per customer and processing-time window, then merge the windows' rows.

    The TUMBLE window keeps per customer and window the newest non-NULL value of each feature, the trigger and
    event time of the newest row and the number of rows; the unbounded OVER window (ordered by the windows'
    processing time) then merges them with the customer's earlier windows, exactly like :func:`contexts_view`
    does per row, so the result is the customer's full context at the end of the window. Coalescing first keeps
    the per-row work in the JVM to the window's buffer: the merge runs once per customer and window.
    """
    last = ",\n".join(f"LAST_VALUE(`values`.`{c}`) AS `{c}`" for c in _cols())
    merged = ",\n".join(f"LAST_VALUE(`{c}`) OVER w AS `{c}`" for c in _cols())
    return f"""
        CREATE TEMPORARY VIEW coalesced AS
        SELECT customer_id, `trigger`, event_ts_ms, `rows`,
               {merged}
        FROM (
            SELECT customer_id, window_time, COUNT(*) AS `rows`, LAST_VALUE(`group`) AS `trigger`,
                   LAST_VALUE(event_ts_ms) AS event_ts_ms,
                   {last}
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
    args = ", ".join(["customer_id", "`trigger`", "event_ts_ms", "`rows`", *(f"`{c}`" for c in _cols())])
    if coalesce_ms <= 0:
        inner = "SELECT customer_id, `trigger`, event_ts_ms, CAST(1 AS BIGINT) AS `rows`, " \
            f"{', '.join(f'`{c}`' for c in _cols())} FROM contexts"
    else:
        inner = "SELECT * FROM coalesced"
    return f"""
        INSERT INTO decisions_sink
        SELECT customer_id, decide({args})
        FROM ({inner})"""


def make_decide_udf(s: Settings) -> Any:
    """The vectorised UDF: a pandas batch of contexts in, a batch of JSON decision records out."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import FunctionContext, ScalarFunction, udf

    names = ["customer_id", "trigger", "event_ts_ms", "rows", *_cols()]
    policy_dir, models_dir, refresh_s = s.decisions.policy_dir, s.decisions.models_dir, s.decisions.refresh_s

    class Decide(ScalarFunction):
        def open(self, function_context: FunctionContext) -> None:
            from pipelines.decision_stage import DecisionStage

            self.stage = DecisionStage.from_dirs(policy_dir, models_dir, refresh_s)
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

            frame = pd.DataFrame(dict(zip(names, cols, strict=True)))
            records = self.stage.decide_frame(frame)
            self.total.inc(len(records))
            # counted per batch, one counter update per key (not per record)
            actions = Counter(r["action_id"] or "no_action" for r in records)
            blocked = Counter(
                str(c["policy"])
                for r in records
                for c in r["candidates"]
                if c["status"] == "blocked" and c.get("policy")
            )
            self.degraded.inc(sum(1 for r in records if not r["context_known"]))
            for key, n in actions.items():
                self._count("action", key, n)
            for key, n in blocked.items():
                self._count("blocked", key, n)
            opt = orjson.OPT_SERIALIZE_NUMPY
            return pd.Series([orjson.dumps(r, option=opt).decode() for r in records], dtype=object)

    input_types = [DataTypes.STRING(), DataTypes.STRING(), DataTypes.BIGINT(), DataTypes.BIGINT()]
    type_of = {
        "int": DataTypes.BIGINT(),
        "float": DataTypes.DOUBLE(),
        "bool": DataTypes.BOOLEAN(),
        "str": DataTypes.STRING(),
    }
    input_types += [type_of[feature_dtype(c)] for c in _cols()]
    return udf(Decide(), input_types=input_types, result_type=DataTypes.STRING(), func_type="pandas")


def build(s: Settings, bounded: bool, job_name: str = "cxm-decisions",
          output: FileOutput | None = None) -> tuple[StreamTableEnvironment, Any]:
    """The table environment and statement set of the decision job (``output``: also JSON-lines files)."""
    from pipelines.tableenv import create_table_env

    tag = uuid.uuid4().hex[:8]
    t_env = create_table_env(s, job_name, DECISION_JOB_CONF)
    t_env.create_temporary_function("decide", make_decide_udf(s))
    t_env.execute_sql(changelog_source_ddl(s, f"cxm-decisions-{tag}", bounded))
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
