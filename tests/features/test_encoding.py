"""The hand-written encoders produce exactly the bytes of Feast's protobufs, hashes and entity keys."""

from __future__ import annotations

import math
import random

import pytest

from features.encoding import (
    decode_timestamp_ms,
    encode_timestamp_ms,
    encode_value,
    entity_key_bytes,
    redis_field,
    value_text,
)


def _ints(rng: random.Random) -> list[int]:
    edge = [0, 1, -1, 127, 128, 2**31, -(2**31), 2**63 - 1, -(2**63), 1_732_406_400_123]
    return edge + [rng.randint(-(2**63), 2**63 - 1) for _ in range(500)] + [rng.randint(0, 300) for _ in range(200)]


def test_value_bytes_equal_protobuf() -> None:
    from feast.protos.feast.types.Value_pb2 import Value

    rng = random.Random(7)
    for v in _ints(rng):
        assert encode_value("int", v) == Value(int64_val=v).SerializeToString(), v
    floats = [0.0, -0.0, 1.5, -1e300, math.inf, -math.inf, 5e-324] + [rng.uniform(-1e9, 1e9) for _ in range(500)]
    for f in floats:
        assert encode_value("float", f) == Value(double_val=f).SerializeToString(), f
    for b in (True, False):
        assert encode_value("bool", b) == Value(bool_val=b).SerializeToString()
    for s in ["", "a", "Europe/Zürich", "x" * 300, "😀 emoji", "\x00nul"]:
        assert encode_value("str", s) == Value(string_val=s).SerializeToString(), s
    assert encode_value("float", None) == Value().SerializeToString() == b""


def test_coercion_matches_contract_types() -> None:
    assert encode_value("int", 3.0) == encode_value("int", 3)
    assert encode_value("float", 2) == encode_value("float", 2.0)
    assert value_text("float", 2) == "2.0"


def test_timestamp_bytes_equal_protobuf_and_round_trip() -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    rng = random.Random(3)
    for ms in [0, 1, 999, 1000, 1001, 1_732_406_400_000] + [rng.randint(0, 4_000_000_000_000) for _ in range(500)]:
        proto = Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)
        assert encode_timestamp_ms(ms) == proto.SerializeToString(), ms
        assert decode_timestamp_ms(proto.SerializeToString()) == ms


@pytest.mark.parametrize("cid", ["c1", "", "customer-000042", "ü-ñ"])
def test_entity_key_equals_feast(cid: str) -> None:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    key = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=cid)])
    assert entity_key_bytes(cid) == serialize_entity_key(key, entity_key_serialization_version=3)


def test_redis_field_is_feast_hash() -> None:
    from feast.infra.online_stores.helpers import _mmh3

    assert redis_field("call", "calls_7d") == _mmh3("call:calls_7d")
    assert redis_field("call", "calls_7d") != redis_field("call", "calls_24h")
