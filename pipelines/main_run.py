"""The main job end to end (``make run`` / ``cxm run``): simulator -> Kafka -> feature job -> Feast + decision job.

Orchestration only. Every run gets its own topics (``run.<tag>.*``) so runs never mix. The feature job and the
decision job are PyFlink jobs on local mini-clusters of one child process and JVM (``pipelines.local_jobs``, as
on a cluster where they share TaskManagers; ``RunOptions.one_jvm=False``: one process each), started with the
run's ``CXM_*`` overrides; the Feast writer and the simulator run in this process. The simulator reads the
decisions back and reacts (closed loop). A bounded run stops when the simulator is done and the decisions stopped
growing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxm.config import JIT_OPTS, REPO_ROOT, Settings, TopicSpec
from pipelines.topic_watch import settle, topic_count


@dataclass(frozen=True)
class RunOptions:
    customers: int = 1500
    days: float = 14.0
    rate: float = 2000.0
    seed: int = 42
    start: str = "2026-11-01T00:00:00Z"
    faults: float = 0.002
    unbounded: bool = False
    settle_s: float = 15.0
    startup_timeout_s: float = 180.0
    out_dir: Path | None = None
    input: Path | None = None  # event files instead of the simulator (pipelines.file_run)
    output: Path | None = None  # decisions, dead-letter and late records also to files (pipelines.file_io)
    # produce every event before the jobs start (open loop: the simulator sees no decisions), so the jobs chew a
    # backlog that is already in Kafka and the generator does not compete with them for CPU (bench_e2e's
    # sustained-rate run); incompatible with ``unbounded``
    preload: bool = False
    # the jobs checkpoint under ``<out_dir>/checkpoints``, removed when the run ends (a run's jobs are not resumed;
    # a feature job's last checkpoints are ~100 MB per million events)
    keep_checkpoints: bool = False
    # both jobs in one process and JVM (pipelines.local_jobs); False: one process (and JVM) per job
    one_jvm: bool = True
    # after every tick the simulator sends a watermark record to every partition of the event topics
    # (simulator.sinks.KafkaSink.mark): a rare kind's rows (complaints, profile changes) then leave the feature
    # job's event-time windows at once instead of waiting for the next event on each of the kind's partitions
    mark_partitions: bool = True


def run_topics(settings: Settings, tag: str) -> dict[str, str]:
    """The ``CXM_TOPICS__*`` overrides that give a run its own topics.

    >>> run_topics(Settings.defaults(), "t1")["CXM_TOPICS__DECISIONS"]
    'run.t1.decisions'
    """
    t = settings.topics
    return {
        "CXM_TOPICS__EVENTS_PREFIX": f"run.{tag}.{t.events_prefix}",
        "CXM_TOPICS__DEAD_LETTER": f"run.{tag}.{t.dead_letter}",
        "CXM_TOPICS__LATE": f"run.{tag}.{t.late}",
        "CXM_TOPICS__FEATURES": f"run.{tag}.{t.features}",
        "CXM_TOPICS__DECISIONS": f"run.{tag}.{t.decisions}",
    }


def settings_for(settings: Settings, env: dict[str, str]) -> Settings:
    keys = {k.removeprefix("CXM_TOPICS__").lower(): v for k, v in env.items() if k.startswith("CXM_TOPICS__")}
    return settings.model_copy(update={"topics": settings.topics.model_copy(update=keys)})


def create_run_topics(s: Settings) -> None:
    from infra.topics import ensure_topics

    specs = [TopicSpec(name=s.topics.events(k), partitions=2, retention_ms=86_400_000) for k in _kinds()]
    specs += [
        TopicSpec(name=s.topics.dead_letter, partitions=1, retention_ms=86_400_000),
        TopicSpec(name=s.topics.late, partitions=1, retention_ms=86_400_000),
        TopicSpec(name=s.topics.features, partitions=2, retention_ms=86_400_000),
        TopicSpec(name=s.topics.decisions, partitions=2, retention_ms=86_400_000),
    ]
    ensure_topics(s.kafka.bootstrap, specs)


def _kinds() -> tuple[str, ...]:
    from cxm.config import EVENT_KINDS

    return EVENT_KINDS


#: Variables PyFlink sets in a process that has executed Python UDFs in loopback mode (local mini-cluster):
#: inherited by a child, they make it believe it is a UDF worker and refuse to start its own gateway.
PYFLINK_WORKER_VARS = (
    "PYFLINK_GATEWAY_DISABLED",
    "PYTHON_LOOPBACK_SERVER_ADDRESS",
    "_PYFLINK_CONN_INFO_PATH",
    "BOOT_LOG_DIR",
    "_PYTHON_WORKER_MEMORY_LIMIT",
    # A process whose loopback worker pool served a TaskManager (a job submitted to a cluster from it) also gets
    # that TaskManager's environment, as Flink's launcher scripts set it: a child would then start its
    # mini-cluster with the cluster's conf/ and lib/ and, from an empty JAVA_HOME, run "bin/java" (seen in the
    # test suite after the metrics test submitted to the standalone cluster).
    "FLINK_CONF_DIR",
    "FLINK_LIB_DIR",
    "FLINK_PLUGINS_DIR",
    "FLINK_OPT_DIR",
    "FLINK_BIN_DIR",
    "FLINK_LOG_DIR",
    "FLINK_IDENT_STRING",
    "FLINK_ENV_JAVA_OPTS",
    "FLINK_INHERITED_LOGS",
    "DYNAMIC_PARAMETERS",
    "JAVA_RUN",
    "SEMI_PERSISTENT_DIRECTORY",
)


#: The live feature job of a run trades some throughput for latency (defaults; the environment wins): periodic
#: watermarks every 50 ms instead of 200 ms (the over windows emit when the watermark passes) and network buffers
#: flushed after 50 ms instead of 100 ms. Measured with bench_e2e: 20 ms buffers cost ~11% of the end-to-end rate
#: (unthrottled, alternated runs: 15.1k/16.6k/16.5k events/s at 20 ms; 18.2k/17.8k/18.0k at 100 ms; 17.9k/18.6k
#: at 50 ms); at 9k events/s the steady feature stage p99 is 336 ms at 50 ms and 485 ms at 100 ms.
#: The feature job checkpoints every 30 s instead of 10 s: its heap state (de-duplication ids, the rows of the RANGE
#: windows: ~100 MB per million events) is snapshotted whole every time, and copy-on-write during the asynchronous
#: part slows the operators down; alternated bench_e2e runs: 15.0k events/s at 30 s against 13.6k/13.9k at 10 s
#: (both jobs at 30 s: 13.8k/14.5k against 12.7k/13.0k). Recovery replays up to 30 s of input (the changelog is
#: at-least-once: replayed rows are upserted again). The decision job keeps ``flink.checkpoint_interval_ms``: with
#: exactly-once delivery its checkpoints are when decisions become visible.
#: Then 60 s instead of 30 s: each checkpoint's asynchronous part is a burst of CPU on a machine that is already
#: busy, and the decisions of the next seconds wait for it (latency per 5 s bucket: p99 1.1-1.5 s in the bucket
#: of a checkpoint, 0.6-0.75 s in the others). Steady p99 of half-rate bench_e2e runs (5.9k-10.4k events/s):
#: 750, 1149, 902, 935, 1011, 1504 ms at 30 s; 811, 728, 841 ms at 60 s. Recovery replays up to 60 s of input.
#: (Flink's changelog state backend, which checkpoints only the changes, was worse: steady p99 1,010 ms, p50
#: 523 against 388 ms, ~10% more CPU, 2 GB of changelog files for a 100 s run.)
LIVE_FEATURE_JOB_ENV: dict[str, str] = {
    "CXM_FEATURE_JOB__BUFFER_TIMEOUT_MS": "50",
    "CXM_FEATURE_JOB__WATERMARK_INTERVAL_MS": "50",
    "CXM_FEATURE_JOB__CHECKPOINT_INTERVAL_MS": "60000",
}


#: Parallelism of the decision job in a local run (``CXM_DECISIONS__PARALLELISM`` or ``decisions.parallelism`` win):
#: two subtasks, each with its own Python worker process, on a machine with at least two cores. One worker is a
#: single interpreter: once the feature job has caught up, it and the JVM kept ~1.5 of the 2 cores busy while the
#: decisions were the only work left (worker 0.7, JVM 0.5, broker 0.2 cores), and at half rate its queue was the
#: tail of the latency. Same machine, same hour (bench_e2e, 1.3M pre-loaded events; half rate 11.5k events/s):
#: 19.2k events/s and steady p99 1,238 ms (decision stage 1,100 ms) with one worker; 22.1k/24.2k events/s and
#: steady p99 768 ms (decision stage 564 ms) with two. Cost: one more Python process (~0.6 GB peak).
LOCAL_DECISION_PARALLELISM = 2


def local_decision_env(settings: Settings, environ: Mapping[str, str], cpus: int | None) -> dict[str, str]:
    """The decision job's parallelism for a local run, unless the settings or the environment chose one.

    >>> s = Settings.defaults()
    >>> local_decision_env(s, {}, 2), local_decision_env(s, {}, 1)
    ({'CXM_DECISIONS__PARALLELISM': '2'}, {})
    >>> local_decision_env(s, {"CXM_DECISIONS__PARALLELISM": "1"}, 8)
    {}
    """
    if settings.decisions.parallelism is not None or "CXM_DECISIONS__PARALLELISM" in environ:
        return {}
    n = min(LOCAL_DECISION_PARALLELISM, cpus or 1)
    return {"CXM_DECISIONS__PARALLELISM": str(n)} if n > 1 else {}


#: A feature job that starts on a backlog (``--preload``) waits 30 s, not 5 s, before it declares a quiet partition
#: idle. Catching up, a partition whose fetched records wait behind a slow chained operator (the JIT at start-up)
#: for longer than the idle timeout is declared idle, the kind's watermark runs ahead with the other partition and
#: the waiting records become late: with a 1 s timeout, 2 of 3 runs of 150 customers x 2 days lost 614-664 of
#: 1,978 events that way, and 6% of a 1.3M-event backlog (Flink counts that time as input inactivity:
#: FLINK-40234). A live job meets the same after an outage (README: catching up on a backlog).
#: The same long timeout serves a run whose simulator marks every partition after each tick (``mark_partitions``):
#: the watermark records keep every partition of every kind moving, so idleness detection is only a fallback there,
#: and a short one did harm: a closed-loop run's jobs start on the first simulated hour (every customer's profile),
#: and on a slow machine (start-up of 90 s, JIT stalls of several seconds) a partition whose records waited was
#: declared idle while the other partition's watermark record had moved its kind to the end of the hour: 717 of
#: 1,500 first-tick profile events of a 7-day run at 700 events/s went to the late topic.
BACKLOG_FEATURE_JOB_ENV: dict[str, str] = {"CXM_FEATURE_JOB__IDLE_TIMEOUT_S": "30"}

#: JVM options of the process that runs both jobs (``flink.local_jvm_opts`` is sized for one job; the
#: environment's ``CXM_FLINK__LOCAL_JVM_OPTS`` wins). Both jobs' young objects share one young generation.
ONE_JVM_OPTS = f"-XX:+UseParallelGC -Xms6g -Xmn3g {JIT_OPTS}"


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a child job process: ours minus PyFlink's worker variables (and an empty
    ``JAVA_HOME``, never valid), plus ``extra`` (which may set any of them, e.g. a cluster's ``FLINK_CONF_DIR``).

    >>> os.environ["PYFLINK_GATEWAY_DISABLED"] = "true"
    >>> "PYFLINK_GATEWAY_DISABLED" in child_env({"A": "1"}), child_env({"A": "1"})["A"]
    (False, '1')
    >>> del os.environ["PYFLINK_GATEWAY_DISABLED"]
    >>> os.environ["FLINK_CONF_DIR"] = "/tm/conf"
    >>> "FLINK_CONF_DIR" in child_env({}), child_env({"FLINK_CONF_DIR": "/c"})["FLINK_CONF_DIR"]
    (False, '/c')
    >>> del os.environ["FLINK_CONF_DIR"]
    """
    inherited = {k: v for k, v in os.environ.items()
                 if k not in PYFLINK_WORKER_VARS and not (k == "JAVA_HOME" and not v)}
    return {**inherited, **extra}


