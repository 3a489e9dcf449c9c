"""Clear one-line errors from the local services, and the declarative topic list."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from cxm.config import Settings
from infra.services import ServiceError
from infra.services.base import require_tool
from infra.services.kafka import KafkaBroker
from infra.services.redis import RedisServer


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        s = Settings(var_dir=tmp_path, redis={"port": port})
        with pytest.raises(ServiceError, match=rf"port {port} already in use: Redis") as err:
            RedisServer(s).start()
        assert "\n" not in str(err.value)


def test_missing_tool_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ServiceError, match="java is missing: install OpenJDK 17"):
        require_tool("java", "install OpenJDK 17 and put java on PATH")


def test_missing_kafka_jars_point_to_make_jars(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path, cache_dir=tmp_path / "cache", kafka={"port": 1, "controller_port": 2})
    with pytest.raises(ServiceError, match="make jars"):
        KafkaBroker(s).start()


def test_unhealthy_service_times_out_with_log_path(tmp_path: Path) -> None:
    from infra.services.base import wait_until

    with pytest.raises(ServiceError, match=r"thing not healthy within 1 s; see .*x\.log"):
        wait_until(lambda: False, 1, "thing", tmp_path / "x.log")


@pytest.mark.integration
def test_topics_follow_the_declarative_list(settings: Settings, kafka_bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    meta = admin.list_topics(timeout=10).topics
    specs = settings.topic_specs()
    for spec in specs:
        assert spec.name in meta
        assert len(meta[spec.name].partitions) == spec.partitions
    compacted = [s for s in specs if s.cleanup_policy == "compact"]
    assert compacted
    res = ConfigResource(ConfigResource.Type.TOPIC, compacted[0].name)
    config = admin.describe_configs([res])[res].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"
    assert config["retention.ms"].value == str(compacted[0].retention_ms)


@pytest.mark.integration
def test_redis_answers(redis_url: str) -> None:
    from infra.services.redis import ping

    host, port = redis_url.split(":")
    assert ping(host, int(port))
