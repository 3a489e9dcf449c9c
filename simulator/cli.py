"""``cxm simulate``: run the customer journey simulator to files or to Kafka."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


class Target(StrEnum):
    kafka = "kafka"
    file = "file"


@app.command()
def simulate(
    customers: int = typer.Option(1000, help="number of customers"),
    days: float = typer.Option(7.0, help="simulated days"),
    rate: float = typer.Option(0.0, help="max events per wall-clock second (0 = as fast as possible)"),
    speed: float = typer.Option(0.0, help="max simulated seconds per wall-clock second (0 = unlimited)"),
    to: Target = typer.Option(Target.file, help="kafka or file"),
    out: Path = typer.Option(Path("var/sim"), help="output directory (events when --to file; truth always)"),
    seed: int = typer.Option(0, help="random seed (same seed + params = identical output)"),
    start: str = typer.Option("2026-11-01T00:00:00Z", help="simulated start, RFC 3339 with a time zone"),
    malformed: float = typer.Option(0.0, help="share of malformed payloads"),
    missing_field: float = typer.Option(0.0, help="share of events missing a required field"),
    duplicate: float = typer.Option(0.0, help="share of duplicated events"),
    out_of_order: float = typer.Option(0.0, help="share of out-of-order events"),
    late: float = typer.Option(0.0, help="share of late events (beyond --lateness-s)"),
    lateness_s: float = typer.Option(
        3600.0, help="allowed lateness the late faults exceed (shifted back max(1.5x, +30 s) to 3x this)"
    ),
    max_disorder_s: float = typer.Option(
        1.0,
        help="out-of-order faults land up to this many seconds behind the newest earlier event of their kind; "
        "keep it below the feature job's watermark delay (flink.watermark_delay_s) or they count as late",
    ),
    decisions: bool = typer.Option(False, help="react to the decisions topic (Kafka)"),
    no_parquet: bool = typer.Option(False, help="write JSONL only"),
) -> None:
    """Simulate customers and write events (+ ground truth in OUT/truth)."""
    from pydantic import ValidationError
    from tqdm import tqdm

    from cxm.config import load_settings
    from events.timefmt import parse_rfc3339
    from simulator.config import FaultRates, SimConfig
    from simulator.engine import Simulation
    from simulator.run import Pacer, run
    from simulator.sinks import FileSink, KafkaSink, kafka_producer, write_truth

    settings = load_settings()
    t0: datetime = parse_rfc3339(start)
    try:
        faults = FaultRates(
            malformed=malformed,
            missing_field=missing_field,
            duplicate=duplicate,
            out_of_order=out_of_order,
            late=late,
            lateness_s=lateness_s,
            max_disorder_s=max_disorder_s,
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    cfg = SimConfig(customers=customers, days=days, seed=seed, start=t0, faults=faults)
    sim = Simulation(cfg)
    sink = (
        FileSink(out, parquet=not no_parquet)
        if to is Target.file
        else KafkaSink(kafka_producer(settings.kafka.bootstrap), settings.topics.events,
                       mark_topics=settings.topics.all_events())
    )
    reader = None
    if decisions:
        from simulator.kafka_decisions import KafkaDecisionReader

        reader = KafkaDecisionReader(
            settings.kafka.bootstrap, settings.topics.decisions, f"cxm-simulator-{seed}"
        )
    pacer = Pacer(rate=rate or None, speed=speed or None)
    with tqdm(total=cfg.ticks, unit="tick", desc="simulating") as bar:
        summary = run(sim, sink, pacer, reader, bar)
    if reader is not None:
        reader.close()
    write_truth(sim, out)
    doc = summary.as_dict()
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "summary.json").write_text(json.dumps(doc, indent=2, sort_keys=True))
    typer.echo(
        f"events: {summary.events:,} in {summary.elapsed_s:.1f} s = {summary.events_per_s:,.0f} events/s"
    )
    for kind, n in sorted(summary.per_kind.items()):
        typer.echo(f"  {kind:12s} {n:>12,}")
    typer.echo(f"faults injected: {summary.faults or 'none'}")
    typer.echo(
        f"churned: {summary.churned:,} of {summary.customers:,} customers; decisions applied: "
        f"{summary.decisions:,} {summary.reactions or ''}"
    )
    typer.echo(f"ground truth: {Path(out) / 'truth'}")


@app.command("closed-loop")
def closed_loop(
    customers: int = typer.Option(2000, help="number of customers"),
    days: float = typer.Option(30.0, help="simulated days"),
    seed: int = typer.Option(0, help="random seed (the same customers and behaviour in every arm)"),
    step_hours: int = typer.Option(24, help="simulated hours between two decision rounds"),
    policies: Path | None = typer.Option(None, help="membrane policy directory (default: the shipped ones)"),
    out: Path | None = typer.Option(None, help="also write the results as JSON to this file"),
) -> None:
    """Churn with no contact, with every department sending what it wants, and with the membrane."""
    from simulator.closedloop import Arm, ClosedLoopConfig, run_arm, table

    cfg = ClosedLoopConfig(customers=customers, days=days, seed=seed, step_hours=step_hours, policy_dir=policies)
    results = []
    for arm in Arm:
        r = run_arm(arm, cfg)
        results.append(r)
        typer.echo(f"{arm.value}: churn {r.churn_rate:.2%} in {r.elapsed_s:.1f} s; sent by kind {r.by_kind or '-'}; "
                   f"reactions {r.reactions or '-'}", err=True)
    typer.echo(table(results))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"config": cfg.model_dump(mode="json"), "arms": [r.as_dict() for r in results]},
                                  indent=2, sort_keys=True))
