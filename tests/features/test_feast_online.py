"""Fast writers vs Feast: every value written by features.online_writers reads back through
``FeatureStore.get_online_features`` (Redis and SQLite), and the stored bytes equal what ``push`` stores."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cxm.config import Settings
from features.names import GROUPS
from features.rows import FeatureRow, coalesce, random_rows

pytestmark = pytest.mark.integration


def _settings(base: Settings, tmp_path: Path, store: str) -> Settings:
    project = f"t_{uuid.uuid4().hex[:10]}"
    return base.model_copy(update={
        "var_dir": tmp_path / "var",
        "feast": base.feast.model_copy(update={"online_store": store, "project": project}),
    })


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, Any]]:
    store = request.param
    if store == "redis":
        request.getfixturevalue("redis_url")
    s = _settings(settings, tmp_path, store)
    from features.store import apply

    fs = apply(s)
    try:
        yield s, fs
    finally:
        fs.teardown()


def _writer(s: Settings, skip_older: bool = True) -> Any:
    from features.online_writers import RedisOnlineWriter, SqliteOnlineWriter
    from features.store import FeastPaths

    if s.feast.online_store == "redis":
        return RedisOnlineWriter.from_connection_string(s.redis.connection_string, s.feast.project,
                                                        skip_older=skip_older)
    return SqliteOnlineWriter(FeastPaths.from_settings(s).sqlite_online, s.feast.project)


def _read(fs: Any, group: str, customers: list[str]) -> tuple[dict[str, list[Any]], list[int]]:
    refs = [f"{group}:{n}" for n in GROUPS[group]]
    resp = fs.get_online_features(refs, [{"customer_id": c} for c in customers])
    names = list(resp.proto.metadata.feature_names.val)
    ts = [t.seconds * 1000 + t.nanos // 1_000_000 for t in resp.proto.results[names.index(GROUPS[group][0])]
          .event_timestamps]
    return resp.to_dict(), ts


def test_every_value_reads_back(online: tuple[Settings, Any]) -> None:
    s, fs = online
    rows = coalesce(random_rows(600, 80, seed=5))
    w = _writer(s)
    assert w.write(rows) == len(rows)
    w.close()
    checked = 0
    for group in GROUPS:
        grows = [r for r in rows if r.group == group]
        customers = [r.customer_id for r in grows] + ["nobody"]
        got, ts = _read(fs, group, customers)
        for i, r in enumerate(grows):
            for n in GROUPS[group]:
                assert got[n][i] == r.values[n], (group, r.customer_id, n)
                checked += 1
            # Feast's SQLite store keeps whole seconds only (Redis keeps the full time)
            expect_ts = r.event_ts_ms if s.feast.online_store == "redis" else r.event_ts_ms // 1000 * 1000
            assert ts[i] == expect_ts
        assert all(got[n][-1] is None for n in GROUPS[group])
    assert checked == sum(len(GROUPS[r.group]) for r in rows)


def test_newer_rows_win_and_older_are_ignored(online: tuple[Settings, Any]) -> None:
    s, fs = online
    w = _writer(s)
    w.write([FeatureRow("c1", "purchase", 2_000_000, {"spend_30d": 2.5, "purchases_30d": 2,
                                                      "last_purchase_ms": 2_000_000})])
    w.write([FeatureRow("c1", "purchase", 3_000_000, {"spend_30d": 3.5, "purchases_30d": 3,
                                                      "last_purchase_ms": 3_000_000})])
    if s.feast.online_store == "redis":  # the SQLite writer does not count skipped rows
        assert w.write([FeatureRow("c1", "purchase", 1_000_000, {"spend_30d": 1.0, "purchases_30d": 1,
                                                                 "last_purchase_ms": 1_000_000})]) == 0
    else:
        w.write([FeatureRow("c1", "purchase", 1_000_000, {"spend_30d": 1.0, "purchases_30d": 1,
                                                          "last_purchase_ms": 1_000_000})])
    got, ts = _read(fs, "purchase", ["c1"])
    assert got["purchases_30d"] == [3]
    assert got["spend_30d"] == [3.5]
    assert ts == [3_000_000]
    w.close()


def _push(fs: Any, rows: list[FeatureRow], prefix: str) -> None:
    from feast.data_source import PushMode

    from features.definitions import push_source_name

    for group in GROUPS:
        grows = [r for r in rows if r.group == group]
        df = pd.DataFrame([{"customer_id": prefix + r.customer_id,
                            "event_ts": datetime.fromtimestamp(r.event_ts_ms / 1000, tz=UTC),
                            "created_ts": datetime.fromtimestamp(r.event_ts_ms / 1000, tz=UTC),
                            **r.values} for r in grows])
        fs.push(push_source_name(group), df, to=PushMode.ONLINE)


def test_stored_bytes_equal_feast_push(online: tuple[Settings, Any]) -> None:
    s, fs = online
    rows = coalesce(random_rows(80, 10, seed=9))
    w = _writer(s)
    w.write(rows)
    _push(fs, rows, prefix="p_")
    from features.encoding import entity_key_bytes
    from features.store import FeastPaths

    compared = 0
    if s.feast.online_store == "redis":
        import redis

        host, port = s.redis.connection_string.split(":")
        client: Any = redis.Redis(host=host, port=int(port))
        proj = s.feast.project.encode()
        for cid in {r.customer_id for r in rows}:
            fast_h = client.hgetall(entity_key_bytes(cid) + proj)
            pushed_h = client.hgetall(entity_key_bytes("p_" + cid) + proj)
            assert fast_h == pushed_h
            assert fast_h
            compared += len(fast_h)
    else:
        conn = sqlite3.connect(FeastPaths.from_settings(s).sqlite_online)
        for group in GROUPS:
            table = f'"{s.feast.project}_{group}"'
            for r in (r for r in rows if r.group == group):
                q = f"SELECT feature_name, value, value_text, event_ts FROM {table} WHERE entity_key = ? ORDER BY 1"
                fast = conn.execute(q, (entity_key_bytes(r.customer_id),)).fetchall()
                pushed = conn.execute(q, (entity_key_bytes("p_" + r.customer_id),)).fetchall()
                assert fast == pushed
                assert fast
                compared += len(fast)
        conn.close()
    w.close()
    assert compared >= sum(len(GROUPS[r.group]) for r in rows)
