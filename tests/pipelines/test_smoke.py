"""Smoke integration tests: the PyFlink job on the local mini-cluster and on the standalone cluster."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import pytest

from cxm.config import REPO_ROOT, Settings
from pipelines.smoke import amount_band
from tests.pipelines.kafka_io import consume_all, produce_json

pytestmark = pytest.mark.integration


def _events(n: int) -> list[dict[str, object]]:
    return [
        {
            "customer_id": f"c{i:05d}",
            "kind": ["click", "call", "buy"][i % 3],
            "amount": float(i % 250),
            "event_time": f"2026-11-24T10:00:{i % 60:02d}.000Z",
        }
        for i in range(n)
    ]


def _check(out: list[bytes], events: list[dict[str, object]]) -> None:
    got = {r["customer_id"]: r for r in (json.loads(v) for v in out)}
    assert len(out) == len(events)
    for e in events:
        r = got[str(e["customer_id"])]
        assert r["kind"] == str(e["kind"]).upper()
        assert r["amount_x2"] == pytest.approx(2 * float(e["amount"]))  # type: ignore[arg-type]
        assert r["band"] == amount_band(float(e["amount"]))  # type: ignore[arg-type]


def test_smoke_job_on_mini_cluster(
    settings: Settings, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    from pipelines.smoke import run

    src, dst = new_topic("smoke.in"), new_topic("smoke.out")
    events = _events(300)
    produce_json(kafka_bootstrap, src, events)
    run(settings, src, dst, bounded=True, wait=True)
    _check(consume_all(kafka_bootstrap, dst, expected=len(events)), events)


def _rest(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return dict(json.load(resp))


def test_smoke_job_with_flink_run_on_standalone_cluster(
    settings: Settings, kafka_bootstrap: str, flink_rest: str, new_topic: Callable[..., str]
) -> None:
    from infra.services.flink import FlinkCluster

    src, dst = new_topic("smoke.in"), new_topic("smoke.out")
    events = _events(200)
    produce_json(kafka_bootstrap, src, events)
    cluster = FlinkCluster(settings)
    python = sys.executable
    jar = next(p for p in settings.flink_jars() if "connector-kafka" in p.name)
    cmd = [
        *cluster.flink_cli(),
        "run",
        "-d",
        "-m",
        flink_rest.removeprefix("http://"),
        "--jarfile",
        str(jar),
        "-py",
        str(REPO_ROOT / "pipelines" / "smoke.py"),
        "-pyexec",
        python,
        "-pyclientexec",
        python,
        "--in-topic",
        src,
        "--out-topic",
        dst,
    ]
    env = {**cluster.cli_env(), "CXM_PYTHON_EXECUTABLE": python, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    match = re.search(r"JobID ([0-9a-f]{32})", proc.stdout + proc.stderr)
    assert match, proc.stdout[-2000:]
    job_id = match.group(1)
    seen: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = str(_rest(f"{flink_rest}/jobs/{job_id}")["state"])
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in {"FINISHED", "FAILED", "CANCELED"}:
            break
        time.sleep(0.5)
    assert seen[-1] == "FINISHED", seen
    assert "RUNNING" in seen or "FINISHED" in seen
    _check(consume_all(kafka_bootstrap, dst, expected=len(events)), events)
