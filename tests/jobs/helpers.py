"""Helpers for job tests: test job kinds, worker subprocesses, submitting and waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from fiftyone_sync import naming
from fiftyone_sync.jobs import kinds
from fiftyone_sync.jobs.queue import JobQueue, new_record
from fiftyone_sync.jobs.state import JobRecord
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("fiftyone-sync")
SLEEPY = "test_sleepy"
FIFTYONE_KIND = "test_fiftyone"
TOKEN = "t0k3n-" + uuid.uuid4().hex
"""The Tator token the job tests queue with; it must never show in Redis or in logs."""

kinds.register_body(SLEEPY, "tests.jobs.bodies:sleepy")
kinds.register_body(FIFTYONE_KIND, "tests.jobs.bodies:with_fiftyone")


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a worker subprocess for ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FIFTYONE_", "REDIS_URL"))}
    env.update({
        "REDIS_URL": settings.redis_url or "",
        "FIFTYONE_DATABASE_URI": settings.database_uri or "",
        "FIFTYONE_DATABASE_DEFAULT": settings.database_default,
        "FIFTYONE_SYNC_DATA_DIR": str(settings.data_dir),
        "FIFTYONE_SYNC_SECRET_KEY": settings.secret_key or "",
        "FIFTYONE_SYNC_JOB_QUEUE": settings.job_queue,
        "FIFTYONE_SYNC_JOB_LOCK_TTL": str(settings.job_lock_ttl),
        "FIFTYONE_SYNC_JOB_LOCK_WAIT": str(settings.job_lock_wait),
        "FIFTYONE_SYNC_TATOR_URL": settings.tator_url,
        "PYTHONPATH": str(REPO),
        "FIFTYONE_DO_NOT_TRACK": "true",
    })
    return env


def stop_gently(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERMs ``process`` (a worker's warm shutdown), then kills it if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class WorkerProcess:
    """A ``fiftyone-sync worker`` subprocess whose output goes to a log file."""

    def __init__(self, settings: Settings, log_path: Path, burst: bool = False) -> None:
        self.log_path = log_path
        command = [str(CLI), "worker"] + (["--burst"] if burst else [])
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(command, env=worker_env(settings), cwd=REPO,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        """Everything the worker wrote so far."""
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        """Waits for a burst worker to exit; returns its exit status."""
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Asks the worker to stop (warm shutdown), then kills it if it lingers."""
        stop_gently(self.process)
        self._log.close()


def submit(queue: JobQueue, credential: Credential, kind: str = SLEEPY, project: int = 1,
           version: int = 1, **params: object) -> JobRecord:
    """Queues a test job on project ``project``'s own database."""
    database = naming.database_name(project, queue.settings)
    record = new_record(kind, project, version, database, "tester", params=dict(params))
    return queue.submit(record, credential)


def wait_for(queue: JobQueue, job_id: str, check: Callable[[JobRecord], bool],
             timeout: float = 60.0, what: str = "job state") -> JobRecord:
    """Polls the job's record until ``check`` accepts it; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    record = queue.get(job_id)
    while time.monotonic() < deadline:
        record = queue.get(job_id)
        if record is not None and check(record):
            return record
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last record: {record}")


def wait_final(queue: JobQueue, job_id: str, timeout: float = 60.0) -> JobRecord:
    """Waits for the job to reach a final state."""
    return wait_for(queue, job_id, lambda r: r.state.is_final, timeout, "a final state")
