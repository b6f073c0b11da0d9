"""The ``fiftyone-sync worker`` process: an RQ worker that forks one work-horse per job.

Run any number of workers on any hosts that share Redis and MongoDB. The parent process
never imports ``fiftyone`` (FiftyOne binds one database per process, and each job's
work-horse binds its own project's); :func:`run_worker` refuses to start if it was
imported. When a work-horse dies without finishing (killed, out of memory), the parent
marks the job ``failed`` with the signal or exit status and frees the dataset lock the
horse held. Start-up touches no lock: other workers' jobs keep theirs. A Redis outage
while a job runs does not stop the worker (see :class:`ServiceWorker`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

import redis
from rq import Queue, Worker
from rq.job import Job

from fiftyone_sync import stores
from fiftyone_sync.jobs.locks import lock_key, release_if_owner
from fiftyone_sync.jobs.state import JobState
from fiftyone_sync.jobs.store import JobStore
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)


class WorkerSetupError(RuntimeError):
    """The worker cannot run as configured."""


class HorseDeathHandler:
    """Records a job whose work-horse died, and frees its dataset lock.

    RQ calls it in the worker parent with ``(job, pid, wait status, rusage)``.

    Args:
        store: the job store.
        client: a Redis client created with ``decode_responses=True``.
    """

    def __init__(self, store: JobStore, client: redis.Redis) -> None:
        self._store = store
        self._redis = client

    def __call__(self, job: Job, pid: int | None, status: int | None, rusage: Any) -> None:
        """Marks the job failed with the cause of death, then releases its lock."""
        record = self._store.get(job.id)
        if record is None or record.state.is_final:
            return

        error = f"the worker process running this job died ({_death_cause(pid, status)})"
        if self._store.move(job.id, JobState.FAILED, error=error):
            logger.error("Job %s (%s, project %s) failed: %s", job.id, record.kind,
                         record.project_id, error)
        key = lock_key(record.database_name, record.project_id, record.version_id)
        if release_if_owner(self._redis, key, job.id):
            logger.info("Released the dataset lock of dead job %s", job.id)


class ServiceWorker(Worker):
    """RQ's worker, made to outlive a Redis outage that happens while a job runs.

    While a work-horse runs, RQ's worker renews its own and the job's heartbeats in Redis
    every ``job_monitoring_interval`` seconds (30); a connection error there escapes RQ's
    loop and the worker quits, leaving its horse running unwatched. Here the error is
    logged and the worker keeps watching its horse (RQ itself retries once the horse is
    done and it dequeues again). The job is stopped by its dataset lock, whose heartbeat
    notices the restart (:mod:`fiftyone_sync.jobs.locks`).
    """

    def maintain_heartbeats(self, job: Job, *args: Any, **kwargs: Any) -> None:
        """RQ's heartbeats, with Redis connection errors logged instead of raised."""
        try:
            super().maintain_heartbeats(job, *args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            logger.warning("Worker %s could not renew its heartbeats in Redis (job %s): %s",
                           self.name, job.id, exc)


def _death_cause(pid: int | None, status: int | None) -> str:
    """``killed by signal 9 (SIGKILL)`` or ``exit status 3``, for a wait status."""
    who = f"pid {pid}, " if pid else ""
    if status is not None and os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        return f"{who}killed by signal {number} ({name})"
    if status is not None and os.WIFEXITED(status):
        return f"{who}exit status {os.WEXITSTATUS(status)}"
    return f"{who}wait status {status}"


def run_worker(settings: Settings, burst: bool = False, name: str | None = None) -> bool:
    """Works on the job queue until stopped (or, with ``burst``, until it is empty).

    Args:
        settings: the process settings (Redis, queue name).
        burst: stop once the queue is empty.
        name: the worker's name in RQ (default: host and pid).

    Returns:
        Whether any job was processed.

    Raises:
        WorkerSetupError: ``fiftyone`` is already imported in this process.
    """
    if "fiftyone" in sys.modules:
        raise WorkerSetupError(
            "the worker process imported fiftyone; each job must bind its own database in "
            "its work-horse, so the worker parent must not import it")

    url = stores.redis_url(settings)
    connection = redis.Redis.from_url(url)
    text_client = redis.Redis.from_url(url, decode_responses=True)
    store = JobStore(text_client, settings.job_record_ttl)
    worker = ServiceWorker(
        [Queue(settings.job_queue, connection=connection)], connection=connection, name=name,
        work_horse_killed_handler=HorseDeathHandler(store, text_client),
    )

    logger.info("Worker %s listening on queue %r%s", worker.name, settings.job_queue,
                " (burst)" if burst else "")
    return worker.work(burst=burst)
