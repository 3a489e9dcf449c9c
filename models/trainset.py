"""Point-in-time training sets: simulate -> events -> stored features -> as-of join -> derive -> labels.

Two backends give the same frame (one row per sampled ``(customer_id, ts_ms)``, every feature of
``features.names.FEATURES`` as of ``ts_ms``):

- ``oracle``: ``features.oracle.compute_features`` over the event log, then per group the latest row with
  ``event_ts_ms <= ts_ms`` (``pandas.merge_asof``), then ``features.derive.derive_frame(now = ts_ms)``;
- ``feast``: :func:`models.feast_trainset.feast_as_of`: ``get_historical_features`` per feature view (Feast does
  the same point-in-time join over the offline store the feature writer filled, see
  :func:`models.feast_trainset.load_feast`), then ``derive_frame``.

**Samples**: a customer is scored when its context changes, so the sample times are, per customer and
simulated day, the time of its last feature row that day (only while the customer has not churned).
**Labels** (:func:`label_samples`) follow :mod:`models.delayed`: churn in ``(t, t + window]`` = 1; a window fully
inside the observed period without churn = 0; otherwise unresolved (NaN). Renewals do not resolve a label by
default (``renewal_resolves``): in the simulator contracts renew monthly and about 70% of churns come within 30
days after a renewal, so "renewed" is no evidence of "no churn in the window". The default window is
``models.delayed.CHURN_WINDOW_MS`` (7 days; why: :mod:`models.delayed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.names import GROUPS
from models.delayed import CHURN_WINDOW_MS, DAY_MS


@dataclass
class SimulatedLog:
    """A simulated event log (arrival order = event time order) and its ground truth."""

    events: pd.DataFrame  # value (JSON), event_ts_ms, kind, customer_id
    outcomes: pd.DataFrame  # customer_id, ts_ms, outcome
    stage_changes: pd.DataFrame  # customer_id, ts_ms, stage
    start_ms: int
    end_ms: int


def simulate_log(customers: int, days: float, seed: int = 0, **config: Any) -> SimulatedLog:
    """Run the journey simulator in-process (no faults unless configured) and collect its log and truth."""
    from simulator.config import SimConfig
    from simulator.engine import Simulation

    sim = Simulation(SimConfig(customers=customers, days=days, seed=seed, **config))
    start = sim.now_ms
    parts: list[pd.DataFrame] = []
    while not sim.done:
        sim.run_ticks(24 * 7)
        for b in sim.flush():
            ts = b.table.column("event_time").cast(pa.int64()).to_numpy()
            parts.append(
                pd.DataFrame(
                    {
                        "value": b.wire.lines.to_pylist(),
                        "event_ts_ms": ts if len(ts) == len(b.wire.lines) else _ts_from_lines(b.wire.lines),
                        "kind": b.kind,
                    }
                )
            )
    events = pd.concat(parts, ignore_index=True).sort_values("event_ts_ms", kind="stable").reset_index(drop=True)
    outcome_rows = [_parse(v) for v in events.loc[events["kind"] == "outcome", "value"]]
    outcomes = pd.DataFrame(
        {
            "customer_id": [o["customer_id"] for o in outcome_rows],
            "ts_ms": events.loc[events["kind"] == "outcome", "event_ts_ms"].to_numpy(np.int64),
            "outcome": [o["outcome"] for o in outcome_rows],
        }
    )
    sc = sim.stage_changes().to_pandas()
    stages = pd.DataFrame(
        {
            "customer_id": sc["customer_id"].astype(str),
            "ts_ms": sc["valid_from"].astype("int64") // 1_000_000
            if sc["valid_from"].dt.unit == "ns"
            else sc["valid_from"].astype("int64"),
            "stage": sc["stage"].astype(str),
        }
    )
    return SimulatedLog(events, outcomes, stages, start, sim.now_ms)


def _parse(value: str) -> dict[str, Any]:
    import json

    out: dict[str, Any] = json.loads(value)
    return out


def _ts_from_lines(lines: pa.StringArray) -> np.ndarray:
    from events.timefmt import parse_rfc3339, to_epoch_ms

    return np.array([to_epoch_ms(parse_rfc3339(_parse(v)["event_time"])) for v in lines.to_pylist()], np.int64)


def oracle_rows(log: SimulatedLog) -> pd.DataFrame:
    """Stored-feature rows per (customer, group, event time) from the batch oracle."""
    from features.oracle import compute_features

    return compute_features(log.events[["value"]]).rows


def daily_samples(rows: pd.DataFrame, outcomes: pd.DataFrame, start_ms: int) -> pd.DataFrame:
    """Per customer and day, the time of its last feature row that day, while it has not churned."""
    r = rows[["customer_id", "event_ts_ms"]].copy()
    r["day"] = (r["event_ts_ms"] - start_ms) // DAY_MS
    s = r.groupby(["customer_id", "day"], sort=True)["event_ts_ms"].max().reset_index()
    churn = outcomes[outcomes["outcome"] == "churned"].groupby("customer_id")["ts_ms"].min()
    ct = s["customer_id"].map(churn)
    s = s[ct.isna() | (s["event_ts_ms"] < ct)]
    return s.rename(columns={"event_ts_ms": "ts_ms"})[["customer_id", "ts_ms"]].reset_index(drop=True)


def as_of(rows: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Stored features of every group as of each sample time (oracle backend's point-in-time join)."""
    from features.derive import derive_frame

    left = samples.sort_values("ts_ms", kind="stable").reset_index(drop=True)
    out = left.copy()
    for group, names in GROUPS.items():
        g = rows.loc[rows["group"] == group, ["customer_id", "event_ts_ms", *names]]
        if g.empty:
            continue
        g = g.sort_values("event_ts_ms", kind="stable")
        m = pd.merge_asof(left, g, left_on="ts_ms", right_on="event_ts_ms", by="customer_id", direction="backward")
        for n in names:
            out[n] = m[n].to_numpy()
    feats = derive_frame(out, out["ts_ms"].to_numpy(np.int64))
    return pd.concat([out[["customer_id", "ts_ms"]], feats], axis=1)


