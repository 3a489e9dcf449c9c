"""From a customer's feature dict (``features.names.FEATURES``) to the numeric vector the models learn from.

One transform, two code paths with the same result: :meth:`Featurizer.transform_one` for a dict (River's
``learn_one``) and :meth:`Featurizer.transform_many` for a DataFrame (``learn_many``, vectorised, the
streaming path). Rules:

- numeric features (int, float) pass through ``sign(x) * log1p(|x|)`` (counts, amounts and "days since" with
  their 999/9999 sentinels are heavy-tailed; the log keeps a linear model well conditioned), except
  ``last_call_sentiment`` which already lies in -1..1;
- bools become 0.0 / 1.0;
- strings with a known vocabulary (``last_call_reason``, ``preferred_channel``) are one-hot encoded as
  ``name=value``; other strings (``timezone``) are dropped; unknown values give an all-zero one-hot;
- a missing feature takes its default from the contract; names outside the contract are ignored.

>>> fz = Featurizer()
>>> v = fz.transform_one({"clicks_7d": 3, "eta_given": False, "preferred_channel": "sms"})
>>> round(v["clicks_7d"], 4), v["eta_given"], v["preferred_channel=sms"], v["preferred_channel=email"]
(1.3863, 0.0, 1.0, 0.0)
>>> import pandas as pd
>>> m = fz.transform_many(pd.DataFrame([{"clicks_7d": 3, "eta_given": False, "preferred_channel": "sms"}]))
>>> bool((m.iloc[0] == pd.Series(v)[m.columns]).all())
True
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

from features.names import CHANNELS, FEATURES

#: Reasons of the call contract (events/schemas/call.json); "" = no call yet.
CALL_REASONS: tuple[str, ...] = (
    "terminal_connection",
    "billing",
    "product_question",
    "cancellation",
    "retention",
    "service_followup",
    "other",
)
#: Strings that are one-hot encoded, with their vocabulary.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "last_call_reason": CALL_REASONS,
    "preferred_channel": CHANNELS,
}
#: Numeric features kept on their own scale.
UNLOGGED: frozenset[str] = frozenset({"last_call_sentiment"})


def _slog(x: float) -> float:
    return math.copysign(math.log1p(abs(x)), x)


#: Inside :func:`shared_transforms`: (id of the input frame, featurizer repr) -> (input frame, result).
_SHARED: ContextVar[dict[tuple[int, str], tuple[pd.DataFrame, pd.DataFrame]] | None] = ContextVar(
    "featurize_shared", default=None
)


@contextlib.contextmanager
def shared_transforms() -> Iterator[None]:
    """Within the block, featurizers with the same configuration transform a given DataFrame once (each caller
    gets its own copy of the result). For scoring one batch with several models; the frames must not be
    modified inside the block.

    >>> df = pd.DataFrame({"clicks_7d": [3]})
    >>> with shared_transforms():
    ...     a, b = Featurizer().transform_many(df), Featurizer().transform_many(df)
    >>> a.equals(b), a is b
    (True, False)
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


