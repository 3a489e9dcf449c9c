"""The run summary (terminal) and the HTML report (plots) of one end-to-end run.

Everything is read back from Kafka and the simulator's ground truth, never from the jobs' memory: events in,
dead-lettered, late, features written, decisions by action and channel, blocked reasons, and the latency from
an event reaching Kafka to its decision reaching Kafka (both broker timestamps, so the clocks agree), for the
events that reached Kafka once the jobs were up (a closed-loop run writes its first simulated hour before).
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def read_topic(bootstrap: str, topic: str, idle_s: float = 2.0, timeout_s: float = 120.0) -> list[tuple[int, bytes]]:
    """Every (broker timestamp ms, value) of a topic, read to its current end."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"report-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    meta = c.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None:
        c.close()
        return []
    ends = {}
    parts = []
    for p in meta.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if hi > lo:
            ends[p] = hi
            parts.append(TopicPartition(topic, p, lo))
    if not parts:
        c.close()
        return []
    c.assign(parts)
    out: list[tuple[int, bytes]] = []
    done: set[int] = set()
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    while len(done) < len(ends) and time.monotonic() < deadline and time.monotonic() - last < idle_s + 5:
        batch = c.consume(10_000, 0.5)
        for m in batch:
            if m.error():
                continue
            last = time.monotonic()
            out.append((m.timestamp()[1], m.value() or b""))
            part, offset = m.partition() or 0, m.offset() or 0
            if offset + 1 >= ends[part]:
                done.add(part)
    c.close()
    return out


@dataclass
class RunSummary:
    events_in: int
    per_kind: dict[str, int]
    dead_lettered: int
    dead_letter_reasons: dict[str, int]
    late: int
    feature_rows: int
    features_written: int
    decisions: int
    by_action: dict[str, int]
    by_channel: dict[str, int]
    blocked_by_policy: dict[str, int]
    latency_ms: dict[str, float]
    churned: int
    customers: int
    #: per kind of the triggering event: p50, p99 (ms) and n (:func:`latency_by_kind`)
    latency_by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        def top(d: dict[str, int], n: int = 8) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:n]) or "none"

        lat = self.latency_ms
        ranked = sorted(self.latency_by_kind.items(), key=lambda kv: -kv[1]["n"])
        by_kind = ", ".join(f"{k} {v['p50']:,.0f}/{v['p99']:,.0f} ms ({int(v['n']):,})" for k, v in ranked)
        return [
            f"events in:        {self.events_in:,} ({top(self.per_kind)})",
            f"dead-lettered:    {self.dead_lettered:,} ({top(self.dead_letter_reasons)})",
            f"late:             {self.late:,}",
            f"feature rows:     {self.feature_rows:,} in the changelog; {self.features_written:,} written to Feast "
            "(coalesced per customer and group per batch)",
            f"decisions:        {self.decisions:,}",
            f"  by action:      {top(self.by_action, 12)}",
            f"  by channel:     {top(self.by_channel)}",
            f"blocked by:       {top(self.blocked_by_policy, 10)}",
            f"latency (event in Kafka -> decision in Kafka): p50 {lat.get('p50', float('nan')):,.0f} ms, "
            f"p99 {lat.get('p99', float('nan')):,.0f} ms over {int(lat.get('n', 0)):,} decisions",
            *([f"  by trigger:     p50/p99 {by_kind}"] if by_kind else []),
            f"churned:          {self.churned:,} of {self.customers:,} customers",
        ]


def decisions_frame(raw: list[tuple[int, bytes]]) -> pd.DataFrame:
    """Decision records with their broker timestamp (``kafka_ts``); duplicates (same id) dropped."""
    rows = []
    for ts, value in raw:
        rec = json.loads(value)
        rec["kafka_ts"] = ts
        rows.append(rec)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.drop_duplicates("decision_id")
    df["decided_at"] = pd.to_datetime(df["decided_at"], utc=True)
    return df


