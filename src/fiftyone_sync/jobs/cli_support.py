"""Terminal helpers for jobs run from the command line: the token and a progress bar."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fiftyone_sync.jobs.progress import ProgressHook
from fiftyone_sync.tator.client import Credential, CredentialError


def credential_from_env(variable: str) -> Credential:
    """The Tator credential in environment variable ``variable``.

    The value is a bare API token, or a whole header value (``Token ...``, ``Bearer ...``).
    Environment variables keep the token out of the shell history and the process list.

    Raises:
        CredentialError: the variable is unset, empty or malformed.
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        raise CredentialError(f"environment variable {variable} holds no Tator token")
    if " " not in value:
        value = f"Token {value}"
    return Credential.from_header(value)


@contextlib.contextmanager
def progress_bar() -> Iterator[ProgressHook]:
    """A rich progress bar on stderr; yields the hook that moves it."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("starting", total=None)

        def hook(phase: str, done: int, total: int | None) -> None:
            progress.update(task, description=phase, completed=done, total=total)

        yield hook