@dataclass
class JobProcess:
    """A PyFlink job running on its own local mini-cluster in a child process."""

    name: str
    module: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env=child_env({**self.env, "PYTHONPATH": str(REPO_ROOT)}),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self, lines: int = 40) -> str:
        """The end of the job's log, with Java stack frames left out (for error messages)."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join([ln for ln in text if not ln.lstrip().startswith("at ")][-lines:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@dataclass
class RunResult:
    tag: str
    settings: Settings
    sim_summary: dict[str, Any]
    writer_stats: dict[str, Any]
    elapsed_s: float
    out_dir: Path
    truth_dir: Path
    logs: dict[str, Path] = field(default_factory=dict)
    #: wall-clock ms when the jobs were up (their first decision) in a closed-loop run: the first simulated hour
    #: is in Kafka before they start, and the latency figures leave out the events that waited for them
    ready_ms: int | None = None


def warmup_events(start_ms: int) -> list[dict[str, Any]]:
    """Two profile events of a sentinel customer just before the simulated start: the second one moves the
    watermark past the first, so a first decision proves both jobs are up before the measured traffic starts.

    >>> [e["event_time"] for e in warmup_events(1_793_491_200_000)]
    ['2026-10-31T23:59:00.000Z', '2026-10-31T23:59:30.000Z']
    """
    from datetime import UTC, datetime

    def t(ms: int) -> str:
        d = datetime.fromtimestamp(ms / 1000, tz=UTC)
        return f"{d:%Y-%m-%dT%H:%M:%S}.{d.microsecond // 1000:03d}Z"

    return [
        {
            "event_id": f"warmup-{i}",
            "customer_id": "warmup",
            "kind": "profile",
            "schema_version": 1,
            "event_time": t(start_ms - (60_000 - 30_000 * i)),
            "timezone": "UTC",
            "preferred_channel": "email",
            "home_lat": 0.0,
            "home_lon": 0.0,
            "signup_time": t(start_ms - 86_400_000),
        }
        for i in range(2)
    ]


def produce_warmup(s: Settings, start_ms: int) -> None:
    import json

    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": s.kafka.bootstrap})
    for e in warmup_events(start_ms):
        p.produce(s.topics.events("profile"), key=b"warmup", value=json.dumps(e).encode())
    p.flush(30)


def ensure_models(s: Settings, seed: int, echo: Any = print) -> None:
    """Bootstrap model snapshots from a simulated history (another seed) when the registry has none."""
    from models.registry import ModelRegistry

    if ModelRegistry(s.decisions.models_dir).latest("churn") is not None:
        return
    from models.cli import train

    echo(f"models: no snapshot in {s.decisions.models_dir}; training from a simulated history (seed {seed})")
    train(days=30.0, customers=1000, seed=seed)


def _check_alive(jobs: list[JobProcess], when: str = "") -> None:
    for j in jobs:
        if not j.alive():
            raise RuntimeError(f"{j.name} job exited{when}; see {j.log}:\n{j.tail()}")


def _wait_for_first_decision(s: Settings, jobs: list[JobProcess], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _check_alive(jobs, " early")
        if topic_count(s.kafka.bootstrap, s.topics.decisions) > 0:
            return
        time.sleep(1)
    raise RuntimeError(f"no decision within {timeout_s:.0f} s; see the job logs")


def main_run(settings: Settings, opts: RunOptions, echo: Any = print) -> RunResult:
    """Run the whole pipeline once; returns what the summary and the report need."""
    if opts.preload and opts.unbounded:
        raise ValueError("preload needs a bounded run")
    if opts.input is not None:  # event files instead of the simulator and the event topics
        from pipelines.file_run import file_run

        return file_run(settings, opts, echo)
    from cxm.heap import freeze_startup_heap
    from events.timefmt import parse_rfc3339
    from events.watermark import send_watermarks
    from features.store import apply as feast_apply
    from features.writer import ChangelogWriter
    from infra.topics import run_tag
    from pipelines.run_control import UNBOUNDED_DAYS, UntilStopped, stop_on_sigint
    from simulator.config import FaultRates, SimConfig
    from simulator.engine import Simulation
    from simulator.kafka_decisions import KafkaDecisionReader
    from simulator.run import Pacer, run
    from simulator.sinks import KafkaSink, kafka_producer, write_truth

    tag = run_tag(datetime.now(UTC), uuid.uuid4().hex)
    group = f"cxm-decisions-{tag}"  # the decision job's consumer group: settle() watches its lag
    env = {**run_topics(settings, tag), "CXM_DECISIONS__GROUP_ID": group}
    if opts.output is not None:  # the jobs also write decisions, dead-letter and late records to files
        from pipelines.file_io import FileIOConfig

        env.update(FileIOConfig(input=None, output=opts.output).env())
    s = settings_for(settings, env)
    out_dir = opts.out_dir or (settings.var_dir / "runs" / tag)
    out_dir.mkdir(parents=True, exist_ok=True)
    create_run_topics(s)
    echo(f"run {tag}: topics run.{tag}.*; Feast online store: {s.feast.online_store}")
    feast_apply(s)
    ensure_models(s, seed=opts.seed + 1000, echo=echo)
    checkpoints = out_dir / "checkpoints"
    if "CXM_FLINK__CHECKPOINT_DIR" not in os.environ:
        env["CXM_FLINK__CHECKPOINT_DIR"] = str(checkpoints)
    long_idle = opts.preload or opts.mark_partitions
    feature_defaults = {**LIVE_FEATURE_JOB_ENV, **(BACKLOG_FEATURE_JOB_ENV if long_idle else {})}
    live_defaults = {k: v for k, v in feature_defaults.items() if k not in os.environ}
    env.update(local_decision_env(settings, os.environ, os.cpu_count()))
    if opts.one_jvm:
        jvm = {} if "CXM_FLINK__LOCAL_JVM_OPTS" in os.environ else {"CXM_FLINK__LOCAL_JVM_OPTS": ONE_JVM_OPTS}
        jobs = [JobProcess("jobs", "pipelines.local_jobs", {**live_defaults, **jvm, **env}, out_dir / "jobs.log")]
    else:
        jobs = [
            JobProcess("feature", "pipelines.feature_job", {**live_defaults, **env}, out_dir / "feature_job.log"),
            JobProcess("decision", "pipelines.decision_job", env, out_dir / "decision_job.log"),
        ]
    t0 = time.monotonic()
    stop_writer = threading.Event()
    writer = ChangelogWriter(s)
    writer_thread = threading.Thread(target=lambda: writer.run(should_stop=stop_writer.is_set), daemon=True)
    f = opts.faults
    cfg = SimConfig(
        customers=opts.customers,
        days=UNBOUNDED_DAYS if opts.unbounded else opts.days,
        seed=opts.seed,
        start=parse_rfc3339(opts.start),
        faults=FaultRates(malformed=f, missing_field=f, duplicate=5 * f, late=f),
    )
    sim = UntilStopped(cfg) if opts.unbounded else Simulation(cfg)

    readers: list[Any] = []  # the closed loop's decision reader, once the jobs are up
    ready: list[int] = []  # when they were up (wall-clock ms, comparable with the broker's timestamps)

    def decisions() -> list[dict[str, Any]]:
        return readers[0]() if readers else []

    def start_jobs() -> None:
        # the simulator's customers and this process's imports stay out of the collector's full scans, which
        # the Feast writer's per-row parsing would otherwise trigger every few thousand rows (cxm.heap)
        freeze_startup_heap()
        for j in jobs:
            j.start()
        writer_thread.start()
        echo("jobs: feature job and decision job starting on local mini-clusters"
             + (" in one JVM ..." if opts.one_jvm else ", one JVM each ..."))
        _wait_for_first_decision(s, jobs, opts.startup_timeout_s)
        echo(f"jobs: ready after {time.monotonic() - t0:.0f} s (a warm-up event was decided)")
        if not opts.preload:
            ready.append(int(time.time() * 1000))
            readers.append(KafkaDecisionReader(s.kafka.bootstrap, s.topics.decisions, f"cxm-sim-{tag}",
                                               from_beginning=True))

    def simulate() -> Any:
        sink = KafkaSink(kafka_producer(s.kafka.bootstrap), s.topics.events,
                         mark_topics=s.topics.all_events() if opts.mark_partitions else ())
        echo(f"simulator: {opts.customers} customers, {opts.days:g} days, {opts.rate:,.0f} events/s max"
             + (", all produced before the jobs start" if opts.preload else
                ", the first simulated hour produced before the jobs start"))
        if isinstance(sim, UntilStopped):  # --unbounded: the first Ctrl-C ends the simulator, then as bounded
            echo("simulator: unbounded, producing until Ctrl-C")
        with stop_on_sigint(sim.stop, echo) if isinstance(sim, UntilStopped) else contextlib.nullcontext():
            if opts.preload:  # open loop: the simulator sees no decisions
                return run(sim, sink, Pacer(rate=opts.rate or None, speed=None))
            # closed loop: the jobs start once the first tick (every customer's profile and consent, an hour
            # of events) is in Kafka. Started before it, their sources declared the empty partitions idle, and
            # the first tick, read one partition after the other, was half late (the first partition's events
            # moved the watermark past the others')
            return run(sim, sink, Pacer(rate=opts.rate or None, speed=None), decisions,
                       after_first_flush=start_jobs)

    try:
        produce_warmup(s, sim.now_ms)  # before the simulator's first events: the warm-up's times are earlier
        summary = simulate()
        # the input has ended: a watermark record behind the last events of every partition lets the feature job
        # emit their rows now, not after the sources' idle timeout (5 s live, 30 s on a backlog: events.watermark)
        end_ms = max(sim.now_ms, summary.max_event_ms) + 1000 * (s.flink.watermark_delay_s + 1)
        send_watermarks(s.kafka.bootstrap, s.topics.all_events(), end_ms)
        if opts.preload:
            start_jobs()
        truth_dir = out_dir / "sim"
        write_truth(sim, truth_dir)
        echo(f"simulator: {summary.events:,} events in {summary.elapsed_s:.1f} s; waiting for the jobs to catch up")
        from pipelines.flink_env import FeatureJobConfig

        feature_ck_ms = int({**live_defaults, **os.environ}.get(
            "CXM_FEATURE_JOB__CHECKPOINT_INTERVAL_MS", s.flink.checkpoint_interval_ms))
        ck_s = max(s.flink.checkpoint_interval_ms, feature_ck_ms) / 1000
        settled = settle(s.kafka.bootstrap, s.topics.decisions, s.topics.features, group,
                         opts.settle_s, lag_wait_s=3 * ck_s + 60, check=lambda: _check_alive(jobs),
                         upstream=(FeatureJobConfig().group_id, s.topics.all_events()))
        if settled.timed_out:
            echo(f"warning: the decision job still had {settled.lag:,} changelog rows to read when the run ended")
        if opts.output is not None:  # part files become visible on the checkpoint after they roll
            from pipelines.file_io import wait_committed

            if not wait_committed(opts.output, timeout_s=ck_s + 60):
                echo(f"warning: part files under {opts.output} still in progress")
        for r in readers:
            r.close()
    finally:
        for j in jobs:
            j.stop()
        stop_writer.set()
        if writer_thread.ident is not None:  # started
            writer_thread.join(60)
        if not opts.keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
    return RunResult(
        tag=tag,
        settings=s,
        sim_summary=summary.as_dict(),
        writer_stats=dict(writer.stats.__dict__),
        elapsed_s=time.monotonic() - t0,
        out_dir=out_dir,
        truth_dir=truth_dir,
        logs={j.name: j.log for j in jobs},
        ready_ms=ready[0] if ready else None,
    )
