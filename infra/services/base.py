"""Process bookkeeping shared by the local services: pid files, logs, port checks, health waits."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class ServiceError(RuntimeError):
    """A service could not be started or is unhealthy; the message is one line meant for the user."""


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port.

    >>> s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
    >>> port_in_use("127.0.0.1", s.getsockname()[1])
    True
    >>> s.close()
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_tool(name: str, hint: str) -> str:
    """Path of an executable on PATH, or a one-line ServiceError naming what to install."""
    path = shutil.which(name)
    if path is None:
        raise ServiceError(f"{name} is missing: {hint}")
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, log: Path | None = None) -> None:
    """Poll ``check`` until it returns True, or raise a one-line ServiceError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    where = f"; see {log}" if log else ""
    raise ServiceError(f"{what} not healthy within {timeout_s:.0f} s{where}")


@dataclass
class ManagedProcess:
    """A background process with a pid file and a log file under ``var/``."""

    name: str
    var_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.var_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.var_dir / "log" / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def status(self, probe: Callable[[], object], where: str) -> str:
        """One status line: stopped, running but not answering ``probe``, or healthy."""
        pid = self.pid()
        if pid is None:
            return "stopped"
        try:
            probe()
        except Exception:
            return f"running (pid {pid}) but not answering on {where}"
        return f"healthy (pid {pid}) on {where}"

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM, wait, then SIGKILL. Returns True when a process was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and pid_alive(pid):
            _reap(pid)
            time.sleep(0.2)
        if pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
