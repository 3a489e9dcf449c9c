"""The one wire format of times in events: RFC 3339, UTC, exactly milliseconds, literal ``Z``.

>>> from datetime import datetime, timezone, timedelta
>>> to_rfc3339_ms(datetime(2026, 11, 24, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))))
'2026-11-24T10:00:00.123Z'
>>> parse_rfc3339(to_rfc3339_ms(datetime(2026, 11, 24, tzinfo=timezone.utc))).isoformat()
'2026-11-24T00:00:00+00:00'
>>> ms_to_rfc3339(0)
'1970-01-01T00:00:00.000Z'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_rfc3339_ms(t: datetime) -> str:
    """Format a timezone-aware datetime in the event wire format (truncated to milliseconds)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: event times must be timezone-aware")
    u = t.astimezone(UTC)
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"


def to_epoch_ms(t: datetime) -> int:
    """Milliseconds since the Unix epoch of a timezone-aware datetime.

    >>> to_epoch_ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000
    """
    if t.tzinfo is None:
        raise ValueError("naive datetime: event times must be timezone-aware")
    return (t - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds.

    >>> from_epoch_ms(1000).isoformat()
    '1970-01-01T00:00:01+00:00'
    """
    return _EPOCH + timedelta(milliseconds=int(ms))


def ms_to_rfc3339(ms: int) -> str:
    """Epoch milliseconds in the event wire format."""
    return to_rfc3339_ms(from_epoch_ms(ms))


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time with a timezone designator (``Z`` or an offset) into an aware datetime.

    >>> parse_rfc3339("2026-11-24T10:00:00+01:00").isoformat()
    '2026-11-24T09:00:00+00:00'
    >>> parse_rfc3339("2026-11-24T10:00:00")
    Traceback (most recent call last):
    ...
    ValueError: time without a timezone designator: '2026-11-24T10:00:00'
    """
    t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"time without a timezone designator: {text!r}")
    return t.astimezone(UTC)