def event_arrivals(bootstrap: str, topics: list[str],
                   kinds: dict[tuple[str, int], str] | None = None) -> dict[tuple[str, int], int]:
    """(customer_id, event time ms) -> broker timestamp of the first event with them; ``kinds`` (when given)
    gets that event's kind under the same key. Records without a customer (watermark records) are skipped."""
    import orjson

    from events.timefmt import parse_rfc3339

    out: dict[tuple[str, int], int] = {}
    for topic in topics:
        for ts, value in read_topic(bootstrap, topic):
            try:
                e = orjson.loads(value)
                key = (str(e["customer_id"]), int(parse_rfc3339(e["event_time"]).timestamp() * 1000))
            except Exception:
                continue
            if key not in out:
                out[key] = ts
                if kinds is not None:
                    kinds[key] = str(e.get("kind"))
    return out


def _trigger_keys(decisions: pd.DataFrame) -> list[tuple[str, int]]:
    ms = (decisions["decided_at"].astype("int64") // 1_000_000).to_numpy()
    return list(zip(decisions["customer_id"].astype(str), ms.tolist(), strict=True))


def latencies(decisions: pd.DataFrame, arrivals: dict[tuple[str, int], int]) -> np.ndarray:
    """Event-to-decision latency (ms) for the decisions whose trigger event is found."""
    if decisions.empty:
        return np.array([])
    lat = [dts - arrivals[k] for k, dts in zip(_trigger_keys(decisions), decisions["kafka_ts"], strict=True)
           if k in arrivals]
    return np.asarray(lat, dtype=float)


def latency_by_kind(decisions: pd.DataFrame, arrivals: dict[tuple[str, int], int],
                    kinds: dict[tuple[str, int], str]) -> dict[str, dict[str, float]]:
    """p50, p99 and count of the event-to-decision latency (ms) per kind of the triggering event.

    >>> d = pd.DataFrame({"customer_id": ["a", "b", "a"], "kafka_ts": [110, 1300, 150],
    ...                   "decided_at": pd.to_datetime([5, 7, 9], unit="ms", utc=True)})
    >>> arr, kinds = {("a", 5): 100, ("b", 7): 300, ("a", 9): 120}, {("a", 5): "gps", ("b", 7): "complaint",
    ...     ("a", 9): "gps"}
    >>> latency_by_kind(d, arr, kinds)["complaint"], latency_by_kind(d, arr, kinds)["gps"]["n"]
    ({'p50': 1000.0, 'p99': 1000.0, 'n': 1}, 2)
    """
    per: dict[str, list[float]] = {}
    if decisions.empty:
        return {}
    for k, dts in zip(_trigger_keys(decisions), decisions["kafka_ts"], strict=True):
        if k in arrivals:
            per.setdefault(kinds.get(k, "?"), []).append(float(dts - arrivals[k]))
    return {kind: {"p50": float(np.percentile(v, 50)), "p99": float(np.percentile(v, 99)), "n": len(v)}
            for kind, v in sorted(per.items())}


def summarize(result: Any) -> tuple[RunSummary, pd.DataFrame, np.ndarray]:
    """Read the run's topics back and build the summary (``result`` is a :class:`pipelines.main_run.RunResult`)."""
    from cxm.config import EVENT_KINDS
    from rules.decision import blocked_by_policy

    s = result.settings
    b = s.kafka.bootstrap
    dl = read_topic(b, s.topics.dead_letter)
    reasons = Counter(str(json.loads(v).get("error_kind", "?")) for _, v in dl)
    late = read_topic(b, s.topics.late)
    changelog = read_topic(b, s.topics.features)
    decisions = decisions_frame(read_topic(b, s.topics.decisions))
    if not decisions.empty:  # the warm-up customer proves the jobs are up; it is not part of the run
        decisions = decisions[decisions["customer_id"] != "warmup"]
    kinds: dict[tuple[str, int], str] = {}
    arrivals = event_arrivals(b, [s.topics.events(k) for k in EVENT_KINDS], kinds)
    ready_ms = getattr(result, "ready_ms", None)
    if ready_ms is not None:  # a closed-loop run's first simulated hour waited in Kafka for the jobs to start
        arrivals = {k: ts for k, ts in arrivals.items() if ts >= ready_ms}
    lat = latencies(decisions, arrivals)
    blocked = blocked_by_policy(decisions["candidates"]) if not decisions.empty else Counter()
    by_action = Counter(decisions["action_id"].fillna("no_action")) if not decisions.empty else Counter()
    by_channel = Counter(decisions["channel"].fillna("none")) if not decisions.empty else Counter()
    sim = result.sim_summary
    summary = RunSummary(
        events_in=int(sim.get("events", 0)),
        per_kind={str(k): int(v) for k, v in sim.get("per_kind", {}).items()},
        dead_lettered=len(dl),
        dead_letter_reasons=dict(reasons),
        late=len(late),
        feature_rows=len(changelog),
        features_written=int(result.writer_stats.get("rows_written", 0)),
        decisions=len(decisions),
        by_action={str(k): int(v) for k, v in by_action.items()},
        by_channel={str(k): int(v) for k, v in by_channel.items()},
        blocked_by_policy=dict(blocked),
        latency_ms={"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "n": len(lat)}
        if len(lat)
        else {"n": 0},
        churned=int(sim.get("churned", 0)),
        customers=int(sim.get("customers", 0)),
        latency_by_kind=latency_by_kind(decisions, arrivals, kinds),
    )
    return summary, decisions, lat


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def html_report(summary: RunSummary, decisions: pd.DataFrame, lat: np.ndarray, truth_dir: Path, out: Path) -> Path:
    """Write the HTML report with its plots (PNG, inline) and return its path."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    warnings.filterwarnings("ignore", category=matplotlib.MatplotlibDeprecationWarning)

    imgs: list[tuple[str, str]] = []
    if not decisions.empty:
        fig, ax = plt.subplots(figsize=(9, 4))
        day = decisions["decided_at"].dt.floor("D")
        mix = decisions.assign(day=day, action=decisions["action_id"].fillna("no_action"))
        mix.groupby(["day", "action"]).size().unstack(fill_value=0).plot.area(ax=ax, legend=True)
        ax.set_title("decision mix over (event) time")
        ax.legend(fontsize=6, ncol=2)
        imgs.append(("Decision mix over time", _png(fig)))
        plt.close(fig)
        stages_path = truth_dir / "truth" / "stages.parquet"
        if stages_path.exists():
            stages = pd.read_parquet(stages_path).sort_values("valid_from")
            d = decisions.assign(
                churn_risk=[sc.get("churn_risk") if isinstance(sc, dict) else None for sc in decisions["scores"]]
            ).sort_values("decided_at")
            d["decided_at"] = d["decided_at"].astype("datetime64[ms, UTC]")
            stages["valid_from"] = stages["valid_from"].astype("datetime64[ms, UTC]")
            joined = pd.merge_asof(d, stages, left_on="decided_at", right_on="valid_from", by="customer_id")
            fig, ax = plt.subplots(figsize=(7, 4))
            groups = [(st, g["churn_risk"].dropna().astype(float)) for st, g in joined.groupby("stage")]
            ax.boxplot([g for _, g in groups], tick_labels=[st for st, _ in groups])
            ax.set_title("churn score by true stage")
            imgs.append(("Churn score by true stage", _png(fig)))
            plt.close(fig)
    if summary.blocked_by_policy:
        fig, ax = plt.subplots(figsize=(8, 4))
        items = sorted(summary.blocked_by_policy.items(), key=lambda kv: kv[1])[-15:]
        ax.barh([k for k, _ in items], [v for _, v in items])
        ax.set_title("candidates blocked, by policy")
        imgs.append(("Blocked reasons", _png(fig)))
        plt.close(fig)
    if len(lat):
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.hist(lat, bins=50)
        ax.set_xlabel("ms")
        ax.set_title("event-to-decision latency")
        imgs.append(("Latency", _png(fig)))
        plt.close(fig)
    body = "\n".join(f"<h2>{html.escape(t)}</h2><img src='data:image/png;base64,{b}'/>" for t, b in imgs)
    text = html.escape("\n".join(summary.lines()))
    out.write_text(
        f"<html><head><meta charset='utf-8'><title>CX membrane run</title></head><body>"
        f"<h1>CX membrane run</h1><pre>{text}</pre>{body}</body></html>"
    )
    return out
