"""Create the topics of the declarative list (``infra/topics.yaml``) on the broker."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from cxm.config import Settings, TopicSpec


def topic_config(spec: TopicSpec) -> dict[str, str]:
    """Kafka topic-level configuration of one spec.

    >>> topic_config(TopicSpec(name="t", cleanup_policy="compact", retention_ms=-1))
    {'retention.ms': '-1', 'cleanup.policy': 'compact'}
    """
    return {"retention.ms": str(spec.retention_ms), "cleanup.policy": spec.cleanup_policy}


def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; returns the names created. Existing topics are left as they are."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=topic_config(s))
        for s in specs
        if s.name not in existing
    ]
    if not new:
        return []
    futures = admin.create_topics(new, operation_timeout=timeout_s)
    created = []
    for name, fut in futures.items():
        try:
            fut.result(timeout=timeout_s)
            created.append(name)
        except Exception as exc:  # a concurrent creator may have won the race
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return created


def ensure_project_topics(settings: Settings) -> list[str]:
    return ensure_topics(settings.kafka.bootstrap, settings.topic_specs())
