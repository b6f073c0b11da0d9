"""Runs one job in the current process: bind the database, lock the dataset, call the body.

:func:`run_job` is what RQ's work-horse calls (a fresh forked process per job);
:func:`execute` is the shared core, also used by ``fiftyone-sync pull`` in a terminal. This
module must not import ``fiftyone``: the worker parent may load it, and the database is
bound (:func:`~fiftyone_sync.jobs.binding.bind_database`) before the body's module loads.

Every way out of :func:`execute` leaves the record in a final state: ``succeeded`` with the
body's result, ``cancelled``, or ``failed`` with a readable error. A process killed outright
is recorded by the worker parent (:mod:`fiftyone_sync.jobs.worker`) or, failing that, by
the reconciliation in :mod:`fiftyone_sync.jobs.queue`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
from typing import Any

import redis

from fiftyone_sync import stores
from fiftyone_sync.auth.secrets import SecretError
from fiftyone_sync.jobs.binding import bind_database
from fiftyone_sync.jobs.context import JobCancelled, JobContext
from fiftyone_sync.jobs.kinds import load_body
from fiftyone_sync.jobs.locks import DatasetLock, LockTimeout
from fiftyone_sync.jobs.progress import CancelFlag, ProgressHook, ThrottledProgress
from fiftyone_sync.jobs.queue import credential_cipher
from fiftyone_sync.jobs.state import JobRecord, JobState
from fiftyone_sync.jobs.store import JobStore, utc_now
from fiftyone_sync.logging_setup import redact_text
from fiftyone_sync.settings import Settings, get_settings
from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)


class JobRecordMissing(LookupError):
    """RQ started a job whose record is gone (expired, or Redis lost it)."""


class JobFailed(RuntimeError):
    """Raised to RQ after the record was marked failed, so RQ agrees the job failed."""


def run_job(job_id: str) -> None:
    """RQ's entry point in the work-horse: runs job ``job_id`` from its record.

    Raises:
        JobRecordMissing: the record is gone.
        JobFailed: the job failed (its record says why).
    """
    settings = get_settings()
    store = JobStore.from_url(stores.redis_url(settings), settings.job_record_ttl)
    record = store.get(job_id)
    if record is None:
        raise JobRecordMissing(f"job {job_id} has no record; it expired or Redis lost it")
    if record.state is not JobState.QUEUED:
        logger.info("Job %s is %s; not running it", job_id, record.state.value)
        return

    try:
        credential = credential_cipher(settings).decrypt(store.sealed_credential(job_id) or "")
    except SecretError as exc:
        store.move(job_id, JobState.FAILED, error=str(exc))
        raise JobFailed(str(exc)) from None

    bind_database(settings, record.database_name)
    final = execute(store, record, settings, credential)
    if final.state is JobState.FAILED:
        raise JobFailed(final.error or "the job failed")


def execute(store: JobStore, record: JobRecord, settings: Settings, credential: Credential,
            hook: ProgressHook | None = None) -> JobRecord:
    """Runs ``record``'s job here, under its dataset's lock, and records how it ended.

    The caller has bound this process to ``record.database_name`` already.

    Args:
        store: the job store.
        record: a ``queued`` job.
        settings: the process settings (lock TTL and wait).
        credential: the Tator identity the body acts as.
        hook: also receives every progress report (for a terminal's progress bar).

    Returns:
        The final record.
    """
    client = redis.Redis.from_url(stores.redis_url(settings), decode_responses=True)
    lock = DatasetLock(client, record.database_name, record.project_id, record.version_id,
                       record.id, settings.job_lock_ttl)
    cancel = CancelFlag(store, record.id, extra=lock.lost.is_set)
    store.update(record.id, worker=_worker_name(), pid=os.getpid())

    def show_holder(holder: str) -> None:
        store.update(record.id, phase=f"waiting for job {holder} to finish with this dataset")
        logger.info("Job %s waits for job %s to release %s", record.id, holder, lock.key)

    try:
        acquired = lock.acquire(settings.job_lock_wait, on_wait=show_holder, should_stop=cancel)
    except LockTimeout as exc:
        store.move(record.id, JobState.FAILED, error=str(exc))
        logger.error("Job %s (%s) failed: %s", record.id, record.kind, exc)
        return _final(store, record)

    if not acquired:
        store.move(record.id, JobState.CANCELLED, error="cancelled by a user before it started")
        return _final(store, record)

    lock.start_heartbeat()
    try:
        _run_body(store, record, settings, credential, cancel, lock, hook)
    finally:
        lock.release()
    return _final(store, record)


def _run_body(store: JobStore, record: JobRecord, settings: Settings, credential: Credential,
              cancel: CancelFlag, lock: DatasetLock, hook: ProgressHook | None) -> None:
    """Moves the job to ``running``, calls its body and records the outcome."""
    if not store.move(record.id, JobState.RUNNING, started_at=utc_now(), phase="starting"):
        logger.info("Job %s was cancelled before it started", record.id)
        return

    logger.info("Job %s (%s) started: project %s, version %s, database %s", record.id,
                record.kind, record.project_id, record.version_id, record.database_name)
    progress = ThrottledProgress(store, record.id, hook=hook)
    context = JobContext(
        job_id=record.id, project_id=record.project_id, database_name=record.database_name,
        settings=settings, credential=credential, report=progress, is_cancelled=cancel,
        version_id=record.version_id, dataset_name=record.dataset)
    started = time.monotonic()

    try:
        result = _plain_result(load_body(record.body)(context, dict(record.params)))
    except JobCancelled:
        progress.flush()
        _record_cancelled(store, record, lock, time.monotonic() - started)
        return
    except KeyboardInterrupt:
        store.move(record.id, JobState.CANCELLED, error="interrupted in the terminal")
        raise
    except Exception as exc:  # any failure of the body ends the job failed, with its cause
        progress.flush()
        error = describe_error(exc)
        _fail(store, record, error)
        logger.error("Job %s (%s, project %s) failed after %.1f s: %s", record.id, record.kind,
                     record.project_id, time.monotonic() - started, error, exc_info=exc)
        return

    progress.flush()
    _record_success(store, record, result, time.monotonic() - started)


def _record_success(store: JobStore, record: JobRecord, result: dict[str, Any],
                    seconds: float) -> None:
    """Ends a body that returned, unless its record already ended (e.g. lock lost)."""
    if not store.move(record.id, JobState.SUCCEEDED, result=result, phase="done"):
        logger.warning("Job %s finished, but its record had already ended (%s)", record.id,
                       _final(store, record).state.value)
        return
    logger.info("Job %s (%s, project %s, version %s) succeeded in %.1f s: %s", record.id,
                record.kind, record.project_id, record.version_id, seconds, _counts(result))


def _record_cancelled(store: JobStore, record: JobRecord, lock: DatasetLock,
                      seconds: float) -> None:
    """Ends a body that stopped on request, or because its lock was lost."""
    if lock.lost.is_set():
        error = "the job lost its dataset lock (Redis unreachable or restarted); run it again"
        _fail(store, record, error)
        logger.error("Job %s (%s) failed after %.1f s: %s", record.id, record.kind, seconds,
                     error)
        return

    store.move(record.id, JobState.CANCELLED, error="cancelled by a user while running")
    logger.info("Job %s (%s) cancelled after %.1f s", record.id, record.kind, seconds)


def _fail(store: JobStore, record: JobRecord, error: str) -> None:
    """Ends the running job ``failed``; writes its record back if Redis lost it (a restart
    of a Redis that keeps nothing), so ``GET /jobs/{id}`` says why the job ended rather
    than "unknown job"."""
    if store.move(record.id, JobState.FAILED, error=error) or store.get(record.id):
        return
    store.create(dataclasses.replace(
        record, state=JobState.FAILED, error=error, phase="failed", ended_at=utc_now(),
        worker=_worker_name(), pid=os.getpid()), None)
    logger.warning("Job %s's record was lost with Redis; wrote it back as failed", record.id)


def describe_error(exc: BaseException) -> str:
    """A one-line, secret-free account of why a job body failed."""
    message = str(exc).strip() or "no details"
    return redact_text(f"{type(exc).__name__}: {message}")


def _plain_result(result: Any) -> dict[str, Any]:
    """The body's result as plain JSON values (datetimes and the like as strings)."""
    if not isinstance(result, dict):
        raise TypeError(f"the job body returned {type(result).__name__}, not a dict")
    return json.loads(json.dumps(result, default=str))


def _counts(result: dict[str, Any]) -> str:
    """The numbers of a result (one level of nesting flattened), for the log line."""
    numbers: list[str] = []
    for key, value in result.items():
        inner = value.items() if isinstance(value, dict) else [("", value)]
        for name, number in inner:
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                numbers.append(f"{key}.{name}={number}" if name else f"{key}={number}")
    return ", ".join(numbers) or "no counts"


def _final(store: JobStore, record: JobRecord) -> JobRecord:
    return store.get(record.id) or record


def _worker_name() -> str:
    return os.environ.get("RQ_WORKER_ID") or f"{socket.gethostname()}:{os.getpid()}"
