"""Feature rows/s into Feast's online store: the fast writer (features.online_writers) vs ``FeatureStore.push``.

Same coalesced rows (all 8 groups, 24k rows over ~20k customers) for every path; rows/s = rows / wall time
of the write calls including the conversion each path needs (DataFrame for push, bytes for the fast path).
Redis: the configured one (``settings.redis``) when it answers, else a throwaway ``redis-server`` on a free
port. Registry and SQLite file live in a temporary ``var_dir``.

Run: ``.venv/bin/python -m bench.bench_feast_write``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import write_result
from cxm.config import Settings, load_settings
from features.rows import FeatureRow, coalesce, random_rows

N_ROWS = 24_000
N_CUSTOMERS = 20_000
BATCH = 5_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(settings: Settings) -> Iterator[Settings]:
    """The configured Redis if it answers, else a throwaway one (stopped afterwards)."""
    if _ping(settings.redis.host, settings.redis.port):
        yield settings
        return
    port = _free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if _ping("127.0.0.1", port):
                break
            time.sleep(0.05)
        yield settings.model_copy(update={"redis": settings.redis.model_copy(update={"host": "127.0.0.1",
                                                                                    "port": port})})
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _batches(rows: Sequence[FeatureRow]) -> Iterator[Sequence[FeatureRow]]:
    for i in range(0, len(rows), BATCH):
        yield rows[i:i + BATCH]


def time_fast(settings: Settings, rows: Sequence[FeatureRow], offline: bool = False) -> float:
    from features.writer import make_sink
    from features.writer_config import WriterConfig

    sink = make_sink(settings, WriterConfig(offline=offline))
    t0 = time.perf_counter()
    for b in _batches(rows):
        sink.write(b)
    sink.flush()  # the offline rows are buffered: their write belongs to the time
    dt = time.perf_counter() - t0
    sink.close()
    return len(rows) / dt


def time_push(fs: Any, rows: Sequence[FeatureRow]) -> float:
    import pandas as pd
    from feast.data_source import PushMode

    from features.definitions import push_source_name
    from features.rows import by_group

    t0 = time.perf_counter()
    for b in _batches(rows):
        for group, grows in by_group(b).items():
            df = pd.DataFrame([{"customer_id": r.customer_id,
                                "event_ts": datetime.fromtimestamp(r.event_ts_ms / 1000, tz=UTC),
                                "created_ts": datetime.fromtimestamp(r.event_ts_ms / 1000, tz=UTC),
                                **r.values} for r in grows])
            fs.push(push_source_name(group), df, to=PushMode.ONLINE)
    return len(rows) / (time.perf_counter() - t0)


def _for_store(base: Settings, var_dir: Path, store: str) -> Settings:
    return base.model_copy(update={"var_dir": var_dir / store, "feast": base.feast.model_copy(
        update={"online_store": store, "project": f"bench_{uuid.uuid4().hex[:8]}"})})


def main() -> None:
    from features.store import apply

    rows = coalesce(random_rows(N_ROWS, N_CUSTOMERS, seed=42))
    metrics: dict[str, float] = {}
    notes: dict[str, Any] = {"rows": len(rows), "batch": BATCH,
                             "features_per_row": round(sum(len(r.values) for r in rows) / len(rows), 1)}
    tmp = Path(tempfile.mkdtemp(prefix="bench_feast_"))
    try:
        with redis_server(load_settings()) as base:
            notes["redis"] = base.redis.connection_string
            for store in ("redis", "sqlite"):
                runs: list[tuple[str, Callable[[Settings, Any], float]]] = [
                    ("fast", lambda s, fs: time_fast(s, rows)),
                    ("fast_with_offline", lambda s, fs: time_fast(s, rows, offline=True)),
                    ("push", lambda s, fs: time_push(fs, rows)),
                ]
                for name, run in runs:  # a fresh project (empty keys) per path
                    s = _for_store(base, tmp, store)
                    fs = apply(s)
                    try:
                        metrics[f"feast_write_rows_per_s_{name}_{store}"] = round(run(s, fs))
                    finally:
                        fs.teardown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    metrics["feast_write_rows_per_s"] = metrics["feast_write_rows_per_s_fast_redis"]
    for store in ("redis", "sqlite"):
        notes[f"speedup_{store}"] = round(metrics[f"feast_write_rows_per_s_fast_{store}"]
                                          / metrics[f"feast_write_rows_per_s_push_{store}"], 1)
    write_result("feast_write", metrics, notes)


if __name__ == "__main__":
    main()
