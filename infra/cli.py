"""``cxm up | down | status | topics``: the local services."""

from __future__ import annotations

import sys

import typer

app = typer.Typer()


def _services(flink: bool = True) -> list[tuple[str, object]]:
    from cxm.config import load_settings
    from infra.services.flink import FlinkCluster
    from infra.services.kafka import KafkaBroker
    from infra.services.redis import RedisServer

    s = load_settings()
    out: list[tuple[str, object]] = [("kafka", KafkaBroker(s)), ("redis", RedisServer(s))]
    if flink:
        out.append(("flink", FlinkCluster(s)))
    return out


@app.command()
def up(flink_cluster: bool = typer.Option(True, help="also start the Flink standalone cluster")) -> None:
    """Start Kafka (KRaft), Redis and the Flink standalone cluster; create the topics."""
    from cxm.config import load_settings
    from infra.services import ServiceError
    from infra.topics import ensure_project_topics

    try:
        for name, svc in _services(flink_cluster):
            typer.echo(f"{name}: {svc.start()}")  # type: ignore[attr-defined]
        created = ensure_project_topics(load_settings())
        typer.echo(f"topics: {len(created)} created" + (f" ({', '.join(created)})" if created else ""))
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


@app.command()
def down() -> None:
    """Stop every local service this project started."""
    for name, svc in reversed(_services()):
        typer.echo(f"{name}: {'stopped' if svc.stop() else 'was not running'}")  # type: ignore[attr-defined]


@app.command()
def status() -> None:
    """Report each local service; exit 1 when one is not healthy."""
    bad = 0
    for name, svc in _services():
        line = svc.status()  # type: ignore[attr-defined]
        bad += not line.startswith("healthy")
        typer.echo(f"{name}: {line}")
    sys.exit(1 if bad else 0)


@app.command()
def topics(
    prune_runs_older_than_h: float | None = typer.Option(
        None, help="instead: delete the topics of runs (make run, benches) started more than this many hours ago"
    ),
) -> None:
    """Create the missing topics of infra/topics.yaml (or prune old runs' topics)."""
    from cxm.config import load_settings
    from infra.topics import ensure_project_topics, prune_run_topics

    s = load_settings()
    if prune_runs_older_than_h is not None:
        from datetime import UTC, datetime, timedelta

        from confluent_kafka import KafkaException

        try:
            gone = prune_run_topics(
                s.kafka.bootstrap, timedelta(hours=prune_runs_older_than_h), datetime.now(UTC), timeout_s=10.0
            )
        except KafkaException as exc:
            typer.echo(f"error: broker {s.kafka.bootstrap}: {exc.args[0].str()} (is it up? cxm up)", err=True)
            sys.exit(1)
        runs = {name.split(".")[1] for name in gone}
        typer.echo(f"topics: {len(gone)} deleted ({len(runs)} runs)")
        return
    created = ensure_project_topics(s)
    typer.echo(f"topics: {len(created)} created")
