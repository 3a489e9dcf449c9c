"""``cxm rules ...``: check policy files, what-if replays, decide for one customer."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rules.engine import PolicySet

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Policies and decisions.")

_DEFAULT_DIR = Path(__file__).resolve().parent / "policies"
_DEFAULT_ACTIONS = Path(__file__).resolve().parent / "actions.yaml"

ActionsOpt = Annotated[Path, typer.Option("--actions", help="the action catalogue")]


def _actions_for(directory: Path, actions: Path | None) -> Path:
    if actions is not None:
        return actions
    for cand in (directory / "actions.yaml", directory.parent / "actions.yaml"):
        if cand.is_file():
            return cand
    return _DEFAULT_ACTIONS


def _load(directory: Path, actions: Path | None) -> PolicySet:
    from rules.engine import PolicySet
    from rules.errors import PolicyError

    try:
        return PolicySet.load(directory, _actions_for(directory, actions))
    except PolicyError as exc:
        for f in exc.findings:
            typer.echo(str(f), err=True)
        raise typer.Exit(2) from None


@app.command("check")
def check(
    directory: Annotated[Path, typer.Argument(help="a directory of policy files")] = _DEFAULT_DIR,
    actions: Annotated[Path | None, typer.Option("--actions", help="the action catalogue")] = None,
) -> None:
    """Validate policy files and run the static checks; exit 2 with file:line: reason on errors."""
    ps = _load(directory, actions)
    for w in ps.warnings:
        typer.echo(str(w), err=True)
    typer.echo(f"ok: {len(ps.policies)} policies, {len(ps.actions)} actions, version {ps.version}")


@app.command("whatif")
def whatif(
    a: Annotated[Path, typer.Option("--a", help="policy set A (directory)")],
    b: Annotated[Path, typer.Option("--b", help="policy set B (directory)")],
    inputs: Annotated[Path, typer.Option("--inputs", help="decision inputs: .parquet, .csv or .jsonl")],
    actions: Annotated[Path | None, typer.Option("--actions", help="the action catalogue")] = None,
    now: Annotated[str | None, typer.Option(help="ISO time for rows without decided_at")] = None,
    examples: int = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON")] = None,
) -> None:
    """Replay the inputs through policy sets A and B and report the differences."""
    from rules.whatif import compare, load_inputs

    default_now = datetime.fromisoformat(now) if now else None
    if default_now is not None and default_now.tzinfo is None:
        raise typer.BadParameter("--now needs a time zone, e.g. 2026-11-24T12:00:00+00:00")
    rep = compare(_load(a, actions), _load(b, actions), load_inputs(inputs), default_now, examples)
    typer.echo(rep.format())
    if json_out is not None:
        json_out.write_text(json.dumps(rep.to_dict(), indent=2))


@app.command("sample-inputs")
def sample_inputs(
    out: Annotated[Path, typer.Argument(help="output .parquet file")],
    rows: int = 1000,
    seed: int = 0,
    at: Annotated[str, typer.Option(help="decision time (ISO, with zone)")] = "2026-11-24T12:00:00+00:00",
) -> None:
    """Write realistic random decision inputs (for what-if demos and notebooks)."""
    import pandas as pd

    from rules.testing import random_inputs

    df = pd.DataFrame(random_inputs(rows, seed))
    df["decided_at"] = pd.Timestamp(datetime.fromisoformat(at))
    df.to_parquet(out, index=False)
    typer.echo(f"wrote {len(df)} rows to {out}")
