"""Versioned model snapshots on disk, and a watcher that lets a running job pick up a new one without restart.

Layout: ``<root>/<name>/<version>.pkl`` (the pickled model) and ``<root>/<name>/manifest.json`` (one entry per
version: name, version, training watermark in epoch ms, created_at, file, extra metadata). Versions are
increasing integers. A snapshot is written to a temporary file and renamed, and the manifest is replaced
atomically *after* the pickle exists, so a reader never sees a version whose file is incomplete.

**Parallelism > 1.** One learner owns a model and publishes snapshots; any number of scorers (Flink subtasks,
decision services) load the latest snapshot and poll for newer ones (:class:`SnapshotWatcher`). Scorers never
learn, so every scorer with the same version gives identical scores, whatever the parallelism.

>>> import tempfile
>>> reg = ModelRegistry(tempfile.mkdtemp())
>>> reg.save("toy", {"w": 1}, watermark_ms=10, now_ms=1_000).version
1
>>> reg.save("toy", {"w": 2}, watermark_ms=20, now_ms=2_000).version
2
>>> reg.latest("toy").watermark_ms, reg.load("toy")
(20, {'w': 2})
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from events.timefmt import ms_to_rfc3339


@dataclass(frozen=True)
class Snapshot:
    """Metadata of one saved model version."""

    name: str
    version: int
    watermark_ms: int
    created_at: str
    file: str
    meta: dict[str, Any] = field(default_factory=dict)


class ModelRegistry:
    """Snapshots under ``root`` (the project uses ``settings.var_dir / "models"``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _manifest_path(self, name: str) -> Path:
        return self.root / name / "manifest.json"

    def versions(self, name: str) -> list[Snapshot]:
        """Every saved version of ``name``, oldest first."""
        path = self._manifest_path(name)
        if not path.exists():
            return []
        return [Snapshot(**e) for e in json.loads(path.read_text())["versions"]]

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/manifest.json"))

    def latest(self, name: str) -> Snapshot | None:
        v = self.versions(name)
        return v[-1] if v else None

    def save(
        self, name: str, model: Any, watermark_ms: int, now_ms: int, meta: dict[str, Any] | None = None
    ) -> Snapshot:
        """Pickle ``model`` as the next version of ``name``; ``now_ms`` (injected clock) stamps created_at."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        existing = self.versions(name)
        version = existing[-1].version + 1 if existing else 1
        file = f"{version:06d}.pkl"
        self._atomic_write(folder / file, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        snap = Snapshot(name, version, int(watermark_ms), ms_to_rfc3339(now_ms), file, dict(meta or {}))
        doc = {"name": name, "versions": [asdict(s) for s in [*existing, snap]]}
        self._atomic_write(self._manifest_path(name), json.dumps(doc, indent=1).encode())
        return snap

    def load(self, name: str, version: int | None = None) -> Any:
        """Unpickle a version of ``name`` (default: the latest). Only load snapshots you wrote yourself."""
        snaps = self.versions(name)
        if not snaps:
            raise FileNotFoundError(f"no snapshot of model {name!r} under {self.root}")
        snap = snaps[-1] if version is None else next((s for s in snaps if s.version == version), None)
        if snap is None:
            raise FileNotFoundError(f"model {name!r} has no version {version}")
        with open(self.root / name / snap.file, "rb") as fh:
            return pickle.load(fh)

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)


class SnapshotWatcher:
    """Holds the latest snapshot of one model; ``poll()`` swaps in a newer version when one was published.

    >>> import tempfile
    >>> reg = ModelRegistry(tempfile.mkdtemp())
    >>> _ = reg.save("m", "v1", watermark_ms=0, now_ms=0)
    >>> w = SnapshotWatcher(reg, "m")
    >>> w.model, w.poll()
    ('v1', False)
    >>> _ = reg.save("m", "v2", watermark_ms=0, now_ms=0)
    >>> w.poll(), w.model, w.version
    (True, 'v2', 2)
    """

    def __init__(self, registry: ModelRegistry, name: str) -> None:
        self.registry = registry
        self.name = name
        self.model: Any = None
        self.version = 0
        self.poll()
        if self.model is None:
            raise FileNotFoundError(f"no snapshot of model {name!r} under {registry.root}")

    def poll(self) -> bool:
        """Load the latest version if it is newer than the one held; returns whether it changed."""
        snap = self.registry.latest(self.name)
        if snap is None or snap.version <= self.version:
            return False
        self.model = self.registry.load(self.name, snap.version)
        self.version = snap.version
        return True
