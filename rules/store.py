"""Reload policies without a restart: a store that re-reads changed files and keeps the last good set.

>>> store = PolicyStore()
>>> store.current.version.startswith("p-")
True
>>> store.refresh()  # nothing changed
False
"""

from __future__ import annotations

import threading
from pathlib import Path

from rules.catalogue import DEFAULT_ACTIONS
from rules.engine import PolicySet
from rules.errors import PolicyError
from rules.policies import DEFAULT_POLICY_DIR


class PolicyStore:
    """Holds the current :class:`PolicySet`; :meth:`refresh` swaps in a new one atomically when the files
    changed and load cleanly, else keeps the last good set and records the error in :attr:`last_error`."""

    def __init__(self, policy_dir: Path = DEFAULT_POLICY_DIR, actions: Path = DEFAULT_ACTIONS) -> None:
        self.policy_dir, self.actions = Path(policy_dir), Path(actions)
        self._lock = threading.Lock()
        self.last_error: PolicyError | None = None
        self._stamp = self._fingerprint()
        self._current = PolicySet.load(self.policy_dir, self.actions)  # the first load must succeed

    @property
    def current(self) -> PolicySet:
        return self._current

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        paths = [self.actions]
        if self.policy_dir.is_dir():
            paths += sorted(p for p in self.policy_dir.iterdir() if p.suffix in (".yaml", ".yml"))
        out = []
        for p in paths:
            try:
                st = p.stat()
                out.append((str(p), st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((str(p), -1, -1))
        return tuple(out)

    def refresh(self) -> bool:
        """Reload when any file changed; True when a new set was swapped in."""
        stamp = self._fingerprint()
        if stamp == self._stamp:
            return False
        with self._lock:
            self._stamp = stamp
            try:
                new = PolicySet.load(self.policy_dir, self.actions)
            except PolicyError as exc:
                self.last_error = exc
                return False
            self.last_error = None
            if new.version == self._current.version:
                return False
            self._current = new
            return True
