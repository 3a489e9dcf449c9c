"""Old runs' topics are pruned on a real broker; the project's topics and fresh runs' topics are kept."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient

from cxm.config import TopicSpec
from infra.topics import ensure_topics, prune_run_topics

pytestmark = pytest.mark.integration


def test_prune_run_topics_deletes_only_old_runs(kafka_bootstrap: str) -> None:
    # injected clock in 1999: every real run on the broker started after it, so only ``old`` is stale
    now = datetime(1999, 1, 2, 12, tzinfo=UTC)
    suffix = uuid.uuid4().hex[:4]
    old = f"run.19990102100000-{suffix}.decisions"  # two hours before ``now``
    fresh = f"run.19990102115900-{suffix}.decisions"  # one minute before
    other = f"test.keep-{suffix}"
    ensure_topics(kafka_bootstrap, [TopicSpec(name=n, partitions=1) for n in (old, fresh, other)])
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    deadline = time.monotonic() + 30
    while not {old, fresh, other} <= set(admin.list_topics(timeout=30).topics):  # metadata catches up
        assert time.monotonic() < deadline, "created topics never listed"
        time.sleep(0.2)
    gone = prune_run_topics(kafka_bootstrap, timedelta(hours=1), now)
    assert old in gone
    # nothing but 1999 runs older than an hour before ``now`` (a failed earlier run of this test may leave one)
    assert all(n.startswith("run.199901021") and n < "run.19990102110000" for n in gone), gone
    names = set(admin.list_topics(timeout=30).topics)
    assert fresh in names
    assert other in names
    for fut in admin.delete_topics([fresh, other]).values():
        fut.result(timeout=30)
