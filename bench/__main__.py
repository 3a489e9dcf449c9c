"""Run every benchmark script (each bounded in time) and print one table of all metrics.

Usage: ``python -m bench [substring ...]``; ``CXM_BENCH_TIMEOUT_S`` bounds each script (default 600 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import RESULTS_DIR

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    timeout = float(os.environ.get("CXM_BENCH_TIMEOUT_S", "600"))
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.name for a in argv)]
    failed: list[str] = []
    started = time.time()
    for script in scripts:
        print(f"== {script.name}", flush=True)
        module = f"bench.{script.stem}"
        try:
            proc = subprocess.run([sys.executable, "-m", module], timeout=timeout, check=False)
            if proc.returncode != 0:
                failed.append(f"{script.name} (exit {proc.returncode})")
        except subprocess.TimeoutExpired:
            failed.append(f"{script.name} (timeout {timeout:.0f} s)")
    rows: list[tuple[str, str, str]] = []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        if path.stat().st_mtime < started:
            continue
        for key, value in doc["metrics"].items():
            rows.append((doc["name"], key, f"{value:,.3f}" if isinstance(value, float) else str(value)))
    width = max((len(r[0]) + len(r[1]) for r in rows), default=20) + 6
    print("\n" + "benchmark / metric".ljust(width) + "value")
    print("-" * (width + 16))
    for bench, key, value in rows:
        print(f"{bench} / {key}".ljust(width) + value)
    if failed:
        print("\nfailed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
