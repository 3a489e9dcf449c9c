"""A Redis server (Debian's redis-server binary) for Feast's scalable online store."""

from __future__ import annotations

import socket

from cxm.config import Settings
from infra.services.base import ManagedProcess, ServiceError, port_in_use, require_tool, wait_until


def ping(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when a Redis server answers PING."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


class RedisServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc = ManagedProcess("redis", settings.var_dir)

    def healthy(self) -> bool:
        return ping(self.settings.redis.host, self.settings.redis.port)

    def start(self) -> str:
        if self.proc.pid() is not None:
            return "already running"
        r = self.settings.redis
        if port_in_use(r.host, r.port):
            raise ServiceError(f"port {r.port} already in use: Redis cannot start (set CXM_REDIS__PORT)")
        exe = require_tool("redis-server", "run `make redis-bin` (installs Debian's redis-server)")
        data = self.settings.var_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self.proc.start(
            [
                exe,
                "--bind",
                r.host,
                "--port",
                str(r.port),
                "--dir",
                str(data),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
            ]
        )
        wait_until(
            self.healthy,
            self.settings.service_timeout_s,
            f"Redis on {r.connection_string}",
            self.proc.log_file,
        )
        return f"started on {r.connection_string}"

    def stop(self) -> bool:
        return self.proc.stop(timeout_s=10)

    def status(self) -> str:
        return self.proc.status(self.healthy, self.settings.redis.connection_string)
