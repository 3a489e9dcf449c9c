"""Local services started as plain processes: Kafka (KRaft, from its Maven jars), Redis, a Flink cluster."""

from infra.services.base import ServiceError

__all__ = ["ServiceError"]
