"""Dataset locks across workers, and jobs whose process dies mid-way."""

from __future__ import annotations

import os
import signal
import time

import pymongo
import redis

from fiftyone_sync import naming
from fiftyone_sync.jobs.locks import DatasetLock, lock_key
from fiftyone_sync.jobs.queue import JobQueue
from fiftyone_sync.jobs.state import JobState
from fiftyone_sync.tator.client import Credential
from tests.fixtures.net import wait_until
from tests.jobs.bodies import RUNS
from tests.jobs.helpers import submit, wait_final, wait_for


def test_two_jobs_on_one_dataset_never_overlap(
        job_queue: JobQueue, credential: Credential, start_worker,
        mongo: pymongo.MongoClient) -> None:
    first = submit(job_queue, credential, project=3, version=7, steps=6, delay=0.2)
    second = submit(job_queue, credential, project=3, version=7, steps=6, delay=0.2)
    start_worker()
    start_worker()

    waiting = wait_for(job_queue, second.id, lambda r: r.phase.startswith("waiting for job"),
                       what="the second job to wait for the lock")
    assert waiting.state is JobState.QUEUED and first.id in waiting.phase

    assert wait_final(job_queue, first.id).state is JobState.SUCCEEDED
    assert wait_final(job_queue, second.id).state is JobState.SUCCEEDED
    runs = {run["job_id"]: run for run in mongo[first.database_name][RUNS].find()}
    a, b = runs[first.id], runs[second.id]
    assert a["ended"] <= b["started"] or b["ended"] <= a["started"], (a, b)


def test_a_lock_is_released_only_by_its_owner_and_expires(text_redis: redis.Redis) -> None:
    mine = DatasetLock(text_redis, "locktest", 90, 1, "job-a", ttl=0.5)
    key = lock_key("locktest", 90, 1)
    theirs = DatasetLock(text_redis, "locktest", 90, 1, "job-b", ttl=0.5)
    assert mine.try_acquire() and not theirs.try_acquire()
    assert not theirs.release()
    assert text_redis.get(key) == "job-a"

    wait_until(lambda: text_redis.get(key) is None, timeout=5, what="expiry")
    assert theirs.try_acquire()
    theirs.start_heartbeat()
    time.sleep(1.5)
    assert text_redis.get(key) == "job-b", "the heartbeat must renew the lock"
    assert not mine.try_acquire()
    assert theirs.release() and text_redis.get(key) is None


def test_a_killed_work_horse_fails_its_job_and_frees_the_lock(
        job_queue: JobQueue, credential: Credential, start_worker,
        text_redis: redis.Redis) -> None:
    doomed = submit(job_queue, credential, project=4, version=2, steps=300, delay=0.1)
    worker = start_worker()
    running = wait_for(job_queue, doomed.id, lambda r: r.done >= 2, what="the job to run")
    assert text_redis.get(lock_key(doomed.database_name, 4, 2)) == doomed.id

    os.kill(running.pid, signal.SIGKILL)
    final = wait_final(job_queue, doomed.id)
    assert final.state is JobState.FAILED
    assert "killed by signal 9 (SIGKILL)" in final.error and str(running.pid) in final.error
    key = lock_key(doomed.database_name, 4, 2)
    wait_until(lambda: text_redis.get(key) is None, timeout=10, what="a free lock")

    after = submit(job_queue, credential, project=4, version=2, steps=2, delay=0.05)
    assert wait_final(job_queue, after.id).state is JobState.SUCCEEDED
    assert worker.process.poll() is None, "the worker itself survives its horse"


def test_a_job_whose_whole_worker_died_fails_once_its_lock_expires(
        job_queue: JobQueue, credential: Credential, start_worker,
        text_redis: redis.Redis) -> None:
    doomed = submit(job_queue, credential, project=5, version=1, steps=300, delay=0.1)
    worker = start_worker()
    running = wait_for(job_queue, doomed.id, lambda r: r.done >= 2, what="the job to run")

    worker.process.kill()
    worker.process.wait(timeout=10)
    os.kill(running.pid, signal.SIGKILL)
    assert job_queue.get(doomed.id).state is JobState.RUNNING, "the lock has not expired yet"

    final = wait_final(job_queue, doomed.id, timeout=20)
    assert final.state is JobState.FAILED
    assert "stopped answering" in final.error
    assert text_redis.get(lock_key(doomed.database_name, 5, 1)) is None

    after = submit(job_queue, credential, project=5, version=1, steps=1)
    start_worker(burst=True).wait(timeout=120)
    assert job_queue.get(after.id).state is JobState.SUCCEEDED


def test_a_starting_worker_leaves_other_workers_locks_alone(
        job_queue: JobQueue, credential: Credential, start_worker,
        text_redis: redis.Redis) -> None:
    """A lock held by a job of another worker survives a new worker's whole life: start-up,
    a job on another dataset, and exit."""
    database = naming.database_name(6, job_queue.settings)
    held = DatasetLock(text_redis, database, 6, 1, "job-of-another-worker", ttl=120)
    assert held.try_acquire()
    try:
        other = submit(job_queue, credential, project=6, version=2, steps=1)

        assert start_worker(burst=True).wait(timeout=120) == 0

        assert job_queue.get(other.id).state is JobState.SUCCEEDED
        assert text_redis.get(lock_key(database, 6, 1)) == "job-of-another-worker"
        assert text_redis.pttl(lock_key(database, 6, 1)) > 60_000
    finally:
        held.release()
