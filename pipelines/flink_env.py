"""The feature job's Flink environment: settings -> configuration, and per-operator state TTLs in the plan.

Configuration comes from :class:`cxm.config.Settings` (``CXM_FLINK__*`` env vars) and
:class:`FeatureJobConfig` (``CXM_FEATURE_JOB__*`` env vars); nothing depends on the current directory, so the
same code runs on the local mini-cluster (``python -m pipelines.feature_job``) and under ``flink run -py``.

State and TTLs (processing time, Flink's ``StateTtlConfig`` semantics):

- de-duplication (keyed by ``event_id``): ``dedup_ttl`` (default 15 min), set per operator in the compiled plan
  (:func:`set_state_ttls`);
- everything else with per-customer state (the unbounded OVER aggregates of the complaint lifecycle, consent,
  profile, last store visit / marketing contact): ``state_ttl`` (default 35 days of inactivity), via
  ``table.exec.state.ttl``. Bounded OVER windows (1 h ... 30 d) drop rows older than their range themselves.

>>> c = flink_config(Settings.defaults(), FeatureJobConfig(), "j")
>>> c["table.local-time-zone"], c["table.exec.state.ttl"]
('UTC', '3024000000 ms')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxm.config import Settings

if TYPE_CHECKING:
    from pyflink.table import StreamTableEnvironment

DAY_MS = 86_400_000


class FeatureJobConfig(BaseSettings):
    """Knobs of the feature job beyond ``settings.flink`` (env prefix ``CXM_FEATURE_JOB__``)."""

    model_config = SettingsConfigDict(env_prefix="CXM_FEATURE_JOB__", extra="forbid", frozen=True)

    dedup_ttl_ms: int = Field(
        default=15 * 60_000, ge=1000,
        description="de-dup state per event_id (one entry per event: a day at 20k events/s is 1.7 billion ids)")
    state_ttl_ms: int = Field(default=35 * DAY_MS, ge=1000, description="per-customer state of inactive customers")
    checkpoint_dir: Path | None = Field(default=None, description="file system checkpoint storage (None: job manager)")
    restore_path: Path | None = Field(default=None, description="savepoint / retained checkpoint to resume from")
    plan_path: Path | None = Field(
        default=None,
        description="compiled plan (JSON): written when missing, executed when present; operator ids of a resumed "
        "job must match the checkpoint's, and a fresh compilation does not guarantee that")
    checkpoint_interval_ms: int | None = Field(
        default=None, ge=100,
        description="checkpoint interval of the feature job (None: settings.flink.checkpoint_interval_ms)")
    retain_checkpoints: bool = True
    restart_attempts: int = Field(default=3, ge=0, description="fixed-delay restarts before the job fails")
    watermark_emit: Literal["on-event", "on-periodic"] = Field(
        default="on-periodic",
        description="on-periodic: the watermark advances every pipeline.auto-watermark-interval (200 ms), which "
        "lets the over windows fire timers in batches (about 1.5x the throughput); on-event: with every record, "
        "which makes lateness exact and reproducible in replays (the oracle and restore tests use it)")
    idle_timeout_s: float | None = Field(
        default=None, gt=0,
        description="idle timeout (s) of the event sources in live runs (None: settings.flink.idle_timeout_s); "
        "idle_timeout_by_kind wins over it. The feature job's own, so that it can differ from the decision job's "
        "when both run in one process (pipelines.local_jobs)")
    idle_timeout_by_kind: dict[str, float] = Field(
        default_factory=dict,
        description="idle timeout (s) per kind, overriding settings.flink.idle_timeout_s (5 s) in live runs. "
        "Trade-off: a short timeout keeps features fresh (a quiet partition holds the watermark back for at most "
        "that long: p99 3.4 s at 1 s, 7.2 s at 5 s, 12.2 s at 10 s in bench_freshness), but a partition whose "
        "records wait longer than that (behind a stall of the job, or their turn in a backlog) is declared idle "
        "and its records become late. "
        "Bounded replays have no idleness at all.")
    fetch_bytes_per_partition: int = Field(
        default=262_144, ge=1024,
        description="max.partition.fetch.bytes of the event sources: smaller fetches interleave the partitions")
    buffer_timeout_ms: int = Field(
        default=100, ge=0,
        description="how long a half-empty network buffer waits (Flink's default; 10 ms cost ~20% throughput in "
        "bench_features, 20 ms ~11% of bench_e2e's end-to-end rate)")
    watermark_interval_ms: int = Field(
        default=200, ge=1,
        description="pipeline.auto-watermark-interval: how often periodic watermarks advance (the over windows "
        "emit when they do: up to this long is added to a feature's latency)")
    job_name: str = "cxm-features"
    group_id: str = "cxm-features"


def flink_config(settings: Settings, job: FeatureJobConfig, job_name: str | None = None) -> dict[str, str]:
    """Extra configuration of the feature job (on top of ``pipelines.tableenv.job_config``).

    Its own checkpoint interval, when set, wins over ``settings.flink.checkpoint_interval_ms``:

    >>> s = Settings.defaults()
    >>> flink_config(s, FeatureJobConfig(checkpoint_interval_ms=30_000))["execution.checkpointing.interval"]
    '30000 ms'
    >>> "execution.checkpointing.interval" in flink_config(s, FeatureJobConfig())
    False
    """
    conf: dict[str, str] = {
        "pipeline.name": job_name or job.job_name,
        "table.local-time-zone": "UTC",
        "table.exec.state.ttl": f"{job.state_ttl_ms} ms",
        # SQL operators do not keep references to records they emitted: chained operators can share objects
        # instead of copying every row at every chained operator boundary
        "pipeline.object-reuse": "true",
        # a network buffer is sent when full or after this long (default 100 ms, per keyed exchange)
        "execution.buffer-timeout.interval": f"{job.buffer_timeout_ms} ms",
        "pipeline.auto-watermark-interval": f"{job.watermark_interval_ms} ms",
        "table.optimizer.reuse-source-enabled": "true",
        "table.optimizer.reuse-sub-plan-enabled": "true",
        "pipeline.operator-chaining.enabled": "true",
    }
    if job.restart_attempts == 0:
        conf["restart-strategy.type"] = "none"
    else:
        conf["restart-strategy.type"] = "fixed-delay"
        conf["restart-strategy.fixed-delay.attempts"] = str(job.restart_attempts)
        conf["restart-strategy.fixed-delay.delay"] = "2 s"
    if job.idle_timeout_s is not None:
        conf["table.exec.source.idle-timeout"] = f"{round(job.idle_timeout_s * 1000)} ms"
    if job.checkpoint_interval_ms is not None:
        conf["execution.checkpointing.interval"] = f"{job.checkpoint_interval_ms} ms"
    if job.checkpoint_dir is not None:
        conf["execution.checkpointing.dir"] = job.checkpoint_dir.resolve().as_uri()
        conf["execution.checkpointing.num-retained"] = "2"
    if job.retain_checkpoints:
        conf["execution.checkpointing.externalized-checkpoint-retention"] = "RETAIN_ON_CANCELLATION"
    if job.restore_path is not None:
        conf["execution.state-recovery.path"] = job.restore_path.resolve().as_uri()
    return conf


def create_env(settings: Settings, job: FeatureJobConfig, job_name: str | None = None,
               extra: dict[str, str] | None = None) -> StreamTableEnvironment:
    """A streaming table environment for the feature job."""
    from pipelines.tableenv import create_table_env

    conf = flink_config(settings, job, job_name)
    conf.update(extra or {})
    return create_table_env(settings, conf["pipeline.name"], conf)


def set_state_ttls(plan_json: str, ttl_by_node: dict[str, int]) -> tuple[str, dict[str, int]]:
    """Set the state TTL of the nodes of a compiled plan whose type starts with a key of ``ttl_by_node``.

    Returns the new plan and how many state entries were changed per node type prefix.

    >>> plan = json.dumps({"nodes": [{"type": "stream-exec-deduplicate_1", "state": [{"ttl": "0 ms"}]},
    ...                              {"type": "stream-exec-calc_1"}]})
    >>> new, n = set_state_ttls(plan, {"stream-exec-deduplicate": 1000})
    >>> json.loads(new)["nodes"][0]["state"][0]["ttl"], n
    ('1000 ms', {'stream-exec-deduplicate': 1})
    """
    doc: dict[str, Any] = json.loads(plan_json)
    changed = {k: 0 for k in ttl_by_node}
    for node in doc.get("nodes", []):
        for prefix, ttl in ttl_by_node.items():
            if str(node.get("type", "")).startswith(prefix):
                for st in node.get("state", []) or []:
                    st["ttl"] = f"{int(ttl)} ms"
                    changed[prefix] += 1
    return json.dumps(doc), changed


def set_kafka_source_options(plan_json: str, options: dict[str, str]) -> tuple[str, int]:
    """Add options to every Kafka *source* table of a compiled plan (e.g. a bounded end for a resumed run:
    the node ids, hence the operator ids the checkpoint refers to, stay the same).

    >>> plan = json.dumps({"nodes": [{"type": "stream-exec-table-source-scan_1", "scanTableSource": {"table": {
    ...     "resolvedTable": {"options": {"connector": "kafka", "scan.startup.mode": "earliest-offset"}}}}}]})
    >>> new, n = set_kafka_source_options(plan, {"scan.bounded.mode": "latest-offset"})
    >>> n, "latest-offset" in new
    (1, True)
    """
    doc: dict[str, Any] = json.loads(plan_json)
    count = 0

    def visit(node: Any) -> None:
        nonlocal count
        if isinstance(node, dict):
            opts = node.get("options")
            if isinstance(opts, dict) and opts.get("connector") == "kafka" and "scan.startup.mode" in opts:
                opts.update(options)
                count += 1
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    for node in doc.get("nodes", []):
        if str(node.get("type", "")).startswith("stream-exec-table-source-scan"):
            visit(node)
    return json.dumps(doc), count
