"""The Fast-VSS client against the emulator: paths, errors, timeouts, per-item checks."""

from __future__ import annotations

import time

import pytest

from fiftyone_sync.embeddings.fastvss import (
    FastVSSClient,
    FastVSSError,
    FastVSSUnavailable,
    JobStatus,
    Timing,
    check_vectors,
)
from fiftyone_sync.emulators.fastvss import image_vector
from tests.embeddings.conftest import png

FAST = Timing(request=1.0, poll_interval=0.05, idle_gap=1.0, deadline=20.0)


def _items(count: int) -> list[tuple[str, bytes]]:
    return [(f"label-{index}", png(index)) for index in range(count)]


@pytest.fixture
def client(fastvss_emulator):
    with FastVSSClient(fastvss_emulator.url, timing=FAST, batch_size=4) as client:
        yield client


def test_health_and_projects(client, fastvss_emulator):
    assert client.health()["status"] == "ok"
    assert client.projects() == fastvss_emulator.projects


def test_embed_matches_vectors_by_name_under_shuffled_order(client, fastvss_emulator):
    fastvss_emulator.set(shuffle=True)
    items = _items(10)

    outcome = client.embed(fastvss_emulator.project, items)

    assert outcome.failures == {}
    assert outcome.batches == 3
    assert outcome.dimension == 768
    assert outcome.vectors == {key: image_vector(data) for key, data in items}


def test_older_path_found_once_and_remembered(client, fastvss_emulator):
    fastvss_emulator.set(old_paths_only=True)

    outcome = client.embed(fastvss_emulator.project, _items(12))

    assert len(outcome.vectors) == 12
    assert fastvss_emulator.state.calls["embed"] == 1
    assert fastvss_emulator.state.calls["embeddings"] == 3


def test_error_answers_raise_with_fastvss_message(client, fastvss_emulator):
    files = [(f"f{index}", png(index), "image/png") for index in range(33)]

    with pytest.raises(FastVSSError, match="Invalid project name nope"):
        client.submit_embed("nope", files[:1])
    with pytest.raises(FastVSSError, match="less than batch size 32"):
        client.submit_embed(fastvss_emulator.project, files)
    with pytest.raises(FastVSSError, match="Job ID abc does not exist in project"):
        client.poll("abc", fastvss_emulator.project)


def test_string_result_and_non_image_are_failed_jobs(client, fastvss_emulator):
    project = fastvss_emulator.project
    broken = client.submit_embed(project, [("x", b"not an image", "image/png")])

    state = client.poll(broken, project)

    assert state.status is JobStatus.FAILED
    assert "Error embedding images" in state.error

    fastvss_emulator.set(string_result="worker crashed")
    state = client.poll(client.submit_embed(project, [("y", png(1), "image/png")]), project)
    assert state.status is JobStatus.FAILED
    assert "worker crashed" in state.error


def test_long_pending_job_completes_past_the_idle_gap(client, fastvss_emulator):
    fastvss_emulator.set(job_delay=2.5)
    started = time.monotonic()

    outcome = client.embed(fastvss_emulator.project, _items(3))

    assert time.monotonic() - started > FAST.idle_gap * 2
    assert len(outcome.vectors) == 3 and outcome.failures == {}


def test_silent_fastvss_fails_the_job_after_the_idle_gap_not_the_deadline(
        client, fastvss_emulator):
    fastvss_emulator.set(poll_hang=30)
    started = time.monotonic()

    outcome = client.embed(fastvss_emulator.project, _items(2))

    assert time.monotonic() - started < FAST.deadline / 2
    assert outcome.vectors == {}
    assert outcome.failed_batches == 1
    assert all("idle timeout" in reason for reason in outcome.failures.values())


def test_total_deadline_fails_unfinished_jobs(fastvss_emulator):
    fastvss_emulator.set(job_delay=30)
    timing = Timing(request=1.0, poll_interval=0.05, idle_gap=10.0, deadline=1.0)

    with FastVSSClient(fastvss_emulator.url, timing=timing) as client:
        outcome = client.embed(fastvss_emulator.project, _items(2))

    assert outcome.vectors == {}
    assert all("total deadline" in reason for reason in outcome.failures.values())


def test_one_failing_batch_fails_only_its_own_keys(client, fastvss_emulator):
    fastvss_emulator.set(fail_batch=2)
    items = _items(10)

    outcome = client.embed(fastvss_emulator.project, items)

    assert outcome.failed_batches == 1
    assert set(outcome.failures) == {"label-4", "label-5", "label-6", "label-7"}
    assert set(outcome.vectors) == {key for key, _ in items} - set(outcome.failures)


def test_nan_short_zero_and_missing_vectors_are_refused_per_item(client, fastvss_emulator):
    fastvss_emulator.set(nan_vectors=1, missing_vectors=1)
    items = _items(4)

    outcome = client.embed(fastvss_emulator.project, items)

    assert outcome.failures == {
        "label-0": "the vector contains NaN or infinity",
        "label-3": "missing from Fast-VSS's result",
    }
    assert outcome.vectors == {key: image_vector(data) for key, data in items[1:3]}

    fastvss_emulator.set(nan_vectors=0, missing_vectors=0, short_vectors=1, zero_vectors=0)
    outcome = client.embed(fastvss_emulator.project, items, dimension=768)
    assert outcome.failures == {"label-0": "the vector has 767 values, expected 768"}
    assert len(outcome.vectors) == 3

    fastvss_emulator.set(short_vectors=0, zero_vectors=2)
    outcome = client.embed(fastvss_emulator.project, items[:2])
    assert outcome.failures == {"label-0": "the vector is all zeros",
                                "label-1": "the vector is all zeros"}


def test_dead_fastvss_fails_every_batch_without_waiting(client, fastvss_emulator):
    fastvss_emulator.stop()

    with pytest.raises(FastVSSUnavailable):
        client.health()
    started = time.monotonic()
    outcome = client.embed(fastvss_emulator.project, _items(10))

    assert time.monotonic() - started < 5
    assert outcome.vectors == {}
    assert len(outcome.failures) == 10
    assert all("unavailable" in reason or "unreachable" in reason
               for reason in outcome.failures.values())


def test_unmatchable_result_is_an_error():
    result = {"filenames": ["a", "b"], "embeddings": [[1.0]]}

    with pytest.raises(FastVSSError, match="2 file names but 1 vectors"):
        check_vectors(["a", "b"], result, 1)


def test_duplicate_and_unsafe_keys_are_refused(client, fastvss_emulator):
    with pytest.raises(ValueError, match="unique"):
        client.embed(fastvss_emulator.project, [("a", png(1)), ("a", png(2))])
    with pytest.raises(ValueError, match="unusable"):
        client.embed(fastvss_emulator.project, [("../a", png(1))])
