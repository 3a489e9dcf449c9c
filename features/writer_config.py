"""Configuration of the changelog -> Feast writer (``features.writer``).

>>> WriterConfig().batch_max_rows, WriterConfig().offline_flush_ms
(5000, 30000)
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
    # one part per group and flush: flushing with every 200 ms batch left ~100,000 small files after a few runs
    offline_flush_ms: int = Field(default=30_000, ge=0, description="write the buffered offline rows at most this "
                                  "often (0: with every batch); offsets are committed once both stores have them")
    offline_max_rows: int = Field(default=100_000, ge=1, description="write the offline rows earlier when this "
                                  "many are buffered (bounds the writer's memory)")
    skip_older: bool = Field(default=True, description="Redis: never overwrite a newer stored row")
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    max_poll_interval_ms: int = Field(default=600_000, ge=10_000)
