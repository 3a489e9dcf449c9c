"""The single online learner: Kafka streams in, versioned model snapshots out (``cxm models learn``).

**Why one learner, N scorers.** Scoring is stateless given a model and runs wherever decisions are made: in
each of the N parallel subtasks of the Flink decision job, in the decision service, in notebooks. Learning is
*not* partitionable the same way: a churn or propensity model is one set of weights that must see every label,
whatever customer it belongs to. Learning in each of N subtasks would give N different models, each trained on
1/N of the labels (and decisions that depend on which subtask a customer hashes to); merging them would need a
parameter server. River's linear models learn ~350k rows/s batched on one core, far above the label rate
(labels are outcomes and responses, a small fraction of events), so one learner process keeps up. It publishes
snapshots to the :class:`~models.registry.ModelRegistry` (``<models_dir>/<name>/<version>.pkl`` + manifest,
atomic), and every scorer polls for newer versions (:class:`~models.registry.SnapshotWatcher`,
``DecisionStage.refresh``): all scorers with the same version give identical scores, a new version is picked
up by a running job without a restart, and the decision record says which version decided (``model_version``).

**The loop** (:meth:`LearnerService.step`): consume a batch of up to ``poll_batch`` messages from
``features.changelog``, ``events.outcome``, ``decisions`` and ``events.response``; parse them
(:func:`models.learner_core.parse_item`, malformed ones are counted and skipped); apply them in event-time
order (:class:`models.learner_core.LearnerCore`: score changed customers in one ``score_many`` batch, resolve
churn labels, join responses to decision-time features); every ``publish_every_s`` seconds or
``publish_every_labels`` new labels, :meth:`LearnerService.publish`: learn what is resolved, save a snapshot of
each model that learnt something (``watermark_ms`` = event time reached), checkpoint the learner state, and
only then commit the consumer offsets.

**Delivery: at-least-once.** Offsets are committed after the snapshots and the state checkpoint
(``<models_dir>/_learner/<group_id>.pkl``: stored features, pending predictions and decisions, held items).
On restart the learner loads that checkpoint (models included) and resumes at the committed offsets, so
nothing is lost. A crash between publication and commit replays the messages since the previous commit:
their labels are learnt a second time (a few seconds' worth of labels: a small over-weighting, harmless for
SGD). Without a checkpoint the learner warm-starts from the latest published snapshots.

**Bounded memory.** Customers' stored features (``max_customers``, LRU), pending churn predictions
(``max_pending_predictions``), pending decisions (``max_pending_decisions``) and held items (``max_held``)
are capped; evictions are counted. **Metrics** are logged every ``log_every_s``: messages and rate, labels
learnt, snapshots published, consumer lag (messages) and event-time lag.

Stop with SIGTERM or SIGINT: the loop finishes its batch, publishes, commits and closes the consumer.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cxm.config import LearnerSettings, Settings
from models.churn import ChurnModel
from models.delayed import DAY_MS, DelayedLabelLearner
from models.learner_core import BatchResponseLearner, Item, LearnerCore, parse_item
from models.propensity import PropensityModel
from models.registry import ModelRegistry, Snapshot
from models.scoring import CHURN, PROPENSITY

log = logging.getLogger(__name__)


class ConsumerLike(Protocol):
    """The part of ``confluent_kafka.Consumer`` the loop uses (tests pass an in-memory fake)."""

    def consume(self, num_messages: int, timeout: float) -> list[Any]: ...
    def commit(self, asynchronous: bool = ...) -> Any: ...
    def close(self) -> None: ...


def topic_kinds(settings: Settings) -> dict[str, str]:
    """Topic name -> stream kind of the four topics the learner reads.

    >>> topic_kinds(Settings.defaults())["events.outcome"], topic_kinds(Settings.defaults())["features.changelog"]
    ('outcome', 'changelog')
    """
    t = settings.topics
    return {t.features: "changelog", t.events("outcome"): "outcome", t.decisions: "decision",
            t.events("response"): "response"}  # fmt: skip


def make_consumer(settings: Settings, topics: list[str]) -> Any:
    """A confluent-kafka consumer of ``topics`` (manual commits, earliest, read_committed)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": settings.learner.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe(topics)
    return consumer


def new_core(cfg: LearnerSettings, churn: ChurnModel, propensity: PropensityModel) -> LearnerCore:
    delayed = DelayedLabelLearner(
        churn,
        grace_ms=int(cfg.label_grace_days * DAY_MS),
        max_pending=cfg.max_pending_predictions,
        learn_batch=cfg.learn_batch,
    )
    if cfg.label_window_days is not None:
        delayed.window_ms = int(cfg.label_window_days * DAY_MS)
    responses = BatchResponseLearner(propensity, max_pending=cfg.max_pending_decisions, learn_batch=cfg.learn_batch)
    return LearnerCore(delayed, responses, max_customers=cfg.max_customers, max_held=cfg.max_held)


