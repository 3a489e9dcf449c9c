"""Feast objects of the project: entity ``customer``, one push + Parquet source and feature view per group.

Everything is generated from :data:`features.names.GROUPS`, so the Feast schema cannot drift from the
contract. ``feast apply`` (run in ``features/``) collects the module-level objects below; programs call
:func:`build_definitions` with their own offline directory (``features.store`` does).

>>> d = build_definitions("/tmp/offline")
>>> sorted(fv.name for fv in d.feature_views) == sorted(GROUPS)
True
>>> [f.name for f in d.view("gps").features]
['last_store_visit_ms']
>>> d.view("gps").batch_source.path
'/tmp/offline/gps'
>>> len(d.service.feature_view_projections) == len(GROUPS)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Bool, Float64, Int64, PrimitiveFeastType, String

from features.names import GROUPS, feature_dtype

#: Where ``feast apply`` run from ``features/`` looks for the offline Parquet files (relative to the repo).
DEFAULT_OFFLINE_DIR = "../var/feast/offline"
#: Column names shared by every feature view's batch source.
ENTITY_COLUMN = "customer_id"
TIMESTAMP_COLUMN = "event_ts"
CREATED_COLUMN = "created_ts"
SERVICE_NAME = "customer_context"

FEAST_TYPES: dict[str, PrimitiveFeastType] = {"int": Int64, "float": Float64, "bool": Bool, "str": String}


def view_name(group: str) -> str:
    """Name of the feature view (and online table) of one group.

    >>> view_name("call")
    'call'
    """
    return group


def push_source_name(group: str) -> str:
    """Name of the push source of one group.

    >>> push_source_name("call")
    'call_push'
    """
    return f"{group}_push"


@dataclass(frozen=True)
class Definitions:
    """All Feast objects of the repo, ready for ``FeatureStore.apply``."""

    entity: Entity
    push_sources: dict[str, PushSource]
    feature_views: list[FeatureView]
    service: FeatureService

    def view(self, group: str) -> FeatureView:
        """The feature view of one group."""
        for fv in self.feature_views:
            if fv.name == view_name(group):
                return fv
        raise KeyError(f"no feature view for group {group!r}")

    def objects(self) -> list[object]:
        """Everything to apply, in dependency order."""
        return [self.entity, *self.push_sources.values(), *self.feature_views, self.service]


def build_definitions(offline_dir: str | Path = DEFAULT_OFFLINE_DIR) -> Definitions:
    """Build the entity, sources, views and service; ``offline_dir/<group>`` holds a group's Parquet parts."""
    entity = Entity(name="customer", join_keys=[ENTITY_COLUMN], value_type=ValueType.STRING,
                    description="A customer of the company")
    push_sources: dict[str, PushSource] = {}
    views: list[FeatureView] = []
    for group, names in GROUPS.items():
        batch = FileSource(
            name=f"{group}_parquet",
            path=f"{offline_dir}/{group}",
            timestamp_field=TIMESTAMP_COLUMN,
            # no created_timestamp_column: Feast's dask join fails on NaT created_ts (entity rows without a
            # match); the parts keep created_ts for audit and redelivered duplicates are identical rows
            description=f"Parquet parts of the {group} feature rows, appended by features.writer",
        )
        push = PushSource(name=push_source_name(group), batch_source=batch)
        push_sources[group] = push
        views.append(
            FeatureView(
                name=view_name(group),
                entities=[entity],
                ttl=timedelta(0),  # 0 = features never expire; time decay is derived at read time
                schema=[Field(name=ENTITY_COLUMN, dtype=String)]
                + [Field(name=n, dtype=FEAST_TYPES[feature_dtype(n)]) for n in names],
                source=push,
                online=True,
                description=f"Per-customer {group} features as of the customer's last {group} event",
                tags={"group": group},
            )
        )
    service = FeatureService(name=SERVICE_NAME, features=list[Any](views),
                             description="Every stored feature of a customer (derive.py adds the rest)")
    return Definitions(entity, push_sources, views, service)


# Module-level objects for the ``feast apply`` CLI (pure object construction, no I/O).
_DEFS = build_definitions()
customer = _DEFS.entity
customer_context = _DEFS.service
clickstream_push, call_push, complaint_push, gps_push = (_DEFS.push_sources[g] for g in
                                                         ("clickstream", "call", "complaint", "gps"))
purchase_push, response_push, consent_push, profile_push = (_DEFS.push_sources[g] for g in
                                                            ("purchase", "response", "consent", "profile"))
clickstream = _DEFS.view("clickstream")
call = _DEFS.view("call")
complaint = _DEFS.view("complaint")
gps = _DEFS.view("gps")
purchase = _DEFS.view("purchase")
response = _DEFS.view("response")
consent = _DEFS.view("consent")
profile = _DEFS.view("profile")
