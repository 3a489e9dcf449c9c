"""Store geofences (``features/stores.yaml``): a validated loader and vectorised geofence helpers.

Pure functions over numpy arrays; the simulator, the feature job and the oracle share them.

>>> stores = load_stores()
>>> len(stores) >= 20, stores[0].id
(True, 's01')
>>> g = Geofences.from_stores(stores)
>>> inside, idx = g.locate(np.array([40.4169, 0.0]), np.array([-3.7035, 0.0]))
>>> inside.tolist(), [g.ids[i] for i in idx]
([True, False], ['s01', 's08'])
>>> round(float(haversine_m(np.array([0.0]), np.array([0.0]), 0.0, 1.0)[0]))
111195
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import available_timezones

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

STORES_FILE = Path(__file__).resolve().parent / "stores.yaml"
EARTH_RADIUS_M = 6_371_008.8

FloatArray = npt.NDArray[np.float64]


class Store(BaseModel):
    """One store and its circular geofence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=32)
    name: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=5_000)
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _known_tz(cls, v: str) -> str:
        if v not in available_timezones():
            raise ValueError(f"unknown IANA time zone {v!r}")
        return v


def load_stores(path: Path = STORES_FILE) -> list[Store]:
    """Read and validate the store list (ids must be unique)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    stores = [Store(**s) for s in raw["stores"]]
    ids = [s.id for s in stores]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate store ids in {path}")
    return stores


def haversine_m(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray | float, lon2: FloatArray | float
) -> FloatArray:
    """Great-circle distance in metres, broadcasting over numpy arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    out: FloatArray = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return out


@dataclass(frozen=True)
class Geofences:
    """The stores as arrays, for vectorised look-ups."""

    ids: tuple[str, ...]
    lat: FloatArray
    lon: FloatArray
    radius_m: FloatArray
    timezones: tuple[str, ...]

    @classmethod
    def from_stores(cls, stores: list[Store]) -> Geofences:
        return cls(
            ids=tuple(s.id for s in stores),
            lat=np.array([s.lat for s in stores], dtype=np.float64),
            lon=np.array([s.lon for s in stores], dtype=np.float64),
            radius_m=np.array([s.radius_m for s in stores], dtype=np.float64),
            timezones=tuple(s.timezone for s in stores),
        )

    @classmethod
    def load(cls, path: Path = STORES_FILE) -> Geofences:
        return cls.from_stores(load_stores(path))

    def distances_m(self, lat: FloatArray, lon: FloatArray) -> FloatArray:
        """Distance of every point (rows) to every store (columns), metres."""
        return haversine_m(
            np.asarray(lat)[:, None], np.asarray(lon)[:, None], self.lat[None, :], self.lon[None, :]
        )

    def nearest(self, lat: FloatArray, lon: FloatArray) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """Index of the nearest store of every point and the distance to it (metres).

        >>> g = Geofences.load()
        >>> idx, d = g.nearest(np.array([51.5136]), np.array([-0.1365]))
        >>> g.ids[int(idx[0])], float(d[0]) < 1.0
        ('s11', True)
        """
        d = self.distances_m(lat, lon)
        idx = np.argmin(d, axis=1)
        return idx, d[np.arange(d.shape[0]), idx]

    def locate(self, lat: FloatArray, lon: FloatArray) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp]]:
        """Whether each point lies inside a geofence, and the nearest store's index."""
        idx, d = self.nearest(lat, lon)
        return d <= self.radius_m[idx], idx
