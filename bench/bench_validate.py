"""Validation cost per event: raw bytes -> orjson -> compiled fastjsonschema, over a realistic kind mix."""

from __future__ import annotations

import time

from bench.common import write_result
from events.validate import Valid, validate_bytes
from simulator.config import SimConfig
from simulator.engine import Simulation


def main() -> None:
    sim = Simulation(SimConfig(customers=3000, days=3, seed=1))
    sim.run_ticks()
    lines = [s.encode() for b in sim.flush() for s in b.wire.lines.to_pylist()]
    lines = lines[:200_000]
    for line in lines[:5000]:  # warm-up
        validate_bytes(line)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        ok = sum(isinstance(validate_bytes(line), Valid) for line in lines)
        best = min(best, time.perf_counter() - t)
    if ok != len(lines):
        raise RuntimeError(f"{len(lines) - ok} simulated events failed validation")
    write_result(
        "validate",
        {"validate_us_per_event": round(best / len(lines) * 1e6, 3)},
        {"events": len(lines), "note": "orjson.loads + kind dispatch + compiled fastjsonschema"},
    )


if __name__ == "__main__":
    main()
