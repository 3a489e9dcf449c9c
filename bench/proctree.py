"""CPU time and resident memory of the processes of a run, by part, sampled in a background thread (psutil).

``resource.getrusage(RUSAGE_CHILDREN)`` misses most of a run: each job's Python process starts a JVM, and when the
job is stopped (SIGTERM to its process group) nobody waits for that JVM, so its CPU time never reaches the
parent's rusage (bench_e2e reported 44 CPU-s for a run whose processes used ~280), and its peak RSS is that of
whichever descendant happened to be reaped. Here every process is sampled every ``interval_s``:

- parts: each child of this process, and everything below it, is one part named by ``classify`` of the child's
  command line (``feature_job``, ``decision_job``, ...); this process itself is ``self`` (simulator and Feast
  writer in ``main_run``); ``extra`` names outside processes to include (e.g. the Kafka broker);
- CPU: user + system time used since the monitor started (a process's last sample counts: up to ``interval_s``
  of a process that exits between two samples is lost);
- memory: the peak, over samples, of each part's summed RSS and of the sum over all parts.

>>> import time
>>> with TreeMonitor(interval_s=0.05) as mon:
...     t = time.process_time()
...     while time.process_time() - t < 0.2:
...         pass
>>> u = mon.usage()
>>> 0.1 < u.cpu_s["self"] < 5, u.peak_rss_mib["self"] > 10
(True, True)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import psutil


def classify(cmdline: list[str]) -> str:
    """The part a child process stands for: the module it runs (``-m x.y`` -> ``y``), else its program's name.

    >>> classify(["/v/bin/python", "-m", "pipelines.feature_job"]), classify(["/usr/bin/java", "-cp", "x"])
    ('feature_job', 'java')
    """
    if "-m" in cmdline[:-1]:
        return cmdline[cmdline.index("-m") + 1].rsplit(".", 1)[-1]
    return os.path.basename(cmdline[0]) if cmdline else "unknown"


@dataclass
class Usage:
    cpu_s: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    peak_total_rss_mib: float = 0.0
    samples: int = 0

    def total_cpu_s(self) -> float:
        return sum(self.cpu_s.values())


class TreeMonitor:
    """Samples this process, its descendants (by part) and ``extra`` processes until the ``with`` block ends."""

    def __init__(self, interval_s: float = 0.5, extra: dict[str, int] | None = None,
                 classify_child: Callable[[list[str]], str] = classify, discover_every: int = 4) -> None:
        self.interval_s = interval_s
        # finding new descendants scans all of /proc; the monitor runs inside the measured run and shares its
        # two cores, so it looks for new processes every ``discover_every`` samples (a process found late loses
        # nothing: its CPU counts from its start) and only samples the known ones in between
        self.discover_every = max(1, discover_every)
        self.extra = dict(extra or {})
        self.classify_child = classify_child
        self._me = psutil.Process()
        self._procs: dict[int, tuple[str, psutil.Process]] = {}
        self._base: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._usage = Usage()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-monitor", daemon=True)

    def __enter__(self) -> TreeMonitor:
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(last=True)

    def usage(self) -> Usage:
        cpu: dict[str, float] = {}
        for pid, (part, t) in self._last.items():
            cpu[part] = cpu.get(part, 0.0) + max(t - self._base.get(pid, 0.0), 0.0)
        self._usage.cpu_s = {k: round(v, 2) for k, v in sorted(cpu.items())}
        return self._usage

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _track(self, part: str, p: psutil.Process, first: bool) -> None:
        if p.pid not in self._procs:
            self._procs[p.pid] = (part, p)
            if first:  # already running: count from now on
                try:
                    t = p.cpu_times()
                    self._base[p.pid] = t.user + t.system
                except psutil.Error:
                    pass

    def _discover(self, first: bool) -> None:
        """Track this process, the ``extra`` ones, and every descendant under the part of its top-level child."""
        self._track("self", self._me, first)
        for name, pid in self.extra.items():
            try:
                self._track(name, psutil.Process(pid), first)
            except psutil.Error:
                continue
        kids: dict[int, list[int]] = {}
        for p in psutil.process_iter(["ppid"]):  # one pass over /proc for the whole tree
            ppid = p.info["ppid"]
            if ppid:
                kids.setdefault(ppid, []).append(p.pid)
        for child in kids.get(self._me.pid, []):
            try:
                known = self._procs.get(child)
                proc = known[1] if known is not None else psutil.Process(child)
                part = known[0] if known is not None else self.classify_child(proc.cmdline())
                self._track(part, proc, first)
                todo = list(kids.get(child, []))
                while todo:
                    d = todo.pop()
                    todo.extend(kids.get(d, []))
                    if d not in self._procs:
                        self._track(part, psutil.Process(d), first)
            except psutil.Error:
                continue

    def _sample(self, first: bool = False, last: bool = False) -> None:
        if first or last or self._usage.samples % self.discover_every == 0:
            self._discover(first)
        rss: dict[str, float] = {}
        for pid, (part, p) in list(self._procs.items()):
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    mem = p.memory_info().rss
            except psutil.Error:
                del self._procs[pid]  # exited: its last sample stays in _last
                continue
            self._last[pid] = (part, t.user + t.system)
            rss[part] = rss.get(part, 0.0) + mem / 2**20
        u = self._usage
        for part, mib in rss.items():
            u.peak_rss_mib[part] = round(max(u.peak_rss_mib.get(part, 0.0), mib), 1)
        u.peak_total_rss_mib = round(max(u.peak_total_rss_mib, sum(rss.values())), 1)
        u.samples += 1
