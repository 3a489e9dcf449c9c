"""``cxm run --input DIR``: the main job over event files instead of the simulator and the event topics.

The feature job reads one JSON-lines file per event kind (see :mod:`pipelines.file_io` for the layout; what
``cxm simulate --to file --out DIR`` writes) and ends by itself when every file is read; the decision job then
runs bounded over the run's changelog topic, so the whole run ends by itself and every decision is in the
decisions topic (and in ``--output DIR/decisions`` when given). The changelog between the two jobs stays in
Kafka (the Feast writer reads it too). There is no closed loop: files do not react to decisions, and the
event-to-decision latency is not measured (the events never reach Kafka).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cxm.config import EVENT_KINDS, Settings
from pipelines.file_io import FileIOConfig, input_files
from pipelines.main_run import (
    JobProcess,
    RunOptions,
    RunResult,
    create_run_topics,
    ensure_models,
    run_topics,
    settings_for,
)
from pipelines.topic_watch import topic_count


def count_input(path: Path) -> dict[str, Any]:
    """What the input holds, in the shape of the simulator's summary (events, per_kind, customers).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "gps.jsonl").write_text('{"customer_id": "a"}\\n{"customer_id": "b"}\\nnot json\\n')
    >>> c = count_input(d)
    >>> c["events"], c["per_kind"], c["customers"]
    (3, {'gps': 3}, 2)
    """
    import orjson

    per_kind: dict[str, int] = {}
    customers: set[str] = set()
    for kind, file in input_files(path, EVENT_KINDS).items():
        with file.open("rb") as f:
            for line in f:
                if not line.strip():
                    continue
                per_kind[kind] = per_kind.get(kind, 0) + 1
                try:
                    customers.add(str(orjson.loads(line)["customer_id"]))
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    pass
    return {"events": sum(per_kind.values()), "per_kind": per_kind, "customers": len(customers), "churned": 0,
            "decisions": 0}


def wait_for_exit(job: JobProcess, timeout_s: float, poll_s: float = 1.0) -> None:
    """Wait for a bounded job to end; raise with the end of its log if it fails or takes too long."""
    if job.proc is None:
        raise RuntimeError(f"{job.name} job was not started")
    try:
        rc = job.proc.wait(timeout_s)
    except Exception as exc:
        job.stop()
        raise RuntimeError(f"{job.name} job did not end within {timeout_s:.0f} s; see {job.log}") from exc
    if rc != 0:
        raise RuntimeError(f"{job.name} job failed (exit {rc}); see {job.log}:\n{job.tail()}")


def file_run(settings: Settings, opts: RunOptions, echo: Callable[[str], Any] = print,
             job_timeout_s: float = 1800.0) -> RunResult:
    """Run the pipeline once over the event files of ``opts.input`` (sequential bounded jobs); with
    ``opts.output`` the jobs also write their decisions, dead-letter and late records there."""
    from features.store import apply as feast_apply
    from features.writer import ChangelogWriter

    input_dir, output_dir = opts.input, opts.output
    if input_dir is None:
        raise ValueError("file_run needs an input directory (RunOptions.input)")
    if opts.unbounded:
        raise ValueError("--unbounded does not apply to --input: the file sources are bounded")
    files = FileIOConfig(input=Path(input_dir).resolve(), output=None if output_dir is None else
                         Path(output_dir).resolve())
    found = input_files(Path(input_dir), EVENT_KINDS)
    if not found:
        raise FileNotFoundError(f"no <kind>.jsonl file in {input_dir} or {Path(input_dir) / 'events'}")
    from datetime import UTC, datetime

    from infra.topics import run_tag

    tag = run_tag(datetime.now(UTC), uuid.uuid4().hex)
    env = {**run_topics(settings, tag), **files.env()}
    s = settings_for(settings, env)
    out_dir = opts.out_dir or (settings.var_dir / "runs" / tag)
    out_dir.mkdir(parents=True, exist_ok=True)
    create_run_topics(s)
    counts = count_input(Path(input_dir))
    echo(f"run {tag}: {counts['events']:,} events from {len(found)} files in {input_dir}; topics run.{tag}.*"
         + (f"; file output in {files.output}" if files.output else ""))
    feast_apply(s)
    ensure_models(s, seed=opts.seed + 1000, echo=echo)
    feature = JobProcess("feature", "pipelines.feature_job", env, out_dir / "feature_job.log")
    decision = JobProcess("decision", "pipelines.decision_job", env, out_dir / "decision_job.log",
                          args=("--bounded",))
    t0 = time.monotonic()
    stop_writer = threading.Event()
    writer = ChangelogWriter(s)
    writer_thread = threading.Thread(target=lambda: writer.run(should_stop=stop_writer.is_set), daemon=True)
    try:
        from cxm.heap import freeze_startup_heap

        freeze_startup_heap()  # the Feast writer's per-row parsing: cxm.heap
        writer_thread.start()
        feature.start()
        echo("jobs: feature job reading the files (bounded) ...")
        wait_for_exit(feature, job_timeout_s)
        rows = topic_count(s.kafka.bootstrap, s.topics.features)
        echo(f"jobs: feature job done after {time.monotonic() - t0:.0f} s ({rows:,} changelog rows); "
             "decision job (bounded over the changelog) ...")
        decision.start()
        wait_for_exit(decision, job_timeout_s)
        echo(f"jobs: decision job done after {time.monotonic() - t0:.0f} s; waiting for the Feast writer")
        deadline = time.monotonic() + max(opts.settle_s, 30.0)
        while writer.stats.records < rows and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for j in (feature, decision):
            j.stop()
        stop_writer.set()
        writer_thread.join(60)
    truth = Path(input_dir)
    return RunResult(
        tag=tag,
        settings=s,
        sim_summary=counts,
        writer_stats=dict(writer.stats.__dict__),
        elapsed_s=time.monotonic() - t0,
        out_dir=out_dir,
        truth_dir=truth if (truth / "truth").is_dir() else out_dir,
        logs={j.name: j.log for j in (feature, decision)},
    )