class Featurizer:
    """Stateless transform from contract features to named floats (see the module doc).

    ``log_transform=False`` keeps the raw numeric values. ``exclude`` drops features by name.
    """

    def __init__(self, log_transform: bool = True, exclude: tuple[str, ...] = ()) -> None:
        self.log_transform = log_transform
        self.exclude = tuple(exclude)
        self._numeric: list[str] = []
        self._bools: list[str] = []
        self._onehot: list[tuple[str, str]] = []
        for f in FEATURES.values():
            if f.name in self.exclude:
                continue
            if f.dtype in ("int", "float"):
                self._numeric.append(f.name)
            elif f.dtype == "bool":
                self._bools.append(f.name)
            elif f.name in VOCABULARIES:
                self._onehot.extend((f.name, v) for v in VOCABULARIES[f.name])
        self.columns: list[str] = [*self._numeric, *self._bools, *(f"{n}={v}" for n, v in self._onehot)]

    def __repr__(self) -> str:
        return f"Featurizer(log_transform={self.log_transform}, exclude={self.exclude})"

    def transform_one(self, x: Mapping[str, Any]) -> dict[str, float]:
        """Transform one feature dict (missing names take the contract defaults)."""
        out: dict[str, float] = {}
        for n in self._numeric:
            v = x.get(n)
            v = FEATURES[n].default if v is None else v
            fv = float(v)
            out[n] = _slog(fv) if self.log_transform and n not in UNLOGGED else fv
        for n in self._bools:
            v = x.get(n)
            out[n] = 1.0 if (FEATURES[n].default if v is None else v) else 0.0
        for n, value in self._onehot:
            v = x.get(n)
            out[f"{n}={value}"] = 1.0 if (FEATURES[n].default if v is None else v) == value else 0.0
        return out

    def transform_many(self, df: pd.DataFrame) -> pd.DataFrame:
        """Transform a DataFrame of feature rows; the result has :attr:`columns` and the input's index.

        Column-wise numpy (a fixed cost per batch matters: the decision job scores every coalescing window).

        >>> fz = Featurizer()
        >>> out = fz.transform_many(pd.DataFrame({"eta_given": [True, None], "clicks_1h": [3.0, None]}))
        >>> out["eta_given"].tolist() == [1.0, float(bool(FEATURES["eta_given"].default))], out.shape[0]
        (True, 2)
        """
        memo = _SHARED.get()
        if memo is not None:
            key = (id(df), repr(self))
            hit = memo.get(key)
            if hit is not None and hit[0] is df:
                return hit[1].copy()
            out = self._transform_many(df)
            memo[key] = (df, out)
            return out.copy()
        return self._transform_many(df)

    def _numeric_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Defaults of the numeric features and which of them are log-transformed, built on first use (also for
        featurizers unpickled from snapshots made before this cache existed)."""
        vectors = self.__dict__.get("_numeric_cache")
        if vectors is None:
            vectors = (np.array([float(FEATURES[n].default) for n in self._numeric]),
                       np.array([n not in UNLOGGED for n in self._numeric]))
            self._numeric_cache = vectors
        return vectors

    def _numeric_block(self, df: pd.DataFrame) -> dict[str, np.ndarray] | None:
        """All numeric columns as one float matrix (missing values -> defaults, log transform) when every one is
        present with a numeric dtype (the streaming path, after ``derive_frame``); None otherwise."""
        dtypes = df.dtypes.to_dict()
        if not self._numeric or not all(n in dtypes and dtypes[n].kind in "biuf" for n in self._numeric):
            return None
        defaults, logged = self._numeric_vectors()
        a = df[self._numeric].to_numpy(dtype=float)
        nan = np.isnan(a)
        if nan.any():
            a = np.where(nan, defaults, a)
        if self.log_transform:
            a = np.where(logged, np.sign(a) * np.log1p(np.abs(a)), a)
        return {n: a[:, j] for j, n in enumerate(self._numeric)}

    def _numeric_by_column(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """The numeric columns one by one (some missing or not numeric: training frames, hand-made rows)."""
        cols: dict[str, np.ndarray] = {}
        for n in self._numeric:
            default = float(FEATURES[n].default)
            if n in df.columns:
                s = df[n]
                if pd.api.types.is_float_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype):
                    a = s.to_numpy(float)  # already numeric: to_numeric would be a copy
                else:
                    a = pd.to_numeric(s, errors="coerce").to_numpy(float)
                a = np.where(np.isnan(a), default, a)
            else:
                a = np.full(len(df), default)
            cols[n] = np.sign(a) * np.log1p(np.abs(a)) if self.log_transform and n not in UNLOGGED else a
        return cols

    def _transform_many(self, df: pd.DataFrame) -> pd.DataFrame:
        n_rows = len(df)
        present = set(df.columns)
        block = self._numeric_block(df)
        cols = block if block is not None else self._numeric_by_column(df)
        filled: dict[str, np.ndarray] = {}

        def values(n: str) -> np.ndarray:  # object values, missing ones replaced by the contract default
            if n not in filled:
                v = df[n].to_numpy(object)
                missing = pd.isna(v)
                if missing.any():
                    v = v.copy()
                    v[missing] = FEATURES[n].default
                filled[n] = v
            return filled[n]

        for n in self._bools:
            if n in present:
                cols[n] = values(n).astype(bool).astype(float)
            else:
                cols[n] = np.full(n_rows, 1.0 if FEATURES[n].default else 0.0)
        for n, value in self._onehot:
            if n in present:
                cols[f"{n}={value}"] = (values(n) == value).astype(float)
            else:
                cols[f"{n}={value}"] = np.full(n_rows, 1.0 if FEATURES[n].default == value else 0.0)
        return pd.DataFrame(cols, index=df.index, columns=self.columns)
