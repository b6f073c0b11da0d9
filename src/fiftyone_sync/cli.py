"""The ``fiftyone-sync`` command line: one entry point for every process of the service."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated

import typer

from fiftyone_sync.apps.cli import apps_app
from fiftyone_sync.logging_setup import configure_logging, redact_uri
from fiftyone_sync.settings import Settings, get_settings

if TYPE_CHECKING:
    from fiftyone_sync.jobs.state import JobRecord

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="fiftyone-sync",
    help="Review Tator localizations in FiftyOne and push the fixes back to Tator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
emulate_app = typer.Typer(help="Run an emulator of an outside service, for tests and demos.")
app.add_typer(emulate_app, name="emulate")
app.add_typer(apps_app, name="apps")


@app.callback()
def _options(
    log_level: str = typer.Option(
        "INFO", envvar="FIFTYONE_SYNC_LOG_LEVEL", help="DEBUG, INFO, WARNING or ERROR."
    ),
) -> None:
    """Options shared by every command; sets up redacted logging once per process."""
    configure_logging(log_level)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Interface to bind; default from settings."),
    port: int | None = typer.Option(None, help="Port to bind; default from settings."),
) -> None:
    """Run the HTTP API, starting the embedded MongoDB and Redis first when needed."""
    import uvicorn

    from fiftyone_sync.api.app import create_app

    settings = get_settings()
    _start_stores(settings)
    uvicorn.run(create_app(settings), host=host or settings.api_host,
                port=port or settings.api_port, log_config=None)


def _start_stores(settings: Settings) -> None:
    """Starts (or finds) MongoDB and Redis and logs what they are; exits 1 if one cannot run."""
    import pymongo.errors

    from fiftyone_sync import stores
    from fiftyone_sync.stores.embedded import EmbeddedStoreError
    from fiftyone_sync.stores.mongo import server_summary

    try:
        mongo = stores.mongo_uri(settings)
        logger.info("Redis: %s", redact_uri(stores.redis_url(settings)))
    except EmbeddedStoreError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None

    try:
        logger.info("MongoDB: %s (%s)", redact_uri(mongo), server_summary(mongo))
    except pymongo.errors.PyMongoError as error:
        logger.warning("MongoDB %s did not answer at startup (%s); /ready reports it",
                       redact_uri(mongo), type(error).__name__)


@app.command()
def stop() -> None:
    """Stop the App servers and the embedded MongoDB and Redis recorded in the data dir."""
    from fiftyone_sync.apps.manager import stop_all as stop_apps
    from fiftyone_sync.stores.embedded import EmbeddedStoreError, stop_all

    settings = get_settings()
    for app_record in stop_apps(settings):
        typer.echo(f"stopped App server of project {app_record.project_id} "
                   f"(pid {app_record.pid}, port {app_record.port})")

    try:
        stopped = stop_all(settings)
    except EmbeddedStoreError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None

    for record in stopped:
        typer.echo(f"stopped embedded {record.name} (pid {record.pid}, port {record.port})")
    if not stopped:
        typer.echo("no embedded store was running")


@app.command()
def worker(
    burst: bool = typer.Option(False, "--burst", help="Exit once the queue is empty."),
    name: str | None = typer.Option(None, help="Worker name in RQ; default host and pid."),
) -> None:
    """Run a job worker (any number, on any host sharing Redis and MongoDB)."""
    from fiftyone_sync.jobs.worker import WorkerSetupError, run_worker

    try:
        run_worker(get_settings(), burst=burst, name=name)
    except WorkerSetupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def _run_job(kind: str, project: int, version: int, database_name: str | None,
             token_env: str, params: dict, progress: bool = True) -> JobRecord:
    """Runs one job body here, as a worker would, and returns its succeeded record.

    Exits with status 2 for bad arguments and 1 when the job did not succeed.
    """
    from fiftyone_sync.jobs.cli_support import credential_from_env, progress_bar
    from fiftyone_sync.jobs.foreground import run_in_foreground
    from fiftyone_sync.naming import NamingError
    from fiftyone_sync.naming import database_name as resolve_database

    settings = get_settings()
    try:
        credential = credential_from_env(token_env)
        database = resolve_database(project, settings, database_name)
        if progress:
            with progress_bar() as hook:
                record = run_in_foreground(settings, kind, project, version, database,
                                           credential, params, hook=hook)
        else:
            record = run_in_foreground(settings, kind, project, version, database,
                                       credential, params)
    except (ValueError, NamingError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None

    if record.state.value != "succeeded":
        typer.echo(f"error: {kind} job {record.id} {record.state.value}: {record.error}",
                   err=True)
        raise typer.Exit(1)
    return record


@app.command()
def pull(
    project: int = typer.Option(..., "--project", help="Tator project id."),
    version: int = typer.Option(..., "--version", help="Tator version id."),
    force: bool = typer.Option(False, "--force", help="Re-pull every element."),
    database_name: str | None = typer.Option(None, help="Override the project's database."),
    token_env: str = typer.Option("TATOR_TOKEN", help="Environment variable with the token."),
) -> None:
    """Pull a Tator project version into FiftyOne here, with a progress bar."""
    record = _run_job("pull", project, version, database_name, token_env, {"force": force})
    typer.echo(f"job {record.id}: {record.state.value}")
    typer.echo(json.dumps(record.result, indent=2))


@app.command()
def embed(
    project: int = typer.Option(..., "--project", help="Tator project id."),
    version: int = typer.Option(..., "--version", help="Tator version id."),
    force: bool = typer.Option(False, "--force", help="Re-embed every label."),
    recompute_map: bool = typer.Option(False, help="Recompute maps even if nothing changed."),
    database_name: str | None = typer.Option(None, help="Override the project's database."),
    token_env: str = typer.Option("TATOR_TOKEN", help="Environment variable with the token."),
) -> None:
    """Embed a pulled version's labels through Fast-VSS here, with a progress bar."""
    params = {"force": force, "recompute_map": recompute_map}
    record = _run_job("embed", project, version, database_name, token_env, params)
    typer.echo(f"job {record.id}: {record.state.value}")
    typer.echo(json.dumps(record.result, indent=2))


