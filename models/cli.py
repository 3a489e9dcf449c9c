"""``cxm models ...``: train the models on a simulated period and publish snapshots; list snapshots."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Online models: train, list snapshots.")


@app.command()
def train(
    days: float = typer.Option(60.0, help="simulated days"),
    customers: int = typer.Option(2000, help="simulated customers"),
    seed: int = typer.Option(0, help="simulator seed"),
) -> None:
    """Simulate -> features (batch oracle) -> learn churn, stage, propensity -> snapshot to var/models."""
    import time

    import numpy as np

    from cxm.config import load_settings
    from models.churn import ChurnModel
    from models.delayed import CHURN_WINDOW_MS
    from models.propensity import PropensityModel
    from models.registry import ModelRegistry
    from models.scoring import CHURN, PROPENSITY, STAGE
    from models.stage import StageModel
    from models.trainset import build_training_set, simulate_log

    settings = load_settings()
    log = simulate_log(customers=customers, days=days, seed=seed)
    df = build_training_set(log)
    labelled = df[df["label"].notna()]
    churn = ChurnModel(seed=seed)
    churn.learn_many(labelled, labelled["label"].astype(bool))
    stage = StageModel(seed=seed)
    stage.learn_many(df, df["true_stage"])
    reg = ModelRegistry(settings.var_dir / "models")
    now_ms = int(time.time() * 1000)
    label_watermark = int(log.end_ms - CHURN_WINDOW_MS)
    metrics = churn.metrics()
    for name, model, wm in (
        (CHURN, churn, label_watermark),
        (STAGE, stage, log.end_ms),
        (PROPENSITY, PropensityModel(seed=seed), log.start_ms),
    ):
        snap = reg.save(name, model, watermark_ms=wm, now_ms=now_ms, meta={"customers": customers, "days": days})
        typer.echo(f"{name}: version {snap.version} -> {reg.root / name / snap.file}")
    typer.echo(
        f"rows {len(df)}, labelled {len(labelled)} (positive rate {float(np.mean(labelled['label'])):.3f}); "
        f"churn progressive AUC {metrics['roc_auc']:.3f}, log loss {metrics['log_loss']:.3f}"
    )


@app.command("list")
def list_snapshots() -> None:
    """Every snapshot: model, version, training watermark, created_at."""
    from cxm.config import load_settings
    from events.timefmt import ms_to_rfc3339
    from models.registry import ModelRegistry

    reg = ModelRegistry(load_settings().var_dir / "models")
    names = reg.names()
    if not names:
        typer.echo(f"no snapshots under {reg.root}")
    for name in names:
        for s in reg.versions(name):
            typer.echo(f"{name}\tv{s.version}\twatermark {ms_to_rfc3339(s.watermark_ms)}\tcreated {s.created_at}")


@app.command()
def learn(
    seconds: float = typer.Option(0.0, help="stop after this many seconds (0 = run until SIGTERM/SIGINT)"),
    max_messages: int = typer.Option(0, help="stop after this many messages (0 = no limit)"),
    idle_stop: float = typer.Option(0.0, help="stop after this many seconds without a message (0 = never)"),
    group_id: str = typer.Option("", help="consumer group (default: settings.learner.group_id)"),
) -> None:
    """The single online learner: changelog + outcomes + decisions + responses -> snapshots to the registry."""
    import logging

    from cxm.config import load_settings
    from models.learner_service import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    if group_id:
        settings = settings.model_copy(update={"learner": settings.learner.model_copy(update={"group_id": group_id})})
    stats = serve(
        settings,
        max_seconds=seconds or None,
        max_messages=max_messages or None,
        idle_stop_s=idle_stop or None,
    )
    typer.echo(
        f"messages {stats.messages} in {stats.seconds:.1f} s ({stats.messages_per_s:.0f}/s); labels churn "
        f"{stats.churn_labels}, propensity {stats.propensity_labels}; snapshots published {stats.snapshots}"
    )
