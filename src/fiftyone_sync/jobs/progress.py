"""Progress and cancellation channels between a running job body and its record.

A body may report progress for every item and ask "cancelled?" in tight loops; these
wrappers keep Redis traffic bounded: progress is written at most every
``min_interval`` seconds (a new phase is written at once), and the cancel flag is read at
most every ``min_interval`` seconds.

Both are advisory: a Redis error while writing progress or reading the flag is logged and
the job goes on (a Redis restart is caught by the dataset lock's heartbeat instead, which
stops the job through ``extra``). A progress write must never be what fails a pull.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

from fiftyone_sync.jobs.store import JobStore

logger = logging.getLogger(__name__)

ProgressHook = Callable[[str, int, int | None], None]
"""Receives every progress report: ``(phase, done, total)``."""


class ThrottledProgress:
    """Writes a job's ``(phase, done, total)`` to its record, a few times a second at most.

    Args:
        store: the job store.
        job_id: the job whose record to update.
        min_interval: the shortest time between two writes of one phase.
        hook: also called on every report (the CLI draws its progress bar from it).
    """

    def __init__(self, store: JobStore, job_id: str, min_interval: float = 0.25,
                 hook: ProgressHook | None = None) -> None:
        self._store = store
        self._job_id = job_id
        self._interval = min_interval
        self._hook = hook
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._last_phase: str | None = None
        self._pending: tuple[str, int, int | None] | None = None

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        """Records a report; writes it unless one was written very recently."""
        if self._hook is not None:
            self._hook(phase, done, total)

        with self._lock:
            now = time.monotonic()
            if phase == self._last_phase and now - self._last_write < self._interval:
                self._pending = (phase, done, total)
                return
            self._last_phase, self._last_write, self._pending = phase, now, None
        self._write(phase, done, total)

    def flush(self) -> None:
        """Writes the last report a throttle held back, if any."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._write(*pending)

    def _write(self, phase: str, done: int, total: int | None) -> None:
        try:
            self._store.update(self._job_id, phase=phase, done=int(done),
                               total=None if total is None else int(total))
        except redis.RedisError as exc:
            logger.warning("Could not record the progress of job %s: %s", self._job_id, exc)


class CancelFlag:
    """Answers "did a user cancel this job?" from its record, re-reading it sparingly.

    Args:
        store: the job store.
        job_id: the job.
        extra: another reason to stop (e.g. the dataset lock was lost); checked every time.
        min_interval: seconds a "no" answer from Redis is reused.
    """

    def __init__(self, store: JobStore, job_id: str, extra: Callable[[], bool],
                 min_interval: float = 0.5) -> None:
        self._store = store
        self._job_id = job_id
        self._extra = extra
        self._interval = min_interval
        self._checked_at = float("-inf")
        self._cancelled = False

    def __call__(self) -> bool:
        """True once the job should stop."""
        if self._cancelled or self._extra():
            return True

        now = time.monotonic()
        if now - self._checked_at >= self._interval:
            self._checked_at = now
            try:
                self._cancelled = self._store.cancel_requested(self._job_id)
            except redis.RedisError as exc:
                logger.warning("Could not read the cancel flag of job %s: %s", self._job_id,
                               exc)
        return self._cancelled
