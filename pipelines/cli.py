"""``cxm run | smoke``: the streaming jobs."""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from pathlib import Path

import typer

app = typer.Typer()


def smoke_events(n: int, seed: int = 7) -> list[dict[str, object]]:
    """Deterministic sample input for the smoke pipeline.

    >>> smoke_events(2)[0]["customer_id"]
    'c00000'
    """
    rng = random.Random(seed)
    return [
        {
            "customer_id": f"c{i:05d}",
            "kind": rng.choice(["click", "call", "purchase"]),
            "amount": round(rng.uniform(0, 300), 2),
            "event_time": f"2026-11-24T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        }
        for i in range(n)
    ]


@app.command()
def smoke(
    events: int = typer.Option(1000, help="events to produce"),
    show: int = typer.Option(5, help="output records to print"),
) -> None:
    """Produce sample events, run the smoke pipeline (Kafka -> Flink SQL + Python UDF -> Kafka), print the output."""
    from confluent_kafka import Consumer, Producer

    from cxm.config import TopicSpec, load_settings
    from infra.topics import ensure_topics
    from pipelines.smoke import run

    s = load_settings()
    tag = uuid.uuid4().hex[:8]
    src, dst = f"{s.topics.smoke_in}.{tag}", f"{s.topics.smoke_out}.{tag}"
    ensure_topics(
        s.kafka.bootstrap,
        [
            TopicSpec(name=src, partitions=1, retention_ms=86_400_000),
            TopicSpec(name=dst, partitions=1, retention_ms=86_400_000),
        ],
    )
    producer = Producer({"bootstrap.servers": s.kafka.bootstrap, "linger.ms": 20})
    for e in smoke_events(events):
        producer.produce(src, key=str(e["customer_id"]).encode(), value=json.dumps(e).encode())
    producer.flush(30)
    typer.echo(f"smoke: produced {events} events to {src}; running the PyFlink job on the local mini-cluster")
    t0 = time.monotonic()
    run(s, src, dst, bounded=True, wait=True)
    typer.echo(f"smoke: job finished in {time.monotonic() - t0:.1f} s")
    consumer = Consumer(
        {"bootstrap.servers": s.kafka.bootstrap, "group.id": f"smoke-{tag}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([dst])
    out: list[dict[str, object]] = []
    deadline = time.monotonic() + 60
    while len(out) < events and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            out.append(json.loads(msg.value() or b"{}"))
    consumer.close()
    for rec in out[:show]:
        typer.echo(f"  {json.dumps(rec)}")
    bands: dict[str, int] = {}
    for rec in out:
        bands[str(rec["band"])] = bands.get(str(rec["band"]), 0) + 1
    typer.echo(f"smoke: {len(out)}/{events} records in {dst}; bands {dict(sorted(bands.items()))}")
    if len(out) != events:
        typer.echo("error: the smoke pipeline lost records", err=True)
        sys.exit(1)


@app.command("run")
def run_main(
    customers: int = typer.Option(1500, help="simulated customers"),
    days: float = typer.Option(14.0, help="simulated days"),
    rate: float = typer.Option(2000.0, help="max events per second into Kafka (0 = unlimited)"),
    seed: int = typer.Option(42, help="simulator seed"),
    unbounded: bool = typer.Option(
        False, help="simulate without end (paced by --rate) until Ctrl-C; then the jobs catch up and the summary "
        "is printed (Ctrl-C twice aborts)"),
    report: Path = typer.Option(Path("var/report.html"), help="where to write the HTML report"),
    input: Path | None = typer.Option(
        None, "--input", help="read events from DIR/<kind>.jsonl (or DIR/events/, as `cxm simulate --to file` "
        "writes) instead of the simulator and Kafka; the run ends when the files are read"),
    output: Path | None = typer.Option(
        None, "--output", help="also write decisions, dead-letter and late records as JSON lines under DIR "
        "(decisions/, deadletter/, late/; part files appear on checkpoints)"),
    one_jvm: bool = typer.Option(
        True, "--one-jvm/--separate-jvms", help="both jobs in one process and JVM (as on a cluster's shared "
        "TaskManagers), or one process and JVM per job"),
    mark_partitions: bool = typer.Option(
        True, "--watermark-records/--no-watermark-records", help="after every simulated tick, a watermark record "
        "to every partition of the event topics (events.watermark): rare kinds' rows leave the event-time "
        "windows at once instead of waiting for the next event on each of their partitions"),
) -> None:
    """Run the main job end to end on the embedded default: simulator -> Kafka -> feature job -> Feast (SQLite)
    and decision job -> decisions topic; print a summary and write an HTML report."""
    from cxm.config import load_settings
    from pipelines.main_run import RunOptions, main_run
    from pipelines.report import html_report, summarize

    s = load_settings()
    opts = RunOptions(customers=customers, days=days, rate=rate, seed=seed, unbounded=unbounded, input=input,
                      output=output, one_jvm=one_jvm, mark_partitions=mark_partitions)
    result = main_run(s, opts, echo=typer.echo)
    summary, decisions, lat = summarize(result)
    typer.echo(f"\n== run {result.tag} finished in {result.elapsed_s:.0f} s ==")
    for line in summary.lines():
        typer.echo(line)
    report.parent.mkdir(parents=True, exist_ok=True)
    path = html_report(summary, decisions, lat, result.truth_dir, report)
    typer.echo(f"report: {path}")
    if summary.decisions == 0:
        typer.echo("error: no decisions were made", err=True)
        sys.exit(1)


deploy_app = typer.Typer(help="Operate the jobs on the Flink standalone cluster (submit, stop with savepoint, resume).")
app.add_typer(deploy_app, name="deploy")


def _deploy_call(fn_name: str, name: str) -> None:
    from cxm.config import load_settings
    from pipelines import deploy

    try:
        rec = getattr(deploy, fn_name)(load_settings(), name)
    except deploy.DeployError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    typer.echo(f"{name}: job {rec.job_id}" + (f", savepoint {rec.savepoint}" if rec.savepoint else ""))


@deploy_app.command("submit")
def deploy_submit(name: str = typer.Argument(..., help="decisions | features | smoke")) -> None:
    """Submit a job to the standalone cluster (detached) with the connector jar and the project's venv."""
    _deploy_call("submit", name)


@deploy_app.command("stop")
def deploy_stop(name: str) -> None:
    """Stop a job with a savepoint (kept under var/flink/savepoints)."""
    _deploy_call("stop", name)


@deploy_app.command("resume")
def deploy_resume(name: str) -> None:
    """Resume a stopped job from its savepoint: its state (contexts, offsets) carries over."""
    _deploy_call("resume", name)


@deploy_app.command("list")
def deploy_list() -> None:
    """Jobs on the cluster and their states."""
    from cxm.config import load_settings
    from pipelines.deploy import list_jobs

    for job in list_jobs(load_settings()):
        typer.echo(f"{job['jid']}  {job['state']:<10} {job['name']}")
