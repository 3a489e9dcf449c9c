"""A Flink standalone cluster started from the scripts that ship inside the apache-flink package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from cxm.config import Settings
from infra.services.base import ServiceError, port_in_use, require_tool, wait_until


def flink_home() -> Path:
    """The Flink distribution inside the installed pyflink package (``bin/``, ``conf/``, ``lib/``)."""
    import importlib.util

    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise ServiceError("apache-flink is not installed in this environment: run `make venv`")
    return Path(spec.origin).parent


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    node = doc
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def cluster_config(settings: Settings, base: dict[str, Any]) -> dict[str, Any]:
    """Flink's ``config.yaml`` for the local standalone cluster: the shipped one plus our overrides.

    >>> c = cluster_config(Settings.defaults(), {})
    >>> c["rest"]["port"], c["taskmanager"]["numberOfTaskSlots"]
    (8081, 2)
    """
    f = settings.flink
    doc = json.loads(json.dumps(base))
    var = settings.var_dir / "flink"
    for key, value in {
        "rest.port": f.rest_port,
        "rest.address": f.rest_host,
        "rest.bind-address": f.rest_host,
        "jobmanager.rpc.address": "localhost",
        "jobmanager.rpc.port": f.rpc_port,
        "jobmanager.memory.process.size": f.jobmanager_memory,
        "taskmanager.numberOfTaskSlots": f.taskmanager_slots,
        "taskmanager.memory.process.size": f.taskmanager_memory,
        "env.java.opts.taskmanager": f.taskmanager_jvm_opts,
        "parallelism.default": f.parallelism,
        "env.pid.dir": str(var / "pid"),
        "io.tmp.dirs": str(var / "tmp"),
        "web.tmpdir": str(var / "tmp"),
        "state.checkpoints.dir": f"file://{var / 'checkpoints'}",
        "state.savepoints.dir": f"file://{var / 'savepoints'}",
        "execution.checkpointing.dir": f"file://{var / 'checkpoints'}",
        "execution.checkpointing.savepoint-dir": f"file://{var / 'savepoints'}",
        "metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
        "metrics.reporter.prom.port": f"{f.prometheus_port}-{f.prometheus_port + 8}",
    }.items():
        _set(doc, key, value)
    return doc


class FlinkCluster:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = flink_home()
        self.var = settings.var_dir / "flink"
        self.conf_dir = self.var / "conf"

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.cli_vars()}

    def cli_vars(self) -> dict[str, str]:
        """The variables that point Flink's scripts at this cluster (conf/, lib/, plugins/, logs)."""
        return {
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LOG_DIR": str(self.var / "log"),
            "FLINK_PLUGINS_DIR": str(self.var / "plugins"),
            "FLINK_LIB_DIR": str(self.var / "lib"),
            "FLINK_IDENT_STRING": "cxm",
        }

    def write_conf(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("log", "pid", "tmp", "checkpoints", "savepoints"):
            (self.var / sub).mkdir(parents=True, exist_ok=True)
        for extra in (self.home / "conf").iterdir():
            if extra.name != "config.yaml":
                shutil.copy(extra, self.conf_dir / extra.name)
        base = yaml.safe_load((self.home / "conf" / "config.yaml").read_text()) or {}
        doc = cluster_config(self.settings, base)
        (self.conf_dir / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        # Flink's documented cluster set-up for Python jobs: flink-python from opt/ joins lib/. We build our own
        # lib/ of links instead of touching the installed package.
        lib = self.var / "lib"
        lib.mkdir(parents=True, exist_ok=True)
        for jar in [*(self.home / "lib").glob("*.jar"), *(self.home / "opt").glob("flink-python*.jar")]:
            link = lib / jar.name
            if not link.exists():
                link.symlink_to(jar)
        # The Prometheus reporter is loaded as a plugin (its jar comes from Maven Central via `make jars`).
        plugin = self.var / "plugins" / "metrics-prometheus"
        plugin.mkdir(parents=True, exist_ok=True)
        for jar in (self.settings.jars_dir / "flink").glob("flink-metrics-prometheus-*.jar"):
            target = plugin / jar.name
            if not target.exists():
                shutil.copy(jar, target)

    def overview(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.settings.flink.rest_url}/overview", timeout=2) as resp:
            return dict(json.load(resp))

    def healthy(self) -> bool:
        o = self.overview()
        return int(o.get("taskmanagers", 0)) >= 1 and int(o.get("slots-total", 0)) >= 2

    def _script(self, name: str) -> list[str]:
        return ["bash", str(self.home / "bin" / name)]

    def start(self) -> str:
        f = self.settings.flink
        try:
            if self.healthy():
                return "already running"
        except OSError:
            pass
        require_tool("java", "install OpenJDK 17 and put java on PATH")
        if port_in_use(f.rest_host, f.rest_port):
            raise ServiceError(f"port {f.rest_port} already in use: Flink cannot start (set CXM_FLINK__REST_PORT)")
        self.write_conf()
        subprocess.run(self._script("start-cluster.sh"), env=self._env(), check=True, capture_output=True, timeout=120)
        wait_until(self.healthy, self.settings.service_timeout_s, f"Flink cluster on {f.rest_url}", self.var / "log")
        return f"started, REST on {f.rest_url}"

    def stop(self) -> bool:
        if not (self.var / "pid").exists():
            return False
        running = any(p.stat().st_size > 0 for p in (self.var / "pid").glob("*.pid"))
        subprocess.run(self._script("stop-cluster.sh"), env=self._env(), check=False, capture_output=True, timeout=120)
        f = self.settings.flink
        wait_until(lambda: not port_in_use(f.rest_host, f.rest_port), 60, "Flink shutdown")
        return running

    def status(self) -> str:
        try:
            o = self.overview()
        except OSError:
            return "stopped"
        return (
            f"healthy on {self.settings.flink.rest_url}: {o.get('taskmanagers')} taskmanager(s), "
            f"{o.get('slots-available')}/{o.get('slots-total')} slots free, {o.get('jobs-running')} jobs running"
        )

    def taskmanager_pids(self) -> list[int]:
        pid_file = self.var / "pid" / "flink-cxm-taskexecutor.pid"
        if not pid_file.exists():
            return []
        return [int(x) for x in pid_file.read_text().split() if x.strip().isdigit()]

    def kill_taskmanager(self) -> int:
        """SIGKILL the newest TaskManager (fault injection); returns its pid."""
        import signal

        pids = self.taskmanager_pids()
        if not pids:
            raise ServiceError("no TaskManager pid recorded")
        os.kill(pids[-1], signal.SIGKILL)
        return pids[-1]

    def start_taskmanager(self) -> None:
        """Start one more TaskManager with Flink's own script (e.g. after one was killed)."""
        subprocess.run(
            [*self._script("taskmanager.sh"), "start"], env=self._env(), check=True, capture_output=True, timeout=120
        )

    def flink_cli(self) -> list[str]:
        """Argv prefix of Flink's own ``flink`` client configured for this cluster."""
        return self._script("flink")

    def cli_env(self) -> dict[str, str]:
        return self._env()
