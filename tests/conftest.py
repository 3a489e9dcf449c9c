"""Session fixtures that start the REAL local services once per test run (and stop what they started).

- ``settings``: :class:`cxm.config.Settings` from the environment (``CXM_*`` overrides apply).
- ``kafka_bootstrap``: a Kafka broker (KRaft) is running and the topics of ``infra/topics.yaml`` exist.
- ``redis_url``: ``host:port`` of a running Redis.
- ``flink_rest``: URL of a running Flink standalone cluster (started lazily: only tests that need it pay).
- ``new_topic``: factory making a fresh, uniquely named topic: ``new_topic("x", partitions=2)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from cxm.config import Settings, TopicSpec, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


def _ensure(service: object) -> Iterator[None]:
    started = False
    try:
        service.healthy()  # type: ignore[attr-defined]
    except Exception:
        service.start()  # type: ignore[attr-defined]
        started = True
    yield
    if started:
        service.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> Iterator[str]:
    from infra.services.kafka import KafkaBroker
    from infra.topics import ensure_project_topics

    for _ in _ensure(KafkaBroker(settings)):
        ensure_project_topics(settings)
        yield settings.kafka.bootstrap


@pytest.fixture(scope="session")
def redis_url(settings: Settings) -> Iterator[str]:
    from infra.services.redis import RedisServer

    for _ in _ensure(RedisServer(settings)):
        yield settings.redis.connection_string


@pytest.fixture(scope="session")
def flink_rest(settings: Settings) -> Iterator[str]:
    from infra.services.flink import FlinkCluster

    for _ in _ensure(FlinkCluster(settings)):
        yield settings.flink.rest_url


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Callable[..., str]:
    from infra.topics import ensure_topics

    def make(prefix: str = "test", partitions: int = 1, cleanup_policy: str = "delete") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        ensure_topics(
            kafka_bootstrap,
            [
                TopicSpec(
                    name=name, partitions=partitions, retention_ms=3_600_000, cleanup_policy=cleanup_policy
                )
            ],
        )
        return name

    return make