def label_samples(
    samples: pd.DataFrame,
    outcomes: pd.DataFrame,
    end_ms: int,
    window_ms: int = CHURN_WINDOW_MS,
    renewal_resolves: bool = False,
) -> pd.Series:
    """Churn label per sample (1.0 / 0.0, NaN = unresolved at ``end_ms``); see the module doc.

    >>> s = pd.DataFrame({"customer_id": ["a", "b", "c"], "ts_ms": [0, 0, 0]})
    >>> o = pd.DataFrame({"customer_id": ["a"], "ts_ms": [5 * DAY_MS], "outcome": ["churned"]})
    >>> label_samples(s, o, end_ms=40 * DAY_MS).tolist(), label_samples(s, o, end_ms=6 * DAY_MS).tolist()
    ([1.0, 0.0, 0.0], [1.0, nan, nan])
    """
    t = samples["ts_ms"].to_numpy(np.int64)
    y = np.where(t + window_ms <= end_ms, 0.0, np.nan)
    kinds = (("renewed", 0.0), ("churned", 1.0)) if renewal_resolves else (("churned", 1.0),)
    for kind, value in kinds:
        o = outcomes[outcomes["outcome"] == kind][["customer_id", "ts_ms"]].sort_values("ts_ms")
        if o.empty:
            continue
        left = pd.DataFrame({"customer_id": samples["customer_id"].to_numpy(), "t": t + 1, "i": np.arange(len(t))})
        m = pd.merge_asof(
            left.sort_values("t"),
            o.rename(columns={"ts_ms": "t_out"}),
            left_on="t",
            right_on="t_out",
            by="customer_id",
            direction="forward",
        ).sort_values("i")
        hit = m["t_out"].notna().to_numpy() & (m["t_out"].to_numpy(float) <= t + window_ms)
        y = np.where(hit, value, y)
    return pd.Series(y, index=samples.index)


def true_stage_at(samples: pd.DataFrame, stage_changes: pd.DataFrame) -> pd.Series:
    """The simulator's true stage of each sample's customer at its time."""
    left = pd.DataFrame(
        {
            "customer_id": samples["customer_id"].to_numpy(),
            "ts_ms": samples["ts_ms"].to_numpy(np.int64),
            "i": np.arange(len(samples)),
        }
    ).sort_values("ts_ms")
    m = pd.merge_asof(left, stage_changes.sort_values("ts_ms"), on="ts_ms", by="customer_id").sort_values("i")
    return pd.Series(m["stage"].to_numpy(object), index=samples.index)


def build_training_set(
    log: SimulatedLog, window_ms: int = CHURN_WINDOW_MS, backend: str = "oracle", store: Any = None
) -> pd.DataFrame:
    """Samples with features (point in time), ``label`` (churn) and ``true_stage``; unresolved labels kept NaN."""
    rows = oracle_rows(log)
    samples = daily_samples(rows, log.outcomes, log.start_ms)
    if backend == "oracle":
        frame = as_of(rows, samples)
    elif backend == "feast":
        from models.feast_trainset import feast_as_of

        if store is None:
            raise ValueError("backend 'feast' needs a store (models.feast_trainset.load_feast)")
        frame = feast_as_of(store, samples)
    else:
        raise ValueError(f"unknown backend {backend!r}: 'oracle' or 'feast'")
    frame = frame.sort_values(["ts_ms", "customer_id"], kind="stable").reset_index(drop=True)
    frame["label"] = label_samples(frame, log.outcomes, log.end_ms, window_ms)
    frame["true_stage"] = true_stage_at(frame, log.stage_changes)
    return frame
