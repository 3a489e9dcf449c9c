"""The one command-line entry point: ``cxm <subcommand>``.

Each package contributes its own Typer app in ``<package>/cli.py`` (heavy imports stay inside the commands,
so ``cxm --help`` is fast); this module only assembles them.
"""

from __future__ import annotations

import importlib

import typer

#: (module, subcommand name or "" to merge its commands at top level, help)
_SUBAPPS: list[tuple[str, str, str]] = [
    ("infra.cli", "", "local services: up, down, status, topics"),
    ("pipelines.cli", "", "the streaming jobs: run, smoke, features, submit"),
    ("simulator.cli", "", "the customer journey simulator"),
    ("events.cli", "events", "event contracts and validation"),
    ("features.cli", "features", "the Feast feature repo"),
    ("models.cli", "models", "online models"),
    ("rules.cli", "rules", "policies and decisions"),
]


def build_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=False, help="CX membrane: next-best-action platform.")
    for module, name, help_text in _SUBAPPS:
        try:
            sub = importlib.import_module(module).app
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        if name:
            app.add_typer(sub, name=name, help=help_text)
        else:
            for cmd in sub.registered_commands:
                app.registered_commands.append(cmd)
            for grp in sub.registered_groups:
                app.registered_groups.append(grp)
    return app


def main() -> None:
    build_app()()
