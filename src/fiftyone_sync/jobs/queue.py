"""Submitting, cancelling and reading jobs: what the API (and the CLI) call.

A submitted job is two things written in one Redis transaction: our record (see
:mod:`fiftyone_sync.jobs.state`) and an RQ job whose only argument is the job id, so the
queue payload carries no secret. The user's Tator credential travels sealed in the record.

Reading a job also reconciles it: a ``running`` job whose process died without a word (its
whole worker host went down) is recognised by its expired dataset lock, and a ``queued``
job that RQ lost or failed is recognised by RQ's status; both are marked ``failed`` with the
reason, so no record stays "running" forever.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Any

import redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from fiftyone_sync import naming, stores
from fiftyone_sync.auth.secrets import CredentialCipher
from fiftyone_sync.jobs import kinds, metrics
from fiftyone_sync.jobs.locks import lock_key
from fiftyone_sync.jobs.state import JobRecord, JobState
from fiftyone_sync.jobs.store import JobStore, utc_now
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)

RUN_JOB = "fiftyone_sync.jobs.runner.run_job"
"""The function RQ's work-horse calls with the job id."""

CREDENTIAL_MAX_AGE = 24 * 3600
"""A job that waited longer than this in the queue fails: its sealed credential expired."""

MAX_LIST = 100
"""The most jobs ``GET /jobs`` returns at once."""


class JobNotCancellable(Exception):
    """The job already ended."""


def credential_cipher(settings: Settings) -> CredentialCipher:
    """The cipher that seals job credentials for this deployment."""
    return CredentialCipher(settings.resolved_secret_key(), CREDENTIAL_MAX_AGE)


def new_record(kind: str, project_id: int, version_id: int, database_name: str,
               requested_by: str, params: dict[str, Any] | None = None,
               runner: str = "rq") -> JobRecord:
    """A fresh ``queued`` record for a job on one dataset.

    Raises:
        UnknownJobKind: no body is registered for ``kind``.
        NamingError: bad project or version id.
    """
    return JobRecord(
        id=uuid.uuid4().hex,
        kind=kind,
        body=kinds.body_path(kind),
        project_id=naming.validate_project_id(project_id),
        version_id=int(version_id),
        database_name=naming.validate_database_name(database_name),
        dataset=naming.dataset_name(project_id, version_id),
        params=dict(params or {}),
        requested_by=requested_by,
        created_at=utc_now(),
        runner=runner,
    )


class JobQueue:
    """The deployment's job queue, as the API sees it.

    Args:
        settings: the process settings (Redis, queue name, TTLs, secret key).
    """

    def __init__(self, settings: Settings) -> None:
        url = stores.redis_url(settings)
        self.settings = settings
        self.store = JobStore.from_url(url, settings.job_record_ttl)
        self._redis = redis.Redis.from_url(url)
        self._text_redis = redis.Redis.from_url(url, decode_responses=True)
        self.rq_queue = Queue(settings.job_queue, connection=self._redis)
        self._cipher = credential_cipher(settings)

    def submit(self, record: JobRecord, credential: Credential) -> JobRecord:
        """Queues ``record``'s job for a worker, with the user's credential sealed.

        Returns:
            The record as saved.
        """
        sealed = self._cipher.encrypt(credential)
        with self._redis.pipeline() as pipe:
            pipe.multi()
            self.store.create(record, sealed, pipeline=pipe)
            self.rq_queue.enqueue_call(
                RUN_JOB, args=(record.id,), job_id=record.id,
                timeout=self.settings.job_timeout,
                result_ttl=self.settings.job_record_ttl,
                failure_ttl=self.settings.job_record_ttl,
                description=f"{record.kind} job {record.id} (project {record.project_id}, "
                            f"version {record.version_id})",
                pipeline=pipe,
            )
            pipe.execute()

        metrics.SUBMITTED.labels(record.kind).inc()
        logger.info("Queued %s job %s for project %s version %s (database %s) by %s",
                    record.kind, record.id, record.project_id, record.version_id,
                    record.database_name, record.requested_by or "?")
        return record

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, reconciled with RQ and its lock; None if unknown."""
        record = self.store.get(job_id)
        if record is None or record.state.is_final:
            return record
        return self._reconcile(record)

    def recent(self, project_id: int, limit: int) -> list[JobRecord]:
        """The project's most recent jobs (at most ``limit``, capped), newest first."""
        records = self.store.recent(project_id, max(1, min(limit, MAX_LIST)))
        return [r if r.state.is_final else self._reconcile(r) for r in records]

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancels a job: at once if it is queued, cooperatively if it runs.

        Returns:
            The record after the request; None if the job is unknown.

        Raises:
            JobNotCancellable: the job already ended.
        """
        record = self.get(job_id)
        if record is None:
            return None
        if record.state.is_final:
            raise JobNotCancellable(f"job {job_id} already ended ({record.state.value})")

        self.store.request_cancel(job_id)
        metrics.CANCEL_REQUESTS.inc()
        cancelled = self.store.move(job_id, JobState.CANCELLED, only_from=(JobState.QUEUED,),
                                    error="cancelled by a user before it started",
                                    phase="cancelled")
        if cancelled:
            self._drop_from_rq(job_id)
        logger.info("Cancel requested for job %s (%s)", job_id,
                    "cancelled before it ran" if cancelled else "running; the body will stop")
        return self.store.get(job_id)

    def _drop_from_rq(self, job_id: str) -> None:
        """Removes a still-queued RQ job, so no worker even starts it."""
        try:
            job = Job.fetch(job_id, connection=self._redis)
            if job.get_status() == JobStatus.QUEUED:
                job.cancel()
        except (NoSuchJobError, InvalidJobOperation) as exc:
            logger.debug("RQ job %s not cancelled: %s", job_id, exc)

    def _reconcile(self, record: JobRecord) -> JobRecord:
        """Marks a job ``failed`` when the process that ran it is gone (see module doc)."""
        reason = self._lost_reason(record)
        if reason is None:
            return record

        if self.store.move(record.id, JobState.FAILED, only_from=(record.state,), error=reason):
            logger.warning("Job %s (%s, project %s) failed: %s", record.id, record.kind,
                           record.project_id, reason)
        return self.store.get(record.id) or record

    def _lost_reason(self, record: JobRecord) -> str | None:
        """Why ``record``'s job can no longer finish, or None if it still can."""
        if record.state is JobState.RUNNING:
            holder = self._text_redis.get(
                lock_key(record.database_name, record.project_id, record.version_id))
            if holder == record.id:
                return None
            return (f"the worker running this job stopped answering (no heartbeat for "
                    f"{self.settings.job_lock_ttl:.0f} s); run the job again")

        if record.runner != "rq":
            return self._stale_foreground_reason(record)
        try:
            status = Job.fetch(record.id, connection=self._redis).get_status()
        except NoSuchJobError:
            return "the queue lost this job (was Redis restarted?); run the job again"
        if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            return f"the worker gave up on this job before it started (RQ status {status.value})"
        return None

    def _stale_foreground_reason(self, record: JobRecord) -> str | None:
        """A command-line job still ``queued`` after its longest possible lock wait died."""
        created = datetime.datetime.fromisoformat(record.created_at)
        age = (datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()
        if age <= self.settings.job_lock_wait + 2 * self.settings.job_lock_ttl:
            return None
        return "the command that ran this job stopped before the job started; run it again"
