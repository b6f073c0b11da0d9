"""A job's life through real worker processes: progress, success, failure, cancellation."""

from __future__ import annotations

import hashlib

import pymongo

from fiftyone_sync.jobs.queue import JobQueue
from fiftyone_sync.jobs.state import JobState
from fiftyone_sync.tator.client import Credential
from tests.jobs.bodies import RUNS
from tests.jobs.helpers import TOKEN, submit, wait_final, wait_for


def test_job_goes_queued_running_succeeded_with_progress(
        job_queue: JobQueue, credential: Credential, start_worker, mongo: pymongo.MongoClient
) -> None:
    record = submit(job_queue, credential, steps=8, delay=0.3)
    assert job_queue.get(record.id).state is JobState.QUEUED

    start_worker()
    running = wait_for(job_queue, record.id,
                       lambda r: r.state is JobState.RUNNING and r.done >= 1, what="progress")
    assert running.phase == "sleeping" and running.total == 8
    assert running.started_at and running.pid

    final = wait_final(job_queue, record.id)
    assert final.state is JobState.SUCCEEDED, final.error
    assert final.result == {"steps": 8,
                            "credential_sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}
    assert final.done == 8 and final.ended_at and final.error is None
    assert final.requested_by == "tester"

    run = mongo[record.database_name][RUNS].find_one({"job_id": record.id})
    assert run["done"] == 8 and run["database_env"] == record.database_name


def test_a_raising_body_fails_the_job_with_its_reason(
        job_queue: JobQueue, credential: Credential, start_worker) -> None:
    record = submit(job_queue, credential, steps=5, delay=0.05, fail=2)
    worker = start_worker(burst=True)
    assert worker.wait(timeout=120) == 0

    final = job_queue.get(record.id)
    assert final.state is JobState.FAILED
    assert final.error == "ValueError: the test body failed on purpose at step 2"
    assert final.result is None
    assert "failed on purpose" in worker.log()


def test_a_queued_job_is_cancelled_without_running(
        job_queue: JobQueue, credential: Credential, start_worker,
        mongo: pymongo.MongoClient) -> None:
    record = submit(job_queue, credential, steps=2)
    cancelled = job_queue.cancel(record.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.cancel_requested

    later = submit(job_queue, credential, steps=1)
    assert start_worker(burst=True).wait(timeout=120) == 0

    assert job_queue.get(record.id).state is JobState.CANCELLED
    assert job_queue.get(later.id).state is JobState.SUCCEEDED
    assert mongo[record.database_name][RUNS].find_one({"job_id": record.id}) is None
    assert len(job_queue.rq_queue) == 0


def test_a_running_job_stops_when_cancelled(
        job_queue: JobQueue, credential: Credential, start_worker,
        mongo: pymongo.MongoClient) -> None:
    record = submit(job_queue, credential, steps=200, delay=0.1)
    start_worker()
    wait_for(job_queue, record.id, lambda r: r.done >= 2, what="the job to run")

    answer = job_queue.cancel(record.id)
    assert answer.cancel_requested

    final = wait_final(job_queue, record.id)
    assert final.state is JobState.CANCELLED
    assert final.error == "cancelled by a user while running"
    run = mongo[record.database_name][RUNS].find_one({"job_id": record.id})
    assert run["done"] < 200 and "ended" in run
