"""The terminal side of ``fiftyone-sync demo``: what starts, progress bars, the summary.

The orchestration (:mod:`fiftyone_sync.demo`) only logs; this module is the CLI layer that
prints for a person, on stdout: a ``start`` line before each component or step and an ``up``
line when it answers; for each job a line per phase as the job reaches it, a progress bar
(live on a terminal, its last state otherwise) and a ``done`` line with what each phase did;
then the summary. The demo's full log goes to ``<demo data dir>/logs/demo.log``; the
terminal shows warnings and errors only, unless ``--verbose``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fiftyone_sync.demo import DemoSummary
from fiftyone_sync.jobs.progress import ProgressHook
from fiftyone_sync.logging_setup import LOG_FORMAT, RedactingFilter


class ConsoleObserver:
    """Prints each component as it starts and comes up, and each job's phases with a bar."""

    def starting(self, name: str) -> None:
        """Prints what is starting."""
        typer.echo(f"start {name}")

    def component(self, name: str, url: str) -> None:
        """Prints ``name`` and where it is."""
        typer.echo(f"  up  {name:<28} {url}")

    def note(self, text: str) -> None:
        """Prints a note."""
        typer.echo(f"note  {text}")

    @contextlib.contextmanager
    def job(self, kind: str, job_id: str) -> Iterator[ProgressHook]:
        """A line per new phase and a rich progress bar, fed from ``GET /jobs/{id}``."""
        typer.echo(f"job   {kind} {job_id}")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=Console(), transient=False) as progress:
            task = progress.add_task(f"{kind}: starting", total=None)
            phases: list[str] = []

            def hook(phase: str, done: int, total: int | None) -> None:
                if not phases or phases[-1] != phase:
                    phases.append(phase)
                    progress.console.print(f"      {kind} phase: {phase}", markup=False,
                                           highlight=False)
                progress.update(task, description=f"{kind}: {phase}", completed=done,
                                total=total)

            yield hook

    def job_result(self, kind: str, report: str) -> None:
        """Prints what the job's phases did."""
        typer.echo(f"done  {kind}: {report}")


def log_to_file(path: Path, verbose: bool) -> None:
    """Sends the full log to ``path``; the terminal keeps warnings only unless ``verbose``.

    Args:
        path: the demo's log file (created with its folder).
        verbose: keep the terminal's log level as configured.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if not verbose:
        for handler in root.handlers:
            if getattr(handler, "_fiftyone_sync", False):
                handler.setLevel(logging.WARNING)

    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.INFO)
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO))


def print_summary(summary: DemoSummary) -> None:
    """The closing message: where to click, what was pulled, how to stop."""
    lines = [
        "",
        f"FiftyOne Sync demo is ready ({summary.seconds:.0f} s). Data dir: {summary.data_dir}",
        "",
        f"  Tator applet:    {summary.applet_url}",
        f"                   (paste the token Token {summary.token})",
        f"  FiftyOne App:    {summary.dataset_url}",
        f"  patches view:    {summary.patches_url or '(none saved)'}",
        "                   (App links are one-time: open the App link first, in one browser)",
        f"  API:             {summary.api_url}/docs",
        "",
        (f"  dataset {summary.dataset}: {summary.samples} samples, {summary.labels} labels, "
         f"{summary.embedded} embedded (Fast-VSS {summary.embed_status})"),
        "  processes: " + ", ".join(f"{name} {pid}" for name, pid in summary.pids.items()),
        "",
        "Press Ctrl-C to stop everything the demo started.",
    ]
    if not summary.started_stores:
        lines.append("(MongoDB and Redis were already running, so they stay up; "
                     f"FIFTYONE_SYNC_DATA_DIR={summary.data_dir} fiftyone-sync stop "
                     "stops them.)")
    typer.echo("\n".join(lines))
