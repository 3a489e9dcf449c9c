"""Create Flink table environments from the typed settings: jars, Python worker, checkpoints, state.

Every PyFlink job of the project builds its environment here, so connector jars, the Python executable and
checkpointing are configured in one place and nothing is hard-coded inside a job.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cxm.config import Settings

if TYPE_CHECKING:
    from pyflink.table import StreamTableEnvironment


def checkpoint_root(settings: Settings) -> Path:
    """The directory the jobs' checkpoint directories (one per job name) are made in.

    >>> checkpoint_root(Settings.defaults()).parts[-2:]
    ('flink', 'checkpoints')
    """
    return settings.flink.checkpoint_dir or settings.var_dir / "flink" / "checkpoints"


def job_config(settings: Settings, job_name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The Flink configuration a job sets on its environment.

    >>> c = job_config(Settings.defaults(), "j")
    >>> c["pipeline.name"], c["execution.checkpointing.interval"]
    ('j', '10000 ms')

    A job's ``extra`` options win over the defaults, ``flink.conf`` (the operator's) over both:

    >>> s = Settings.defaults()
    >>> s.flink.conf["parallelism.default"] = "2"
    >>> job_config(s, "j", {"parallelism.default": "3", "x": "1"})["parallelism.default"]
    '2'
    """
    f = settings.flink
    jars = ";".join(p.resolve().as_uri() for p in settings.flink_jars()
                    if "connector" in p.name or p.name.startswith("cxm-flink-udf"))
    conf = {
        "pipeline.name": job_name,
        "parallelism.default": str(f.parallelism),
        "execution.checkpointing.interval": f"{f.checkpoint_interval_ms} ms",
        "state.backend.type": f.state_backend,
        # file checkpoint storage: the JobManager's in-memory default caps state at a few MB (checkpoints of
        # 100k customers fail there, and the job then restarts and replays)
        "execution.checkpointing.dir": (checkpoint_root(settings) / job_name).resolve().as_uri(),
        "execution.checkpointing.num-retained": "2",
        "table.exec.source.idle-timeout": f"{round(f.idle_timeout_s * 1000)} ms",
        "python.fn-execution.bundle.size": str(f.python_bundle_size),
        "python.fn-execution.bundle.time": str(f.python_bundle_time_ms),
        "python.executable": os.environ.get("CXM_PYTHON_EXECUTABLE", sys.executable),
        "python.client.executable": os.environ.get("CXM_PYTHON_EXECUTABLE", sys.executable),
        # one optimisation block per sub-plan that several INSERTs of a statement set share, planned once.
        # Optimised per INSERT, each copy prunes its own columns, the copies' digests differ and sub-plan reuse
        # cannot merge them: the feature job de-duplicated every event twice (its late sink and its feature
        # group both read ``dv_<kind>``: two shuffles, two ``event_id`` states, most of a checkpoint's bytes),
        # and the decision job's file output would plan its Python UDF a second time.
        "table.optimizer.reuse-optimize-block-with-digest-enabled": "true",
    }
    if jars:
        conf["pipeline.jars"] = jars
    conf.update(extra or {})
    conf.update(f.conf)
    return conf


def create_table_env(
    settings: Settings, job_name: str, extra: dict[str, str] | None = None
) -> StreamTableEnvironment:
    """A streaming TableEnvironment (local mini-cluster, or the cluster when run by ``flink run``).

    The first environment of a process starts PyFlink's JVM (the mini-cluster) with ``flink.local_jvm_opts``
    unless ``JVM_ARGS`` is set; under ``flink run`` the JVM already exists and this changes nothing.
    """
    if settings.flink.local_jvm_opts and "JVM_ARGS" not in os.environ:
        os.environ["JVM_ARGS"] = settings.flink.local_jvm_opts
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment

    conf = Configuration()
    for key, value in job_config(settings, job_name, extra).items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env_settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
    return StreamTableEnvironment.create(env, environment_settings=env_settings)
