"""The terminal side of ``fiftyone-sync demo``: what starts, progress bars, the summary.

The orchestration (:mod:`fiftyone_sync.demo`) only logs; this module is the CLI layer that
prints for a person. The demo's full log goes to ``<demo data dir>/logs/demo.log``; the
terminal shows warnings and errors only, unless ``--verbose``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import typer

from fiftyone_sync.demo import DemoSummary
from fiftyone_sync.jobs.cli_support import progress_bar
from fiftyone_sync.jobs.progress import ProgressHook
from fiftyone_sync.logging_setup import LOG_FORMAT, RedactingFilter


class ConsoleObserver:
    """Prints each component as it comes up and a progress bar per job."""

    def component(self, name: str, url: str) -> None:
        """Prints ``name`` and where it is."""
        typer.echo(f"  up  {name:<28} {url}")

    def note(self, text: str) -> None:
        """Prints a note."""
        typer.echo(f"note  {text}")

    @contextlib.contextmanager
    def job(self, kind: str, job_id: str) -> Iterator[ProgressHook]:
        """A rich progress bar (stderr) fed from ``GET /jobs/{id}``."""
        typer.echo(f"job   {kind} {job_id}")
        with progress_bar() as hook:
            def labelled(phase: str, done: int, total: int | None) -> None:
                hook(f"{kind}: {phase}", done, total)

            yield labelled


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