@dataclass
class RunStats:
    """What a bounded :meth:`LearnerService.run` did."""

    messages: int
    seconds: float
    churn_labels: int
    propensity_labels: int
    snapshots: int

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


class LearnerService:
    """The consume -> learn -> publish -> commit loop (module doc). Clocks are injected."""

    def __init__(
        self,
        cfg: LearnerSettings,
        topics: dict[str, str],
        registry: ModelRegistry,
        consumer: ConsumerLike,
        core: LearnerCore | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.cfg = cfg
        self.topics = topics
        self.registry = registry
        self.consumer = consumer
        self.clock = clock
        self.wall_ms = wall_ms
        self.core = core if core is not None else self._initial_core()
        self.messages = 0
        self.bad = 0
        self.snapshots: list[Snapshot] = []
        self._published = {CHURN: self._n_learned_churn(), PROPENSITY: self._n_learned_propensity()}
        self._labels_at_publish = self.core.churn_labels + self.core.propensity_labels
        self._last_publish = clock()
        self._last_log = clock()
        self._last_changelog = clock()
        self._messages_at_log = 0
        self._uncommitted = False
        self._stop = False

    @classmethod
    def from_settings(cls, settings: Settings, consumer: ConsumerLike | None = None) -> LearnerService:
        cfg = settings.learner
        registry = ModelRegistry(cfg.models_dir or settings.decisions.models_dir)
        topics = topic_kinds(settings)
        return cls(cfg, topics, registry, consumer or make_consumer(settings, list(topics)))

    # --- state --------------------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.registry.root / "_learner" / f"{self.cfg.group_id}.pkl"

    def _initial_core(self) -> LearnerCore:
        if self.cfg.checkpoint_state and self.state_path.exists():
            with open(self.state_path, "rb") as fh:
                core: LearnerCore = pickle.load(fh)
            log.info("learner: resumed state %s (watermark %d)", self.state_path, core.watermark_ms)
            return core
        churn = self.registry.load(CHURN) if self.registry.latest(CHURN) else ChurnModel()
        propensity = self.registry.load(PROPENSITY) if self.registry.latest(PROPENSITY) else PropensityModel()
        return new_core(self.cfg, churn, propensity)

    def _n_learned_churn(self) -> int:
        return int(self.core.churn.model.n_learned)  # type: ignore[attr-defined]

    def _n_learned_propensity(self) -> int:
        return int(sum(self.core.responses.model.n_learned.values()))

    def _checkpoint(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(self.core, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.state_path)

    # --- the loop -----------------------------------------------------------------------------------------
    def step(self) -> int:
        """One poll batch: consume, parse, learn; publish when due. Returns the number of messages consumed."""
        msgs = self.consumer.consume(self.cfg.poll_batch, self.cfg.poll_timeout_s)
        items: list[Item] = []
        n = 0
        for m in msgs:
            if m.error():
                log.warning("learner: consumer error %s", m.error())
                continue
            n += 1
            kind = self.topics.get(m.topic())
            if kind is None:
                continue
            try:
                it = parse_item(kind, m.value())
            except (ValueError, KeyError, TypeError) as exc:
                self.bad += 1
                log.debug("learner: bad %s message at offset %s: %s", kind, m.offset(), exc)
                continue
            if it is not None:
                items.append(it)
        if n:
            self.messages += n
            self._uncommitted = True
        if any(it.kind == "changelog" for it in items):
            self._last_changelog = self.clock()
        # a poll batch may hold only outcome messages while the changelog still has a backlog (librdkafka returns
        # per-partition fetches): held items are released by the changelog's event time, or once it is quiet
        idle = self.clock() - self._last_changelog >= self.cfg.changelog_idle_s
        self.core.process(items, changelog_idle=idle)
        self.maybe_publish()
        self.maybe_log()
        return n

    def maybe_publish(self) -> list[Snapshot]:
        new_labels = self.core.churn_labels + self.core.propensity_labels - self._labels_at_publish
        due = self.clock() - self._last_publish >= self.cfg.publish_every_s
        if new_labels >= self.cfg.publish_every_labels or (due and (new_labels or self._uncommitted)):
            return self.publish()
        if due:
            self._last_publish = self.clock()
        return []

    def publish(self) -> list[Snapshot]:
        """Learn what is resolved, snapshot every model that learnt, checkpoint the state, then commit offsets."""
        self.core.flush()
        now_ms = self.wall_ms()
        wm = self.core.watermark_ms
        saved: list[Snapshot] = []
        meta: dict[str, Any] = {"source": "learner", "group_id": self.cfg.group_id}
        if self._n_learned_churn() > self._published[CHURN]:
            churn_meta = {**meta, "labels": self.core.churn_labels, "positive": self.core.churn.n_positive,
                          **self.core.churn.model.metrics()}  # type: ignore[attr-defined]  # fmt: skip
            saved.append(self.registry.save(CHURN, self.core.churn.model, wm, now_ms, churn_meta))
            self._published[CHURN] = self._n_learned_churn()
        if self._n_learned_propensity() > self._published[PROPENSITY]:
            prop_meta = {**meta, "labels": self.core.propensity_labels}
            saved.append(self.registry.save(PROPENSITY, self.core.responses.model, wm, now_ms, prop_meta))
            self._published[PROPENSITY] = self._n_learned_propensity()
        if self.cfg.checkpoint_state:
            self._checkpoint()
        self._commit()
        for s in saved:
            log.info("learner: published %s v%d (watermark %d)", s.name, s.version, s.watermark_ms)
        self.snapshots.extend(saved)
        self._labels_at_publish = self.core.churn_labels + self.core.propensity_labels
        self._last_publish = self.clock()
        return saved

    def _commit(self) -> None:
        if not self._uncommitted:
            return
        try:
            self.consumer.commit(asynchronous=False)
            self._uncommitted = False
        except Exception as exc:  # e.g. nothing consumed on the assigned partitions yet
            log.warning("learner: offset commit failed (will retry at the next publication): %s", exc)

    def lag(self) -> int | None:
        """Messages behind the end of the assigned partitions (``None`` when the consumer cannot tell)."""
        try:
            parts = self.consumer.position(self.consumer.assignment())  # type: ignore[attr-defined]
            total = 0
            for p in parts:
                _, high = self.consumer.get_watermark_offsets(p, timeout=2.0)  # type: ignore[attr-defined]
                total += max(0, high - p.offset) if p.offset >= 0 else 0
            return total
        except Exception:
            return None

    def metrics(self) -> dict[str, Any]:
        c = self.core
        return {"messages": self.messages, "bad": self.bad, "churn_labels": c.churn_labels,
                "propensity_labels": c.propensity_labels, "snapshots": len(self.snapshots),
                "watermark_ms": c.watermark_ms, "event_time_lag_s": (self.wall_ms() - c.watermark_ms) / 1000,
                "pending_predictions": c.churn.n_pending, "customers": len(c.stored), "held": c.n_held,
                **c.stats}  # fmt: skip

    def maybe_log(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_log < self.cfg.log_every_s:
            return
        rate = (self.messages - self._messages_at_log) / max(now - self._last_log, 1e-9)
        self._last_log, self._messages_at_log = now, self.messages
        m = self.metrics()
        log.info(
            "learner: %d msgs (%.0f/s), labels churn %d propensity %d, snapshots %d, lag %s msgs, "
            "event-time lag %.0f s",
            m["messages"], rate, m["churn_labels"], m["propensity_labels"], m["snapshots"], self.lag(),
            m["event_time_lag_s"],
        )  # fmt: skip

    def stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler)."""
        self._stop = True

    def run(
        self, max_seconds: float | None = None, max_messages: int | None = None, idle_stop_s: float | None = None
    ) -> RunStats:
        """Loop until :meth:`stop`, or a bound is reached; then publish, commit and return what was done.

        ``idle_stop_s``: stop after that long without a message (a bounded catch-up run).
        """
        start = self.clock()
        m0, c0, p0, s0 = self.messages, self.core.churn_labels, self.core.propensity_labels, len(self.snapshots)
        last_msg = start
        while not self._stop:
            if self.step():
                last_msg = self.clock()
            now = self.clock()
            if max_seconds is not None and now - start >= max_seconds:
                break
            if max_messages is not None and self.messages - m0 >= max_messages:
                break
            if idle_stop_s is not None and now - last_msg >= idle_stop_s:
                self.core.process([], changelog_idle=True)  # every input is quiet: nothing more to wait for
                break
        self.publish()
        self.maybe_log(force=True)
        return RunStats(self.messages - m0, self.clock() - start, self.core.churn_labels - c0,
                        self.core.propensity_labels - p0, len(self.snapshots) - s0)  # fmt: skip

    def close(self) -> None:
        self.consumer.close()


def serve(settings: Settings, **bounds: Any) -> RunStats:
    """Run the learner from settings with SIGTERM/SIGINT handled (clean shutdown); ``bounds`` go to ``run``."""
    svc = LearnerService.from_settings(settings)
    previous = {sig: signal.signal(sig, lambda *_: svc.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return svc.run(**bounds)
    finally:
        svc.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
