"""Build a :class:`feast.FeatureStore` from :class:`cxm.config.Settings`, without ``feature_store.yaml``.

The registry, the SQLite online store and the offline Parquet parts live under ``settings.var_dir/feast``;
the online store is SQLite or Redis per ``settings.feast.online_store`` (Redis at
``settings.redis.connection_string``). Feast is imported inside the functions (importing it takes seconds).

>>> from cxm.config import Settings
>>> paths = FeastPaths.from_settings(Settings(var_dir="/tmp/x"))
>>> str(paths.registry), str(paths.offline_dir("gps"))
('/tmp/x/feast/registry.db', '/tmp/x/feast/offline/gps')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cxm.config import Settings

if TYPE_CHECKING:
    from feast import FeatureStore, RepoConfig

    from features.definitions import Definitions


@dataclass(frozen=True)
class FeastPaths:
    """Files of the Feast deployment under ``var_dir/feast``."""

    root: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> FeastPaths:
        return cls(Path(settings.var_dir) / "feast")

    @property
    def registry(self) -> Path:
        return self.root / "registry.db"

    @property
    def sqlite_online(self) -> Path:
        return self.root / "online.db"

    @property
    def offline_root(self) -> Path:
        return self.root / "offline"

    def offline_dir(self, group: str) -> Path:
        return self.offline_root / group


def repo_config(settings: Settings, registry_cache_ttl_s: int = 5) -> RepoConfig:
    """The Feast RepoConfig equivalent of ``features/feature_store.yaml`` for these settings."""
    from feast import RepoConfig
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.repo_config import RegistryConfig

    paths = FeastPaths.from_settings(settings)
    paths.root.mkdir(parents=True, exist_ok=True)
    online: SqliteOnlineStoreConfig | RedisOnlineStoreConfig
    if settings.feast.online_store == "redis":
        online = RedisOnlineStoreConfig(connection_string=settings.redis.connection_string)
    else:
        online = SqliteOnlineStoreConfig(path=str(paths.sqlite_online))
    return RepoConfig(
        project=settings.feast.project,
        provider="local",
        registry=RegistryConfig(path=str(paths.registry), cache_ttl_seconds=registry_cache_ttl_s),
        online_store=online,
        offline_store=DaskOfflineStoreConfig(),
        entity_key_serialization_version=3,
        repo_path=Path(settings.feast.repo_path),
    )


def definitions_for(settings: Settings) -> Definitions:
    """The repo's Feast objects with absolute offline paths under ``settings.var_dir``."""
    from features.definitions import build_definitions

    return build_definitions(FeastPaths.from_settings(settings).offline_root)


def feature_store(settings: Settings) -> FeatureStore:
    """A FeatureStore for these settings (call :func:`apply` once before reading or writing)."""
    from feast import FeatureStore

    return FeatureStore(config=repo_config(settings))


def apply(settings: Settings, store: FeatureStore | None = None) -> FeatureStore:
    """Register entity, sources, views and service, create the online tables and offline directories."""
    from features.offline_writer import ParquetAppender

    fs = store if store is not None else feature_store(settings)
    ParquetAppender(FeastPaths.from_settings(settings).offline_root).init_groups()
    fs.apply(definitions_for(settings).objects())  # type: ignore[arg-type]
    return fs
