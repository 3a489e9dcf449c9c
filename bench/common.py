"""Helpers shared by the benchmark scripts: result files and machine facts."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_facts() -> dict[str, Any]:
    """Facts about the machine a benchmark ran on.

    >>> machine_facts()["cpus"] >= 1
    True
    """
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpus": os.cpu_count() or 1,
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def write_result(name: str, metrics: dict[str, float], notes: dict[str, Any] | None = None) -> Path:
    """Write ``bench/results/<name>.json`` with metrics by name, machine facts and a timestamp."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": name,
        "metrics": metrics,
        "notes": notes or {},
        "machine": machine_facts(),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    for key, value in metrics.items():
        print(f"{name}.{key} = {value}")
    return path
