"""Fixtures for job tests: settings on the session's stores, a job queue, worker processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pymongo
import pytest
import redis

from fiftyone_sync.jobs.queue import JobQueue
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential
from tests.jobs.helpers import TOKEN, WorkerProcess


@pytest.fixture()
def job_settings(redis_url: str, mongo_uri: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own queue name, a short lock TTL, a fixed secret."""
    return Settings(
        redis_url=redis_url, database_uri=mongo_uri, data_dir=tmp_path / "data",
        secret_key="job-tests-secret", job_queue=f"test-{uuid.uuid4().hex[:8]}",
        job_lock_ttl=2.0, job_lock_wait=60.0, database_default=f"jt{uuid.uuid4().hex[:6]}",
    )


@pytest.fixture()
def job_queue(job_settings: Settings) -> JobQueue:
    """The job queue of :func:`job_settings`."""
    return JobQueue(job_settings)


@pytest.fixture()
def credential() -> Credential:
    """The credential jobs are queued with."""
    return Credential("Token", TOKEN)


@pytest.fixture()
def mongo(mongo_uri: str) -> Iterator[pymongo.MongoClient]:
    """A plain pymongo client of the session's mongod."""
    client = pymongo.MongoClient(mongo_uri)
    yield client
    client.close()


@pytest.fixture()
def text_redis(redis_url: str) -> redis.Redis:
    """A decoding Redis client of the session's Redis."""
    return redis.Redis.from_url(redis_url, decode_responses=True)


@pytest.fixture()
def start_worker(job_settings: Settings,
                 tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts worker subprocesses on the test's queue; stops them all at the end."""
    workers: list[WorkerProcess] = []

    def start(burst: bool = False, settings: Settings | None = None) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        worker = WorkerProcess(settings or job_settings, log_path, burst)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
