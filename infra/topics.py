"""Create the topics of the declarative list (``infra/topics.yaml``) on the broker."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

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


#: ``run.<tag>.<topic>``: the topics of one ``main_run`` (``pipelines.main_run.run_topics``), tagged by
#: :func:`run_tag`
_RUN_TAG_TIME = "%Y%m%d%H%M%S"
_RUN_TOPIC = re.compile(r"^run\.(\d{14})-[0-9a-f]{4}\.")


def run_tag(now: datetime, suffix: str) -> str:
    """A run's tag: its UTC start time and 4 hex digits (``now`` aware); :func:`stale_run_topics` reads it back.

    >>> run_tag(datetime(2026, 11, 24, 10, 8, 12, tzinfo=UTC), "5191abcd")
    '20261124100812-5191'
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC).strftime(_RUN_TAG_TIME) + "-" + suffix[:4]


def stale_run_topics(names: Iterable[str], now: datetime, older_than: timedelta) -> list[str]:
    """The run topics among ``names`` whose run started more than ``older_than`` before ``now`` (aware).

    >>> now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    >>> stale_run_topics(["run.20261124100812-5191.decisions", "run.20261124115900-ab12.decisions",
    ...                   "decisions", "run.x.decisions"], now, timedelta(hours=1))
    ['run.20261124100812-5191.decisions']
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    out = []
    for name in names:
        m = _RUN_TOPIC.match(name)
        if m and datetime.strptime(m.group(1), _RUN_TAG_TIME).replace(tzinfo=UTC) < now - older_than:
            out.append(name)
    return sorted(out)


def prune_run_topics(bootstrap: str, older_than: timedelta, now: datetime, timeout_s: float = 30.0) -> list[str]:
    """Delete the topics of runs started more than ``older_than`` before ``now``; returns their names. A run's
    topics hold every event, feature row and decision it made (a benchmark run writes a few GB)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})  # errors are raised, not logged
    stale = stale_run_topics(admin.list_topics(timeout=timeout_s).topics, now, older_than)
    if not stale:
        return []
    for fut in admin.delete_topics(stale, operation_timeout=timeout_s).values():
        fut.result(timeout=timeout_s)
    return stale
