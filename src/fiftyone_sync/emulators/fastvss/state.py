"""What the Fast-VSS emulator remembers: its projects, its jobs and the knobs tests turn.

One :class:`EmulatorState` backs one emulator app. Tests change its :class:`Knobs` from Python
(``state.set(...)``) or over HTTP (``POST /_emulator/faults``); :meth:`EmulatorState.reset`
restores the defaults and forgets every job.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
import uuid

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PROJECTS = ("testproject", "otherproject")
DEFAULT_BATCH_SIZE = 32
DEFAULT_RESULT_TTL = 500.0
VERSION = "0.15.0-emulator"


class Knobs(BaseModel):
    """The emulator's adjustable behaviour; every field's default is the fault-free one."""

    model_config = ConfigDict(extra="forbid")

    job_delay: float = Field(0.0, ge=0, description="seconds a job stays pending")
    result_ttl: float = Field(
        DEFAULT_RESULT_TTL, gt=0, description="seconds after which a finished job is forgotten")
    old_paths_only: bool = Field(
        False, description="serve only POST /embeddings/{project}/ (404 on /embed/{project})")
    latency: float = Field(0.0, ge=0, description="seconds added before every answer")
    submit_error: str | None = Field(None, description="embed calls answer {'error': this}")
    poll_error: str | None = Field(None, description="job polls answer {'error': this}")
    submit_hang: float = Field(0.0, ge=0, description="seconds of silence before embed answers")
    poll_hang: float = Field(0.0, ge=0, description="seconds of silence before polls answer")
    string_result: str | None = Field(
        None, description="finished jobs return this string as result (a task that raised)")
    fail_batch: int | None = Field(
        None, ge=1, description="the Nth embed call since reset ends with status 'failed'")
    missing_vectors: int = Field(
        0, ge=0, description="results leave out the last N files (name and vector)")
    nan_vectors: int = Field(0, ge=0, description="the first N vectors carry a NaN")
    short_vectors: int = Field(0, ge=0, description="the first N vectors lose their last value")
    zero_vectors: int = Field(0, ge=0, description="the first N vectors are all zeros")
    shuffle: bool = Field(False, description="results list files in reverse upload order")


@dataclasses.dataclass
class Job:
    """One embed job: what was sent and the answer it will give once ready."""

    project: str
    number: int
    result: dict | str
    ready_at: float
    failed: bool = False


class EmulatorState:
    """Projects, jobs and knobs of one emulator; safe to change from another thread.

    ``calls`` counts requests per route name (``embed``, ``embeddings``, ``predict``, ...),
    ``submissions`` the jobs created and ``polls`` the job lookups.

    Args:
        projects: the project names ``GET /projects`` lists and embed calls accept.
        batch_size: the most files one embed call may carry.
        job_delay: the default seconds a job stays pending.
    """

    def __init__(
        self,
        projects: tuple[str, ...] | list[str] = DEFAULT_PROJECTS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        job_delay: float = 0.0,
    ) -> None:
        self.projects = list(projects)
        self.batch_size = batch_size
        self._defaults = Knobs(job_delay=job_delay)
        self._lock = threading.Lock()
        self.knobs = self._defaults.model_copy()
        self.jobs: dict[str, Job] = {}
        self.submissions = 0
        self.polls = 0
        self.calls: collections.Counter[str] = collections.Counter()

    def set(self, **changes: object) -> Knobs:
        """Changes some knobs (validated like the admin route) and returns them all."""
        with self._lock:
            merged = self.knobs.model_dump() | changes
            self.knobs = Knobs.model_validate(merged)
            return self.knobs

    def reset(self) -> None:
        """Restores the default knobs, forgets every job and zeroes the counters."""
        with self._lock:
            self.knobs = self._defaults.model_copy()
            self.jobs.clear()
            self.submissions = 0
            self.polls = 0
            self.calls.clear()

    def add_job(self, project: str, result: dict | str) -> str:
        """Records a submitted job and returns its id; applies the job delay and fail_batch."""
        with self._lock:
            self.submissions += 1
            job_id = str(uuid.uuid4())
            self.jobs[job_id] = Job(
                project=project,
                number=self.submissions,
                result=result,
                ready_at=time.monotonic() + self.knobs.job_delay,
                failed=self.knobs.fail_batch == self.submissions,
            )
            return job_id

    def find_job(self, job_id: str, project: str) -> Job | None:
        """The job with this id in this project, unless unknown or expired (then forgotten)."""
        with self._lock:
            self.polls += 1
            job = self.jobs.get(job_id)
            if job is None or job.project != project:
                return None

            if time.monotonic() > job.ready_at + self.knobs.result_ttl:
                del self.jobs[job_id]
                return None
            return job
