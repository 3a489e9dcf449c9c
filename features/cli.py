"""``cxm features ...``: apply the Feast repo, run the changelog writer, show a customer's features."""

from __future__ import annotations

import json
import logging
import time

import typer

app = typer.Typer(help="The Feast feature repo: apply, write (changelog -> Feast), show.",
                  no_args_is_help=True)


@app.command("apply")
def apply_cmd() -> None:
    """Register entity, sources, views and service in the registry under var/ and create online tables."""
    from cxm.config import load_settings
    from features.store import apply

    settings = load_settings()
    fs = apply(settings)
    typer.echo(f"applied {len(fs.list_feature_views())} feature views to {settings.feast.online_store}")


@app.command("write")
def write_cmd(
    processes: int = typer.Option(1, min=1, help="writer processes in one consumer group"),
    batch_max_rows: int = typer.Option(5000, min=1),
    batch_max_ms: int = typer.Option(200, min=1),
    no_offline: bool = typer.Option(False, help="skip the offline Parquet append"),
    idle_exit_s: float = typer.Option(None, help="stop after this long without records (default: never)"),
) -> None:
    """Consume features.changelog and write it to the online and offline stores."""
    from cxm.config import load_settings
    from features.writer import run_writers
    from features.writer_config import WriterConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = WriterConfig(batch_max_rows=batch_max_rows, batch_max_ms=batch_max_ms, offline=not no_offline)
    for stats in run_writers(load_settings(), cfg, processes=processes, idle_exit_s=idle_exit_s):
        typer.echo(json.dumps(stats))


@app.command("show")
def show_cmd(customer: str, raw: bool = typer.Option(False, help="stored values only, not derived")) -> None:
    """Print a customer's features (stored, then derived at the current time) as JSON."""
    from cxm.config import load_settings
    from features.definitions import SERVICE_NAME
    from features.derive import derive
    from features.store import feature_store

    fs = feature_store(load_settings())
    got = fs.get_online_features(fs.get_feature_service(SERVICE_NAME), [{"customer_id": customer}]).to_dict()
    stored = {k: v[0] for k, v in got.items() if k != "customer_id" and v[0] is not None}
    out = stored if raw else derive(stored, now_ms=time.time_ns() // 1_000_000)
    typer.echo(json.dumps(out, indent=2, sort_keys=True))
