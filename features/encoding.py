"""Byte-exact, cached encoders for Feast's online formats (entity keys, ``Value`` and ``Timestamp`` protos).

Feast's own write path builds one protobuf object per value and hashes every feature name for every row
(see STACK.md). The bytes are fully determined by the value, so this module writes them directly:
a ``Value`` proto with one scalar set is ``tag + payload``; small ints, bools and strings are cached.
Tests compare every encoder with protobuf's own serialisation and read the values back through Feast.

>>> encode_value("int", 3) == bytes([0x20, 3])
True
>>> encode_value("bool", True), encode_value("str", "ab"), encode_value("int", None)
(b'8\\x01', b'\\x12\\x02ab', b'')
>>> encode_timestamp_ms(1_500) == bytes([0x08, 1, 0x10]) + _varint(500_000_000)
True
>>> entity_key_bytes("c1")[:4]
b'\\x01\\x00\\x00\\x00'
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from features.names import DType

#: ``feast.protos.feast.types.Value_pb2.ValueType.STRING`` (checked against Feast in the tests).
_VALUE_TYPE_STRING = 2
#: Field tags of ``feast.types.Value`` (field number << 3 | wire type).
_TAG_STRING = b"\x12"  # string_val = 2, length-delimited
_TAG_INT64 = b"\x20"  # int64_val = 4, varint
_TAG_DOUBLE = b"\x29"  # double_val = 5, 64-bit
_TAG_BOOL = b"\x38"  # bool_val = 7, varint
_PACK_I = struct.Struct("<I").pack
_PACK_D = struct.Struct("<d").pack
_CACHE_LIMIT = 1 << 16


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint of an int (negative numbers as 64-bit two's complement).

    >>> _varint(1), _varint(300), len(_varint(-1))
    (b'\\x01', b'\\xac\\x02', 10)
    """
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


@lru_cache(maxsize=_CACHE_LIMIT)
def _enc_int(v: int) -> bytes:
    return _TAG_INT64 + _varint(v)


@lru_cache(maxsize=_CACHE_LIMIT)
def _enc_str(v: str) -> bytes:
    raw = v.encode("utf-8")
    return _TAG_STRING + _varint(len(raw)) + raw


_TRUE = _TAG_BOOL + b"\x01"
_FALSE = _TAG_BOOL + b"\x00"


def _enc_float(v: float) -> bytes:
    return _TAG_DOUBLE + _PACK_D(v)


def _enc_bool(v: bool) -> bytes:
    return _TRUE if v else _FALSE


def _int(v: Any) -> bytes:
    return b"" if v is None else _enc_int(int(v))


def _float(v: Any) -> bytes:
    return b"" if v is None else _enc_float(float(v))


def _bool(v: Any) -> bytes:
    return b"" if v is None else _enc_bool(bool(v))


def _str(v: Any) -> bytes:
    return b"" if v is None else _enc_str(str(v))


#: Encoder of a serialised ``feast.types.Value`` per contract dtype (``None`` -> empty Value = null).
VALUE_ENCODERS: dict[str, Callable[[Any], bytes]] = {"int": _int, "float": _float, "bool": _bool, "str": _str}


def encode_value(dtype: DType, value: Any) -> bytes:
    """Serialised ``feast.types.Value`` of one Python value of a contract dtype (values are coerced)."""
    return VALUE_ENCODERS[dtype](value)


def value_text(dtype: DType, value: Any) -> str | None:
    """The ``value_text`` column Feast's SQLite store fills beside the blob.

    >>> value_text("bool", True), value_text("int", 4.0), value_text("str", "x")
    ('True', '4', 'x')
    """
    if value is None:
        return None
    caster: dict[str, Callable[[Any], Any]] = {"int": int, "float": float, "bool": bool, "str": str}
    return str(caster[dtype](value))


def encode_timestamp_ms(ms: int) -> bytes:
    """Serialised ``google.protobuf.Timestamp`` of epoch milliseconds (Feast's ``_ts:<view>`` field)."""
    seconds, rem = divmod(ms, 1000)
    out = b""
    if seconds:
        out += b"\x08" + _varint(seconds)
    if rem:
        out += b"\x10" + _varint(rem * 1_000_000)
    return out


def decode_timestamp_ms(raw: bytes) -> int:
    """Epoch milliseconds of a serialised ``google.protobuf.Timestamp`` (inverse of encode_timestamp_ms).

    >>> decode_timestamp_ms(encode_timestamp_ms(1_732_406_400_123))
    1732406400123
    >>> decode_timestamp_ms(b"")
    0
    """
    fields = {1: 0, 2: 0}
    i = 0
    while i < len(raw):
        tag = raw[i]
        i += 1
        n = shift = 0
        while True:
            b = raw[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        fields[tag >> 3] = n
    return fields[1] * 1000 + fields[2] // 1_000_000


@lru_cache(maxsize=16)
def _entity_prefix(join_key: str) -> bytes:
    k = join_key.encode("utf-8")
    return _PACK_I(1) + _PACK_I(_VALUE_TYPE_STRING) + _PACK_I(len(k)) + k + _PACK_I(_VALUE_TYPE_STRING)


def entity_key_bytes(entity_value: str, join_key: str = "customer_id") -> bytes:
    """Feast's ``serialize_entity_key`` (version 3) of a single string join key."""
    v = entity_value.encode("utf-8")
    return _entity_prefix(join_key) + _PACK_I(len(v)) + v


@lru_cache(maxsize=4096)
def redis_field(view: str, feature: str) -> bytes:
    """Redis hash field of one feature of a view: Feast's murmur3 of ``"<view>:<feature>"``, computed once."""
    from feast.infra.online_stores.helpers import _mmh3

    return bytes(_mmh3(f"{view}:{feature}"))


def redis_ts_field(view: str) -> bytes:
    """Redis hash field holding the event timestamp of a view's row.

    >>> redis_ts_field("call")
    b'_ts:call'
    """
    return f"_ts:{view}".encode()