@app.command()
def push(
    project: int = typer.Option(..., "--project", help="Tator project id."),
    version: int = typer.Option(..., "--version", help="Tator version id."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only make and print the plan."),
    resolve: str | None = typer.Option(
        None, help="Resolve conflicts instead: 'mine' (keep FiftyOne's) or 'theirs'."),
    elemental_id: Annotated[list[str] | None, typer.Option(
        "--elemental-id", help="With --resolve: these elements (default: all).")] = None,
    database_name: str | None = typer.Option(None, help="Override the project's database."),
    token_env: str = typer.Option("TATOR_TOKEN", help="Environment variable with the token."),
) -> None:
    """Push FiftyOne edits to Tator here: plan, print, then apply (or only plan/resolve)."""

    def run(kind: str, params: dict) -> dict:
        record = _run_job(kind, project, version, database_name, token_env, params,
                          progress=False)
        return record.result or {}

    if resolve is not None:
        chosen = list(elemental_id or []) or "all"
        typer.echo(json.dumps(run("push_resolve", {"elemental_ids": chosen,
                                                   "choice": resolve}), indent=2))
        return
    plan = run("push_plan", {})
    typer.echo(json.dumps(plan, indent=2, default=str))
    if dry_run or not plan.get("total"):
        return
    typer.echo(json.dumps(run("push_apply", {"plan_id": plan["plan_id"]}), indent=2))


@emulate_app.command("fastvss")
def emulate_fastvss(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port to bind (Fast-VSS's usual port)."),
    projects: str = typer.Option(
        "testproject,otherproject", help="Comma-separated project names it serves."),
    batch_size: int = typer.Option(32, help="Most files per embed call."),
    job_delay: float = typer.Option(0.5, help="Seconds a job stays pending."),
) -> None:
    """Run the Fast-VSS emulator (real image features, fault knobs at /_emulator/faults)."""
    import uvicorn

    from fiftyone_sync.emulators.fastvss import EmulatorState, create_emulator_app

    names = [name.strip() for name in projects.split(",") if name.strip()]
    state = EmulatorState(names, batch_size=batch_size, job_delay=job_delay)
    typer.echo(f"Fast-VSS emulator on http://{host}:{port} serving {', '.join(names)}")
    uvicorn.run(create_emulator_app(state), host=host, port=port, log_config=None)


@app.command()
def demo(
    data: str | None = typer.Option(
        None, "--data", help="Your own images laid out DIR/<label>/<image>, or 'plankton' for "
        "the drawn project (default: ../shared's marine-life images when present)."),
    api_port: int = typer.Option(8180, help="API port (a free one if taken)."),
    tator_port: int = typer.Option(8190, help="Tator emulator port (a free one if taken)."),
    fastvss_port: int = typer.Option(8100, help="Fast-VSS emulator port (free one if taken)."),
    app_base_port: int = typer.Option(5151, help="App base port; project 1's App is base+1."),
    images: int = typer.Option(12, help="Plankton images to draw (drawn project only)."),
    verbose: bool = typer.Option(False, "--verbose", help="Show the full log here too."),
) -> None:
    """Run the whole product on emulated Tator and Fast-VSS, until Ctrl-C."""
    from pathlib import Path

    from fiftyone_sync import demo as demo_module
    from fiftyone_sync.demo_console import ConsoleObserver, log_to_file, print_summary

    settings = get_settings()
    demo_module.stop_on_signals()
    log_to_file(demo_module.demo_data_dir(settings) / "logs" / "demo.log", verbose)
    options = demo_module.DemoOptions(
        api_port=api_port, tator_port=tator_port, fastvss_port=fastvss_port,
        app_base_port=app_base_port, data=Path(data) if data else None, images=images)
    runner = demo_module.Demo(options, settings, ConsoleObserver())
    try:
        print_summary(runner.start())
        demo_module.wait_for_stop_signal()
    except KeyboardInterrupt:
        typer.echo("\nstopping the demo...")
    except demo_module.DemoError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        demo_module.ignore_stop_signals()
        runner.stop()
    typer.echo("demo stopped")


def main() -> None:
    """Runs the command line."""
    app()


@emulate_app.command("tator")
def emulate_tator(
    fixture: str = typer.Option(None, help="Fixture file (.json/.yaml), or 'demo' (default)."),
    data: str = typer.Option(None, help="Folder laid out DIR/<label>/<image> to serve."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(
        8090, help="Port to listen on (the default FIFTYONE_SYNC_TATOR_URL points here)."),
) -> None:
    """Serves an emulated Tator (REST API, schema, files) until interrupted."""
    import tempfile
    from pathlib import Path

    from fiftyone_sync.emulators.tator import demo
    from fiftyone_sync.emulators.tator.server import serve_forever, store_from_options

    with tempfile.TemporaryDirectory(prefix="tator-demo-") as media_dir:
        store = store_from_options(fixture, Path(data) if data else None, Path(media_dir))
        for user in demo.standard_users():
            typer.echo(f"user {user['username']}: Token {user['token']}")
        typer.echo(f"Tator emulator on http://{host}:{port} ({len(store.media)} media)")
        serve_forever(store, host, port)
