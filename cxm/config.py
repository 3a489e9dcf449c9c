"""Typed configuration for every job, service and tool of the project.

One place, pydantic models with ``extra="forbid"``; every field can be overridden from the environment with
the ``CXM_`` prefix and ``__`` between nested names, e.g. ``CXM_KAFKA__BOOTSTRAP=host:9092`` or
``CXM_FEAST__ONLINE_STORE=redis``. Nothing is read at import time: call :func:`load_settings`.

>>> s = Settings.defaults()
>>> s.kafka.bootstrap
'127.0.0.1:9092'
>>> s.topics.dead_letter
'events.deadletter'
>>> Settings.defaults().model_copy(update={"kafka": KafkaSettings(port=19092)}).kafka.bootstrap
'127.0.0.1:19092'
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, computed_field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

EVENT_KINDS: tuple[str, ...] = (
    "clickstream",
    "call",
    "complaint",
    "gps",
    "purchase",
    "response",
    "outcome",
    "consent",
    "profile",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    heap: str = "768m"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


class RedisSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = 6379

    @computed_field  # type: ignore[prop-decorator]
    @property
    def connection_string(self) -> str:
        return f"{self.host}:{self.port}"


class TopicSpec(_Strict):
    """One topic of the declarative list in ``infra/topics.yaml``."""

    name: str
    partitions: int = Field(default=2, ge=1)
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=-1)
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"


class TopicNames(_Strict):
    """Names of the topics the jobs use (their specs live in ``infra/topics.yaml``)."""

    events_prefix: str = "events."
    dead_letter: str = "events.deadletter"
    late: str = "events.late"
    features: str = "features.changelog"
    decisions: str = "decisions"
    smoke_in: str = "smoke.in"
    smoke_out: str = "smoke.out"

    def events(self, kind: str) -> str:
        """Topic of one event kind.

        >>> TopicNames().events("call")
        'events.call'
        """
        return f"{self.events_prefix}{kind}"

    def all_events(self) -> list[str]:
        return [self.events(k) for k in EVENT_KINDS]


class FeastSettings(_Strict):
    repo_path: Path = REPO_ROOT / "features"
    online_store: Literal["sqlite", "redis"] = "sqlite"
    project: str = "cx_membrane"


#: HotSpot's compile thresholds times 10: a method is compiled by C1 and then C2 after 10x as many calls and loop
#: iterations. The per-row code of the jobs is called millions of times and is still compiled within seconds; what
#: no longer reaches C2 is the lukewarm code of the start (Janino compiling the generated operators, Calcite,
#: Java deserialisation of the job graph, the Kafka clients' set-up), which is run for a bounded number of times.
#: C2 was the largest item of the one-JVM profile: 31-35 of ~115 JVM CPU-s in an unthrottled bench_e2e run, 13 at
#: 10x. Alternated runs of the same bench (1.29M pre-loaded events): 16.0k/16.4k/17.4k events/s without it,
#: 18.9k/18.4k at 5x, 20.9k at 10x.
JIT_COMPILE_THRESHOLD_SCALING = 10
JIT_OPTS = f"-XX:CompileThresholdScaling={JIT_COMPILE_THRESHOLD_SCALING}"


class FlinkSettings(_Strict):
    rest_host: str = "127.0.0.1"
    rest_port: int = 8081
    rpc_port: int = 6123
    taskmanager_slots: int = 2
    taskmanager_memory: str = "1728m"
    jobmanager_memory: str = "1024m"
    parallelism: int = Field(default=1, ge=1)
    checkpoint_interval_ms: int = Field(default=10_000, ge=100)
    # where the jobs write checkpoints (one directory per job name below it); None: ``<var_dir>/flink/checkpoints``
    checkpoint_dir: Path | None = None
    state_backend: Literal["hashmap", "rocksdb"] = "hashmap"
    watermark_delay_s: int = Field(default=2, ge=0)
    # a partition without records for this long stops holding the watermark back (the feature freshness floor is
    # watermark_delay_s + up to idle_timeout_s for a partition that just went quiet). 5 s, not 1 s: Flink counts a
    # stall of the source's thread (GC pause, JIT, a busy 2-core machine) as input inactivity, and a partition with
    # records waiting through a stall longer than this is declared idle, so they land behind the watermark, late
    # although on time: at 1 s, ~1,900 on-time events went late within 10 s in the middle of a 7.3k events/s
    # run, none at 5 s (bench_e2e). The cost: feature freshness p99 3.4 s -> 7.2 s (bench_freshness, real time).
    idle_timeout_s: float = Field(default=5.0, gt=0)
    python_bundle_size: int = 1000
    python_bundle_time_ms: int = 200
    prometheus_port: int = 9249
    # JVM options of a job's local mini-cluster (PyFlink starts that JVM; ``JVM_ARGS`` in the environment wins).
    # The parallel collector with a large young generation: the jobs allocate short-lived rows and keep long-lived
    # heap state, where G1's write barriers and refinement threads cost ~10% of the feature job's CPU (bench).
    # ``JIT_OPTS``: fewer methods reach the optimising compiler (see there).
    local_jvm_opts: str = f"-XX:+UseParallelGC -Xms4g -Xmn2g {JIT_OPTS}"
    # JVM options of the standalone cluster's TaskManagers (``env.java.opts.taskmanager``)
    taskmanager_jvm_opts: str = f"-XX:+UseParallelGC {JIT_OPTS}"
    # Any Flink option, set on every job's environment last (it wins over the project's defaults and a job's own
    # settings), e.g. ``CXM_FLINK__CONF='{"python.fn-execution.arrow.batch.size": "500"}'``
    conf: dict[str, str] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rest_url(self) -> str:
        return f"http://{self.rest_host}:{self.rest_port}"


class DecisionSettings(_Strict):
    """The decision job: where policies and model snapshots come from, how decisions are delivered."""

    policy_dir: Path = REPO_ROOT / "rules" / "policies"
    models_dir: Path = REPO_ROOT / "var" / "models"
    refresh_s: float = Field(default=5.0, gt=0)
    delivery: Literal["exactly-once", "at-least-once"] = "at-least-once"
    transaction_timeout_ms: int = 600_000
    #: Decide at most once per customer per ``coalesce_ms`` of processing time, on the customer's latest full
    #: context (a processing-time TUMBLE window in the decision job's SQL; the record's ``coalesced`` field says
    #: how many changelog rows it covers). 0: one decision per changelog row.
    coalesce_ms: int = Field(default=200, ge=0, le=60_000)
    #: Parallelism of the decision job (None: ``flink.parallelism``). Above 1 on a local mini-cluster, each
    #: subtask's Python worker is its own process (PyFlink's default there, "loopback", runs them as threads of
    #: one process, which share one interpreter lock).
    parallelism: int | None = Field(default=None, ge=1)
    #: The Kafka consumer group of the decision job's changelog source (Flink commits its offsets on checkpoints;
    #: the group's lag is what a restart would read again). None: ``cxm-decisions-<random>`` per job.
    group_id: str | None = None


class LearnerSettings(_Strict):
    """The single online learner (``cxm models learn``, :mod:`models.learner_service`)."""

    group_id: str = "cxm-learner"
    models_dir: Path | None = None  # None: ``decisions.models_dir``, where the decision job polls for snapshots
    poll_batch: int = Field(default=2000, ge=1, le=100_000)
    poll_timeout_s: float = Field(default=0.5, gt=0)
    publish_every_s: float = Field(default=60.0, gt=0)
    publish_every_labels: int = Field(default=20_000, ge=1)
    log_every_s: float = Field(default=30.0, gt=0)
    max_customers: int = Field(default=500_000, ge=1)
    max_pending_predictions: int = Field(default=300_000, ge=1)
    max_pending_decisions: int = Field(default=200_000, ge=1)
    max_held: int = Field(default=100_000, ge=1)
    changelog_idle_s: float = Field(default=2.0, ge=0)  # held outcomes/decisions are released when it is quiet
    label_window_days: float | None = Field(default=None, gt=0)  # None: the churn model's default window
    label_grace_days: float = Field(default=1.0, ge=0)
    learn_batch: int = Field(default=4096, ge=1)
    checkpoint_state: bool = True


class Settings(BaseSettings):
    """All settings; ``CXM_`` environment variables override the defaults."""

    model_config = SettingsConfigDict(env_prefix="CXM_", env_nested_delimiter="__", extra="forbid")

    var_dir: Path = REPO_ROOT / "var"
    cache_dir: Path = Path.home() / ".cache" / "cx-membrane"
    topics_file: Path = REPO_ROOT / "infra" / "topics.yaml"
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    topics: TopicNames = TopicNames()
    feast: FeastSettings = FeastSettings()
    flink: FlinkSettings = FlinkSettings()
    decisions: DecisionSettings = DecisionSettings()
    learner: LearnerSettings = LearnerSettings()
    service_timeout_s: float = 90.0

    @classmethod
    def defaults(cls) -> Settings:
        """The built-in defaults, ignoring ``CXM_*`` environment variables (for examples and docs)."""
        return cls.model_construct()

    @property
    def jars_dir(self) -> Path:
        return self.cache_dir / "jars"

    def flink_jars(self) -> list[Path]:
        """Connector and reporter jars for PyFlink jobs (copied by Maven into the cache)."""
        return sorted((self.jars_dir / "flink").glob("*.jar"))

    def topic_specs(self) -> list[TopicSpec]:
        """The declarative topic list."""
        raw = yaml.safe_load(self.topics_file.read_text())
        return [TopicSpec(**t) for t in raw["topics"]]


def load_settings() -> Settings:
    """Settings from defaults and the environment."""
    return Settings()
