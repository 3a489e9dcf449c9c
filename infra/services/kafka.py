"""A single-node Apache Kafka broker in KRaft mode, run from Kafka's own jars (copied by Maven)."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from cxm.config import Settings
from infra.services.base import ManagedProcess, ServiceError, port_in_use, require_tool, wait_until

_LOG4J2 = """\
Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.storage
        level: WARN
"""


def server_properties(settings: Settings, data_dir: Path) -> str:
    """The broker's configuration: one combined broker+controller node on loopback.

    >>> "listeners=PLAINTEXT://127.0.0.1:9092" in server_properties(Settings.defaults(), Path("/tmp/k"))
    True
    """
    k = settings.kafka
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{k.host}:{k.controller_port}",
            f"listeners=PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}",
            f"advertised.listeners=PLAINTEXT://{k.host}:{k.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=2",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=4",
            "transaction.max.timeout.ms=3600000",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.segment.bytes=104857600",
            "log.retention.check.interval.ms=60000",
            "",
        ]
    )


class KafkaBroker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc = ManagedProcess("kafka", settings.var_dir)
        self.home = settings.var_dir / "kafka"

    def _classpath(self) -> str:
        jars = self.settings.jars_dir / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"Kafka jars missing in {jars}: run `make jars`")
        return f"{jars}/*"

    def healthy(self) -> bool:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.settings.kafka.bootstrap, "log_level": 0})
        admin.list_topics(timeout=2)
        return True

    def start(self) -> str:
        if self.proc.pid() is not None:
            return "already running"
        k = self.settings.kafka
        for port in (k.port, k.controller_port):
            if port_in_use(k.host, port):
                raise ServiceError(f"port {port} already in use: Kafka cannot start (set CXM_KAFKA__PORT)")
        java = require_tool("java", "install OpenJDK 17 and put java on PATH")
        cp = self._classpath()
        data = self.home / "data"
        props = self.home / "server.properties"
        self.home.mkdir(parents=True, exist_ok=True)
        props.write_text(server_properties(self.settings, data))
        (self.home / "log4j2.yaml").write_text(_LOG4J2)
        if not (data / "meta.properties").exists():
            subprocess.run(
                [
                    java,
                    "-cp",
                    cp,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
                    "-c",
                    str(props),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        self.proc.start(
            [
                java,
                f"-Xmx{k.heap}",
                f"-Xms{k.heap}",
                "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
                "-cp",
                cp,
                "kafka.Kafka",
                str(props),
            ],
        )
        wait_until(self.healthy, self.settings.service_timeout_s, f"Kafka on {k.bootstrap}", self.proc.log_file)
        return f"started on {k.bootstrap}"

    def stop(self) -> bool:
        return self.proc.stop(timeout_s=30)

    def status(self) -> str:
        return self.proc.status(self.healthy, self.settings.kafka.bootstrap)
