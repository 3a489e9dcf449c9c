"""Deterministic ids without per-event Python objects: hashed counters rendered as Arrow string arrays.

>>> hex_ids(np.array([0, 1], dtype=np.uint64), seed=7).to_pylist() == hex_ids(np.array([0, 1],
...     dtype=np.uint64), seed=7).to_pylist()
True
>>> [len(s) for s in hex_ids(np.array([0, 1], dtype=np.uint64), seed=7).to_pylist()]
[16, 16]
>>> padded_ids("c", np.array([42]), 7).to_pylist()
['c0000042']
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The SplitMix64 finaliser, vectorised (a bijection on 64-bit integers)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        out: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return out


def hex_ids(counters: npt.NDArray[np.uint64], seed: int) -> pa.StringArray:
    """16-hex-digit ids of counters, unique per (seed, counter), as one Arrow array (no Python strings)."""
    with np.errstate(over="ignore"):
        mixed = splitmix64(counters.astype(np.uint64) ^ splitmix64(np.array([seed], dtype=np.uint64))[0])
    data = mixed.astype(">u8").tobytes().hex().encode("ascii")
    n = len(counters)
    offsets = (np.arange(n + 1, dtype=np.int32) * 16).tobytes()
    arr: pa.StringArray = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return arr


def padded_ids(prefix: str, numbers: npt.NDArray[np.integer], width: int) -> pa.StringArray:
    """``prefix`` + zero-padded decimal numbers, vectorised in Arrow."""
    digits = pc.utf8_lpad(pa.array(numbers.astype(np.int64)).cast(pa.string()), width=width, padding="0")
    out: pa.StringArray = pc.binary_join_element_wise(prefix, digits, "")
    return out


def customer_ids(idx: npt.NDArray[np.integer]) -> pa.StringArray:
    """Customer ids like ``c0000042``."""
    return padded_ids("c", idx, 7)
