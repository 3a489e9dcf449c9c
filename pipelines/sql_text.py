"""Literals and identifiers of generated Flink SQL (pure, no Flink import)."""

from __future__ import annotations

import math

#: How event times are written (``yyyy-MM-ddTHH:mm:ss.SSSZ``) as a Flink ``DATE_FORMAT``/``TO_TIMESTAMP`` pattern.
TIME_FORMAT = "yyyy-MM-dd''T''HH:mm:ss.SSS''Z''"


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_double(value: float) -> str:
    """A DOUBLE literal (``52.5`` alone is a DECIMAL in Flink SQL: comparing a DOUBLE column with it converts
    the column to DECIMAL on every row).

    >>> sql_double(52.5), sql_double(1e-05), sql_double(-90)
    ('52.5E0', '1e-05', '-90.0E0')
    """
    text = repr(float(value))
    if not math.isfinite(float(value)):
        raise ValueError(f"not a finite number: {value!r}")
    return text if "e" in text else text + "E0"


def ident(name: str) -> str:
    """A quoted identifier (``group``, ``offset`` ... are reserved words).

    >>> ident("group")
    '`group`'
    """
    return f"`{name}`"

