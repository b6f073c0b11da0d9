"""The ``fiftyone-sync`` command line: one entry point for every process of the service."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="fiftyone-sync",
    help="Review Tator localizations in FiftyOne and push the fixes back to Tator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
emulate_app = typer.Typer(help="Run an emulator of an outside service, for tests and demos.")
app.add_typer(emulate_app, name="emulate")


def main() -> None:
    """Runs the command line."""
    app()
