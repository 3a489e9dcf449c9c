"""Configuration of the changelog -> Feast writer (``features.writer``).

>>> WriterConfig().batch_max_rows
5000
>>> from pydantic import ValidationError
>>> try:
...     WriterConfig(batch_max_ms=0)
... except ValidationError:
...     print("rejected")
rejected
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WriterConfig(BaseModel):
    """Batching, retry and Kafka consumer settings of the feature writer."""

    model_config = ConfigDict(extra="forbid")

    topic: str | None = Field(default=None, description="changelog topic (default: settings.topics.features)")
    group_id: str = "cxm-feature-writer"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    batch_max_rows: int = Field(default=5000, ge=1, description="flush when this many records are buffered")
    batch_max_ms: int = Field(default=200, ge=1, description="flush at most this long after the first record")
    poll_max_messages: int = Field(default=1000, ge=1, description="records per consume() call")
    offline: bool = Field(default=True, description="also append the rows to the offline Parquet store")
    skip_older: bool = Field(default=True, description="Redis: never overwrite a newer stored row")
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    max_poll_interval_ms: int = Field(default=600_000, ge=10_000)
