"""Operate the jobs on a Flink cluster: submit, stop with a savepoint, resume from it, list.

Submission uses Flink's own ``flink`` client the way Flink documents Python jobs: ``-py`` for the job's entry
file, ``--jarfile`` for the Kafka connector, ``-pyexec``/``-pyclientexec`` for the Python environment (the
project's venv, present on every TaskManager of the local cluster; on a remote cluster ship it with ``-pyarch``),
and ``-pyfs`` for the project's packages. Job ids and savepoints are recorded under ``var/flink/jobs/`` so
``stop`` and ``resume`` need only the job's name.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxm.config import REPO_ROOT, Settings

#: Job name -> entry file (relative to the repo) and its default arguments.
JOBS: dict[str, tuple[str, list[str]]] = {
    "decisions": ("pipelines/decision_job.py", ["--no-wait"]),
    "features": ("pipelines/feature_job.py", ["--no-wait"]),
    "smoke": ("pipelines/smoke.py", []),
}
PACKAGES = ("cxm", "events", "features", "models", "pipelines", "rules")


class DeployError(RuntimeError):
    """A cluster operation failed; the message is meant for the operator."""


@dataclass
class JobRecord:
    name: str
    job_id: str
    savepoint: str | None = None

    @staticmethod
    def path(settings: Settings, name: str) -> Path:
        return settings.var_dir / "flink" / "jobs" / f"{name}.json"

    def save(self, settings: Settings) -> None:
        p = self.path(settings, self.name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, settings: Settings, name: str) -> JobRecord:
        p = cls.path(settings, name)
        if not p.exists():
            raise DeployError(f"no record of a submitted job named {name!r} (looked in {p})")
        return cls(**json.loads(p.read_text()))


def submit_argv(
    settings: Settings, name: str, savepoint: str | None = None, args: list[str] | None = None
) -> list[str]:
    """The ``flink run`` arguments for one of :data:`JOBS` (without the client prefix).

    >>> argv = submit_argv(Settings.defaults(), "decisions", savepoint="file:///sp/1")
    >>> argv[:4], "-py" in argv, argv[argv.index("-s") + 1]
    (['run', '-d', '-m', '127.0.0.1:8081'], True, 'file:///sp/1')
    """
    if name not in JOBS:
        raise DeployError(f"unknown job {name!r}; known: {', '.join(JOBS)}")
    entry, default_args = JOBS[name]
    python = sys.executable
    f = settings.flink
    argv = ["run", "-d", "-m", f"{f.rest_host}:{f.rest_port}"]
    if savepoint:
        argv += ["-s", savepoint]
    for jar in settings.flink_jars():
        if "connector" in jar.name:
            argv += ["--jarfile", str(jar)]
    argv += ["-py", str(REPO_ROOT / entry), "-pyexec", python, "-pyclientexec", python]
    argv += ["-pyfs", ",".join(str(REPO_ROOT / p) for p in PACKAGES)]
    return argv + default_args + (args or [])


def _cluster(settings: Settings) -> Any:
    from infra.services.flink import FlinkCluster

    return FlinkCluster(settings)


def _flink(settings: Settings, argv: list[str], timeout_s: float = 300, env: dict[str, str] | None = None) -> str:
    cluster = _cluster(settings)
    from pipelines.main_run import child_env

    env = child_env(
        {**cluster.cli_vars(), "CXM_PYTHON_EXECUTABLE": sys.executable, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    )
    proc = subprocess.run(
        [*cluster.flink_cli(), *argv], env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        cause = [ln for ln in out.splitlines() if "Caused by" in ln or "Exception:" in ln]
        raise DeployError(f"flink {argv[0]} failed (exit {proc.returncode}): {(cause or [out[-300:]])[-1].strip()}")
    return out


def rest(settings: Settings, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{settings.flink.rest_url}{path}", timeout=5) as resp:
        return dict(json.load(resp))


def job_state(settings: Settings, job_id: str) -> str:
    return str(rest(settings, f"/jobs/{job_id}")["state"])


def wait_for_state(settings: Settings, job_id: str, states: set[str], timeout_s: float = 180) -> str:
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = job_state(settings, job_id)
        if state in states:
            return state
        if state in {"FAILED", "CANCELED"} and state not in states:
            raise DeployError(f"job {job_id} ended {state}")
        time.sleep(0.5)
    raise DeployError(f"job {job_id} not in {sorted(states)} within {timeout_s:.0f} s (last state {state})")


def submit(
    settings: Settings,
    name: str,
    savepoint: str | None = None,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> JobRecord:
    """Submit a job (detached); waits until it is RUNNING and records its id.

    ``env`` holds ``CXM_*`` overrides for the job's client (topics, checkpointing, delivery guarantee).
    """
    out = _flink(settings, submit_argv(settings, name, savepoint, args), env=env)
    match = re.search(r"JobID ([0-9a-f]{32})", out)
    if not match:
        raise DeployError(f"flink run printed no job id: {out[-300:]}")
    rec = JobRecord(name, match.group(1), savepoint)
    rec.save(settings)
    wait_for_state(settings, rec.job_id, {"RUNNING", "FINISHED"})
    return rec


def stop(settings: Settings, name: str) -> JobRecord:
    """Stop a job with a savepoint (``flink stop``); records the savepoint path for :func:`resume`."""
    rec = JobRecord.load(settings, name)
    target = settings.var_dir / "flink" / "savepoints"
    out = _flink(settings, ["stop", "--savepointPath", target.resolve().as_uri(), rec.job_id])
    match = re.search(r"Savepoint completed\. Path: (\S+)", out)
    if not match:
        raise DeployError(f"flink stop printed no savepoint path: {out[-300:]}")
    rec.savepoint = match.group(1)
    rec.save(settings)
    return rec


def resume(
    settings: Settings, name: str, args: list[str] | None = None, env: dict[str, str] | None = None
) -> JobRecord:
    """Submit the job again from its last savepoint."""
    rec = JobRecord.load(settings, name)
    if not rec.savepoint:
        raise DeployError(f"job {name!r} has no savepoint: stop it with `cxm deploy stop {name}` first")
    return submit(settings, name, savepoint=rec.savepoint, args=args, env=env)


def cancel(settings: Settings, job_id: str) -> None:
    """Cancel a job without a savepoint (REST ``PATCH /jobs/<id>``)."""
    req = urllib.request.Request(f"{settings.flink.rest_url}/jobs/{job_id}?mode=cancel", method="PATCH")
    with urllib.request.urlopen(req, timeout=10):
        pass


def list_jobs(settings: Settings) -> list[dict[str, Any]]:
    return list(rest(settings, "/jobs/overview").get("jobs", []))
