"""``cxm events ...``: generate the contract docs, validate a JSONL file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command()
def docs(out: Path = typer.Option(None, help="output file (default docs/events.md)")) -> None:
    """Regenerate docs/events.md from the schema files."""
    from events.docs import DOCS_FILE, write

    typer.echo(f"wrote {write(out or DOCS_FILE)}")


@app.command()
def validate(path: Path) -> None:
    """Validate every line of a JSONL file and print counts per outcome."""
    from events.validate import Invalid, validate_bytes

    counts: Counter[str] = Counter()
    with path.open("rb") as f:
        for line in f:
            res = validate_bytes(line.rstrip(b"\n"))
            counts["valid" if not isinstance(res, Invalid) else res.error_kind] += 1
    for k, v in counts.most_common():
        typer.echo(f"{k:16s} {v:>10,}")
    if set(counts) - {"valid"}:
        raise typer.Exit(1)
