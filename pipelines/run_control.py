"""Unbounded runs (``cxm run --unbounded``): a simulation that goes on until Ctrl-C, then ends cleanly.

The first Ctrl-C (SIGINT) only asks the simulator to stop: it flushes what it buffered, the run waits for the
jobs to catch up and prints its summary as a bounded run does. A second Ctrl-C interrupts at once.

>>> from simulator.config import SimConfig
>>> sim = UntilStopped(SimConfig(customers=5, days=1))
>>> sim.done
False
>>> sim.stop.set()
>>> sim.done
True
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from simulator.engine import Simulation

#: The simulated horizon of an unbounded run (the simulator stops at Ctrl-C long before).
UNBOUNDED_DAYS = 36_500.0


class UntilStopped(Simulation):
    """A simulation that is also done once ``stop`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop = threading.Event()

    @property
    def done(self) -> bool:
        return self.stop.is_set() or super().done


@contextmanager
def stop_on_sigint(stop: threading.Event, echo: Any = print) -> Iterator[threading.Event]:
    """While active, the first SIGINT sets ``stop`` (the default handler is back for the next one).

    Only in the main thread (Python delivers signals there); elsewhere it does nothing.

    >>> ev = threading.Event()
    >>> with stop_on_sigint(ev, echo=lambda _: None):
    ...     signal.raise_signal(signal.SIGINT)
    >>> ev.is_set()
    True
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        echo("\nstopping: the simulator ends now; the jobs catch up, then the summary (Ctrl-C again to abort)")
        stop.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


__all__ = ["UNBOUNDED_DAYS", "UntilStopped", "stop_on_sigint"]
