"""bench.proctree: the CPU of a grandchild nobody waits for (a job's JVM) is counted under its job's part."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bench.proctree import TreeMonitor, classify

BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6:\n    pass\ntime.sleep(30)\n"


def test_grandchild_cpu_and_memory_are_counted_under_the_child_part() -> None:
    # the child starts a busy grandchild and is killed with it, unwaited: RUSAGE_CHILDREN would never see it
    child_code = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {BUSY!r}])\ntime.sleep(30)\n"
    with TreeMonitor(interval_s=0.05, classify_child=lambda cmd: "job") as mon:
        child = subprocess.Popen([sys.executable, "-c", child_code], start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and mon.usage().cpu_s.get("job", 0.0) < 0.6:
            time.sleep(0.1)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        time.sleep(0.2)
    u = mon.usage()
    assert u.cpu_s["job"] >= 0.55  # the grandchild's busy loop (plus two interpreters' start)
    assert u.cpu_s["self"] < u.cpu_s["job"]
    assert u.peak_rss_mib["job"] > 10  # two Python processes
    assert u.peak_total_rss_mib >= u.peak_rss_mib["job"]


def test_classify_names_a_part_by_its_module() -> None:
    assert classify(["python", "-m", "pipelines.decision_job", "--bounded"]) == "decision_job"
    assert classify(["/usr/bin/redis-server", "x"]) == "redis-server"
    assert classify([]) == "unknown"
