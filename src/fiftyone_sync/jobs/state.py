"""A job's life as the service records it: its states and the record users read.

RQ keeps its own job hash for scheduling; this record is ours, kept next to it in Redis,
and it is what ``GET /jobs/{id}`` shows. Each state has one meaning:

* ``queued``: accepted, waiting for a worker or for its dataset's lock;
* ``running``: a worker holds the dataset lock and runs the job body;
* ``succeeded``: the body returned; ``result`` holds what it reported;
* ``failed``: the body raised, or the process running it died; ``error`` says why;
* ``cancelled``: a user cancelled it before it ran, or the body stopped on request.

Allowed moves: queued → running | failed | cancelled; running → succeeded | failed |
cancelled. The last three are final.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class JobState(str, enum.Enum):
    """Where a job is in its life (see the module docstring)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether nothing can happen to the job any more."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

ALLOWED_MOVES: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
}


def sources_of(target: JobState) -> tuple[JobState, ...]:
    """The states a job may be in to move to ``target``."""
    return tuple(state for state, targets in ALLOWED_MOVES.items() if target in targets)


@dataclasses.dataclass
class JobRecord:
    """Everything the service keeps about one job.

    Attributes:
        id: the job id (also RQ's job id).
        kind: what the job does (``pull``, ``push_plan``, ``push_apply``, ``embed``...).
        body: ``module:function`` of the job body, resolved from the kind at submission.
        project_id: the Tator project.
        version_id: the Tator version; with the project it names the dataset and its lock.
        database_name: the MongoDB database the job's process binds FiftyOne to.
        dataset: the FiftyOne dataset's name.
        params: the body's arguments (JSON values; never a secret).
        state: see :class:`JobState`.
        phase, done, total: the body's last progress report (``total`` None if unknown).
        result: what the body returned, once ``succeeded``.
        error: why the job ``failed`` (or was cancelled), in words a user can act on.
        requested_by: the Tator username who asked for the job.
        created_at, started_at, ended_at: ISO 8601 UTC timestamps.
        cancel_requested: whether a user asked to cancel it.
        runner: ``rq`` for queued jobs, ``cli`` for ``fiftyone-sync pull`` in a terminal.
        worker: the worker (host and pid) that ran the job.
        pid: the process that ran the body (the RQ work-horse).
    """

    id: str
    kind: str
    body: str
    project_id: int
    version_id: int
    database_name: str
    dataset: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    state: JobState = JobState.QUEUED
    phase: str = "queued"
    done: int = 0
    total: int | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    requested_by: str = ""
    created_at: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    cancel_requested: bool = False
    runner: str = "rq"
    worker: str | None = None
    pid: int | None = None

    def public(self) -> dict[str, Any]:
        """The record as the HTTP API shows it."""
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        data["status"] = self.state.value
        data.pop("body")
        return data


RECORD_FIELDS = tuple(field.name for field in dataclasses.fields(JobRecord))
