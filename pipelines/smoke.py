"""The smoke pipeline: Kafka JSON events -> Flink SQL + one Python UDF -> Kafka.

It proves the wiring every real job relies on (the Kafka connector jar, the Python worker, the broker) on the
local mini-cluster (``python -m pipelines.smoke``) and on the standalone cluster
(``flink run -py pipelines/smoke.py``). Input records are ``{"customer_id", "kind", "amount", "event_time"}``;
output records add ``amount_x2`` (SQL) and ``band`` (the Python UDF :func:`amount_band`).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import TYPE_CHECKING

from cxm.config import Settings, load_settings

if TYPE_CHECKING:
    from pyflink.table import TableEnvironment, TableResult


def amount_band(amount: float | None) -> str:
    """The band of an amount, the smoke job's Python transformation.

    >>> amount_band(5.0), amount_band(50.0), amount_band(500.0), amount_band(None)
    ('small', 'medium', 'large', 'unknown')
    """
    if amount is None:
        return "unknown"
    if amount < 10:
        return "small"
    if amount < 100:
        return "medium"
    return "large"


def source_ddl(settings: Settings, topic: str, group_id: str, bounded: bool) -> str:
    """DDL of the smoke source table.

    >>> "'scan.bounded.mode' = 'latest-offset'" in source_ddl(Settings.defaults(), "t", "g", True)
    True
    """
    bounded_opt = "'scan.bounded.mode' = 'latest-offset'," if bounded else ""
    return f"""
        CREATE TEMPORARY TABLE smoke_in (
            customer_id STRING,
            kind STRING,
            amount DOUBLE,
            event_time STRING
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{topic}',
            'properties.bootstrap.servers' = '{settings.kafka.bootstrap}',
            'properties.group.id' = '{group_id}',
            'scan.startup.mode' = 'earliest-offset',
            {bounded_opt}
            'format' = 'json',
            'json.fail-on-missing-field' = 'false'
        )"""


def sink_ddl(settings: Settings, topic: str) -> str:
    return f"""
        CREATE TEMPORARY TABLE smoke_out (
            customer_id STRING,
            kind STRING,
            amount DOUBLE,
            amount_x2 DOUBLE,
            band STRING,
            event_time STRING
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{topic}',
            'properties.bootstrap.servers' = '{settings.kafka.bootstrap}',
            'format' = 'json',
            'sink.delivery-guarantee' = 'at-least-once'
        )"""


SMOKE_QUERY = """
    INSERT INTO smoke_out
    SELECT customer_id, UPPER(kind), amount, amount * 2, amount_band(amount), event_time
    FROM smoke_in
"""


def build(settings: Settings, in_topic: str, out_topic: str, bounded: bool = True) -> TableEnvironment:
    """A TableEnvironment with the smoke source, sink and UDF registered."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    from pipelines.tableenv import create_table_env

    t_env = create_table_env(settings, job_name="cxm-smoke")
    t_env.create_temporary_function(
        "amount_band",
        udf(amount_band, result_type=DataTypes.STRING()),
    )
    t_env.execute_sql(source_ddl(settings, in_topic, f"cxm-smoke-{uuid.uuid4().hex[:8]}", bounded))
    t_env.execute_sql(sink_ddl(settings, out_topic))
    return t_env


def run(
    settings: Settings, in_topic: str, out_topic: str, bounded: bool = True, wait: bool = True
) -> TableResult:
    """Run the smoke job; with ``wait`` it blocks until the bounded input is consumed."""
    t_env = build(settings, in_topic, out_topic, bounded)
    result = t_env.execute_sql(SMOKE_QUERY)
    if wait:
        result.wait()
    return result


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in-topic", default=settings.topics.smoke_in)
    parser.add_argument("--out-topic", default=settings.topics.smoke_out)
    parser.add_argument("--unbounded", action="store_true")
    args = parser.parse_args(argv)
    run(settings, args.in_topic, args.out_topic, bounded=not args.unbounded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
