"""``fiftyone-sync apps``: list, start and stop the App servers of this host."""

from __future__ import annotations

import datetime

import typer

from fiftyone_sync import naming, stores
from fiftyone_sync.apps.manager import AppError, AppManager, AppStartError, stop_all
from fiftyone_sync.settings import get_settings

apps_app = typer.Typer(help="List, start and stop the FiftyOne App servers of this host.",
                       no_args_is_help=True)


def _manager() -> AppManager:
    settings = get_settings()
    return AppManager(settings, lambda: stores.mongo_uri(settings))


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return datetime.datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S")


@apps_app.command("list")
def list_apps() -> None:
    """Show every recorded App server: project, port, database, pid, state, last access."""
    statuses = _manager().list()
    if not statuses:
        typer.echo("no App server is recorded")
        return

    typer.echo(f"{'project':>7}  {'port':>5}  {'pid':>7}  {'state':<7}  {'started':<19}  "
               f"{'last access':<19}  database")
    for status in statuses:
        record = status.record
        state = "running" if status.running else "dead"
        typer.echo(f"{record.project_id:>7}  {record.port:>5}  {record.pid:>7}  {state:<7}  "
                   f"{_when(record.started_at):<19}  {_when(status.last_access):<19}  "
                   f"{record.database_name}")


@apps_app.command("start")
def start_app(
    project: int = typer.Argument(..., help="The Tator project id."),
    database_name: str | None = typer.Option(None, help="An allowed database override."),
) -> None:
    """Start a project's App server (or report the running one)."""
    settings = get_settings()
    try:
        database = naming.database_name(project, settings, database_name)
        result = _manager().ensure(project, database)
    except (AppError, naming.NamingError) as error:
        typer.echo(f"error: {error}", err=True)
        if isinstance(error, AppStartError) and error.log_tail:
            typer.echo(f"last lines of its log:\n{error.log_tail}", err=True)
        raise typer.Exit(1) from None

    what = "restarted" if result.restarted else "started" if result.started else "running"
    typer.echo(f"project {project}: App {what} on port {result.record.port} "
               f"(pid {result.record.pid}, database {database})")


@apps_app.command("stop")
def stop_app(project: int = typer.Argument(..., help="The Tator project id.")) -> None:
    """Stop a project's App server."""
    try:
        record = _manager().stop(project)
    except (AppError, naming.NamingError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None

    if record is None:
        typer.echo(f"project {project}: no App server was running")
    else:
        typer.echo(f"project {project}: stopped App on port {record.port} (pid {record.pid})")


@apps_app.command("stop-all")
def stop_all_apps() -> None:
    """Stop every App server this host's data dir records."""
    stopped = stop_all(get_settings())
    for record in stopped:
        typer.echo(f"project {record.project_id}: stopped App on port {record.port} "
                   f"(pid {record.pid})")
    if not stopped:
        typer.echo("no App server was running")
