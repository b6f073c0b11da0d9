"""Job records, state moves and sealed credentials, without a worker."""

from __future__ import annotations

import pytest
from rq.job import Job

from fiftyone_sync.auth.secrets import CredentialCipher, SecretError
from fiftyone_sync.jobs.kinds import UnknownJobKind
from fiftyone_sync.jobs.progress import ThrottledProgress
from fiftyone_sync.jobs.queue import JobNotCancellable, JobQueue, new_record
from fiftyone_sync.jobs.state import JobState
from fiftyone_sync.tator.client import Credential
from tests.jobs.helpers import SLEEPY, TOKEN, submit


def test_a_sealed_credential_opens_only_with_its_key_and_while_fresh() -> None:
    credential = Credential("Bearer", TOKEN)
    sealed = CredentialCipher("key-one", max_age=60).encrypt(credential)
    assert TOKEN not in sealed

    assert CredentialCipher("key-one", max_age=60).decrypt(sealed) == credential
    with pytest.raises(SecretError, match="another deployment's secret key"):
        CredentialCipher("key-two", max_age=60).decrypt(sealed)
    with pytest.raises(SecretError):
        CredentialCipher("key-one", max_age=60).decrypt(sealed[:-4] + "AAAA")
    with pytest.raises(SecretError, match="expired"):
        CredentialCipher("key-one", max_age=-1).decrypt(sealed)


def test_state_moves_are_compare_and_set(job_queue: JobQueue, credential: Credential) -> None:
    record = submit(job_queue, credential)
    store = job_queue.store
    assert store.sealed_credential(record.id)

    assert not store.move(record.id, JobState.SUCCEEDED, result={})
    assert store.move(record.id, JobState.RUNNING)
    assert store.move(record.id, JobState.SUCCEEDED, result={"n": 1})
    assert not store.move(record.id, JobState.FAILED, error="late")

    final = store.get(record.id)
    assert final.state is JobState.SUCCEEDED and final.result == {"n": 1} and final.ended_at
    assert final.error is None and store.sealed_credential(record.id) is None
    with pytest.raises(JobNotCancellable):
        job_queue.cancel(record.id)


def test_a_queued_job_the_queue_lost_is_reported_failed(
        job_queue: JobQueue, credential: Credential) -> None:
    record = submit(job_queue, credential)
    Job.fetch(record.id, connection=job_queue.rq_queue.connection).delete()

    lost = job_queue.get(record.id)
    assert lost.state is JobState.FAILED and "the queue lost this job" in lost.error


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownJobKind, match="no job body is registered for kind 'nope'"):
        new_record("nope", 1, 1, "db_1", "tester")


def test_recent_jobs_are_listed_newest_first_and_bounded(
        job_queue: JobQueue, credential: Credential) -> None:
    ids = [submit(job_queue, credential, project=77).id for _ in range(4)]
    assert [r.id for r in job_queue.recent(77, 3)] == ids[::-1][:3]
    assert job_queue.recent(78, 3) == []


def test_progress_writes_are_throttled_but_the_last_one_lands(
        job_queue: JobQueue, credential: Credential, monkeypatch: pytest.MonkeyPatch) -> None:
    record = submit(job_queue, credential)
    writes: list[dict] = []
    real_update = job_queue.store.update

    def counting_update(job_id: str, **fields: object) -> None:
        writes.append(fields)
        real_update(job_id, **fields)

    monkeypatch.setattr(job_queue.store, "update", counting_update)
    progress = ThrottledProgress(job_queue.store, record.id, min_interval=10.0)
    for done in range(500):
        progress("listing", done, 500)
    progress("writing", 0, 3)
    progress("writing", 1, 3)
    progress.flush()

    assert len(writes) == 3
    final = job_queue.store.get(record.id)
    assert (final.phase, final.done, final.total) == ("writing", 1, 3)


def test_a_command_line_job_that_never_started_is_reported_failed(job_queue: JobQueue) -> None:
    fresh = new_record(SLEEPY, 1, 1, "db_1", "tester", runner="cli")
    stale = new_record(SLEEPY, 1, 1, "db_1", "tester", runner="cli")
    stale.created_at = "2020-01-01T00:00:00.000000+00:00"
    job_queue.store.create(fresh, sealed_credential=None)
    job_queue.store.create(stale, sealed_credential=None)

    assert job_queue.get(fresh.id).state is JobState.QUEUED
    lost = job_queue.get(stale.id)
    assert lost.state is JobState.FAILED and "stopped before the job started" in lost.error
