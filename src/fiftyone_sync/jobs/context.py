"""What a running job sees of the job system: who it acts for, progress and cancellation.

Job bodies (pull, push, embeddings) take a :class:`JobContext` and nothing else from the job
system, so they run the same under an RQ worker, in the foreground CLI and in tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential


class JobCancelled(Exception):
    """Raised inside a job body when a user cancelled the job."""


def _no_progress(phase: str, done: int, total: int | None) -> None:
    """Progress sink for contexts nobody watches."""


def _never_cancelled() -> bool:
    return False


@dataclasses.dataclass
class JobContext:
    """The job's identity and its two channels back to the job system.

    Attributes:
        job_id: the job's id (also used in log lines).
        project_id: the Tator project the job works on.
        database_name: the project's MongoDB database, already bound for this process.
        settings: the process settings.
        credential: the Tator identity of the user who asked for the job.
        report: called with ``(phase, done, total)`` as work proceeds.
        is_cancelled: returns true once a user asked to cancel the job.
        version_id: the Tator version the job works on (None for a project-wide job).
        dataset_name: the FiftyOne dataset of that version (None likewise).
    """

    job_id: str
    project_id: int
    database_name: str
    settings: Settings
    credential: Credential
    report: Callable[[str, int, int | None], None] = _no_progress
    is_cancelled: Callable[[], bool] = _never_cancelled
    version_id: int | None = None
    dataset_name: str | None = None

    def progress(self, phase: str, done: int = 0, total: int | None = None) -> None:
        """Publishes the job's phase and how far it got (``total`` None when unknown)."""
        self.report(phase, done, total)

    def check_cancelled(self) -> None:
        """Raises :class:`JobCancelled` if a user cancelled the job; call between steps."""
        if self.is_cancelled():
            raise JobCancelled(f"job {self.job_id} was cancelled")
