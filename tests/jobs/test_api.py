"""``/sync``, ``/jobs`` and ``/versions`` over HTTP, against the Tator emulator."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import redis

from fiftyone_sync.api.app import create_app
from fiftyone_sync.jobs.queue import JobQueue
from fiftyone_sync.jobs.state import JobState
from fiftyone_sync.jobs.store import project_index_key
from fiftyone_sync.settings import Settings
from tests.fixtures.server import serving


@pytest.fixture()
def api_settings(job_settings: Settings, tator_emulator, redis_url: str) -> Settings:
    """The job settings, pointed at the emulator; the emulator projects' job lists emptied
    (other tests of the session queue jobs for project 1 too)."""
    redis.Redis.from_url(redis_url).delete(project_index_key(1), project_index_key(2))
    return job_settings.model_copy(update={"tator_url": tator_emulator.url})


@pytest.fixture()
def api(api_settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the API served on a free port."""
    with serving(create_app(api_settings)) as url, httpx.Client(base_url=url,
                                                                timeout=30) as client:
        yield client


@pytest.fixture()
def queue(api_settings: Settings) -> JobQueue:
    """The job queue the API submits to."""
    return JobQueue(api_settings)


def _auth(tator_emulator, user: str) -> dict[str, str]:
    return tator_emulator.headers(user)


def test_sync_refuses_callers_before_queueing_anything(
        api: httpx.Client, queue: JobQueue, tator_emulator) -> None:
    cases = [({}, 401), ({"Authorization": "Token " + "0" * 40}, 401),
             (_auth(tator_emulator, "dave"), 403), (_auth(tator_emulator, "carol"), 403)]
    for headers, status in cases:
        answer = api.post("/sync", params={"project_id": 1, "version_id": 1}, headers=headers)
        assert answer.status_code == status, (headers, answer.text)

    assert "View Only" in answer.json()["detail"]
    assert len(queue.rq_queue) == 0 and queue.recent(1, 10) == []


def test_sync_refuses_bad_names_and_foreign_versions(
        api: httpx.Client, queue: JobQueue, tator_emulator) -> None:
    bob = _auth(tator_emulator, "bob")
    cases = [
        ({"project_id": "x1", "version_id": 1}, "project id must be a positive integer"),
        ({"project_id": 1, "version_id": "v"}, "version id must be a positive integer"),
        ({"project_id": 1, "version_id": 1, "database_name": "fiftyone_project_2"},
         "is not allowed for project 1"),
        ({"project_id": 1, "version_id": 1, "database_name": "bad.name"},
         "forbidden characters"),
        ({"project_id": 1, "version_id": 3}, "version 3 is not a version of project 1"),
    ]
    for params, reason in cases:
        answer = api.post("/sync", params=params, headers=bob)
        assert answer.status_code == 422, (params, answer.text)
        assert reason in answer.json()["detail"]
    assert len(queue.rq_queue) == 0


def test_sync_queues_a_pull_that_jobs_endpoints_follow(
        api: httpx.Client, queue: JobQueue, api_settings: Settings, tator_emulator,
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bob, carol, dave = (_auth(tator_emulator, u) for u in ("bob", "carol", "dave"))
    answer = api.post("/sync", params={"project_id": 1, "version_id": 2, "force": "true"},
                      headers=bob)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    database = f"{api_settings.database_default}_1"
    assert body == {"job_id": body["job_id"], "status": "queued", "database_name": database,
                    "dataset": "tator-p1-v2", "port": api_settings.app_base_port + 1}
    job_id = body["job_id"]

    shown = api.get(f"/jobs/{job_id}", headers=carol)
    assert shown.status_code == 200
    record = shown.json()
    assert record["state"] == "queued" and record["kind"] == "pull"
    assert record["requested_by"] == "bob" and record["params"] == {"force": True}
    assert "credential" not in record and "body" not in record
    assert api.get(f"/jobs/{job_id}", headers=dave).status_code == 403
    assert api.get(f"/jobs/{job_id}").status_code == 401
    assert api.get(f"/jobs/{'0' * 32}", headers=bob).status_code == 404

    second = api.post("/sync", params={"project_id": 1, "version_id": 1}, headers=bob).json()
    listed = api.get("/jobs", params={"project_id": 1}, headers=carol).json()["jobs"]
    assert [job["id"] for job in listed] == [second["job_id"], job_id]
    assert api.get("/jobs", params={"project_id": 1}, headers=dave).status_code == 403

    assert api.post(f"/jobs/{job_id}/cancel", headers=carol).status_code == 403
    cancelled = api.post(f"/jobs/{job_id}/cancel", headers=bob)
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    assert api.post(f"/jobs/{job_id}/cancel", headers=bob).status_code == 409
    assert queue.get(second["job_id"]).state is JobState.QUEUED
    metrics = api.get("/metrics").text
    assert "fiftyone_sync_job_queue_length 1.0" in metrics
    assert 'fiftyone_sync_jobs_submitted_total{kind="pull"}' in metrics

    token = tator_emulator.tokens["bob"].encode()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter():
        assert token not in key
        if client.type(key) == b"hash":
            assert not [v for v in client.hgetall(key).values() if token in v], key
        elif client.type(key) == b"string":
            assert token not in (client.get(key) or b""), key
    assert tator_emulator.tokens["bob"] not in caplog.text


def test_a_job_of_another_project_is_not_shown(
        api: httpx.Client, tator_emulator) -> None:
    answer = api.post("/sync", params={"project_id": 2, "version_id": 3},
                      headers=_auth(tator_emulator, "dave"))
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]

    assert api.get(f"/jobs/{job_id}", headers=_auth(tator_emulator, "dave")).status_code == 200
    for user in ("alice", "bob", "carol"):
        refused = api.get(f"/jobs/{job_id}", headers=_auth(tator_emulator, user))
        assert refused.status_code == 403, (user, refused.text)
        cancel = api.post(f"/jobs/{job_id}/cancel", headers=_auth(tator_emulator, user))
        assert cancel.status_code == 403


def test_versions_lists_the_projects_versions(api: httpx.Client, tator_emulator) -> None:
    answer = api.get("/versions", params={"project_id": 1},
                     headers=_auth(tator_emulator, "carol"))
    assert answer.status_code == 200, answer.text
    versions = answer.json()
    assert [(v["id"], v["name"], v["number"]) for v in versions] == [
        (1, "Baseline", 0), (2, "Review", 1)]
    assert set(versions[0]) == {"id", "name", "number", "description"}

    assert api.get("/versions", params={"project_id": 1}).status_code == 401
    refused = api.get("/versions", params={"project_id": 1},
                      headers=_auth(tator_emulator, "dave"))
    assert refused.status_code == 403


def test_a_synced_version_is_pulled_by_a_worker(
        api: httpx.Client, queue: JobQueue, api_settings: Settings, tator_emulator,
        start_worker, mongo) -> None:
    answer = api.post("/sync", params={"project_id": 1, "version_id": 1},
                      headers=_auth(tator_emulator, "alice"))
    assert answer.status_code == 202, answer.text
    body = answer.json()

    worker = start_worker(burst=True, settings=api_settings)
    assert worker.wait(timeout=240) == 0
    final = api.get(f"/jobs/{body['job_id']}", headers=_auth(tator_emulator, "bob")).json()
    assert final["state"] == "succeeded", (final["error"], worker.log()[-3000:])
    assert final["result"]["samples"]["created"] > 0
    assert final["done"] == final["total"] or final["total"] is None

    datasets = mongo[body["database_name"]]["datasets"].distinct("name")
    assert body["dataset"] in datasets
    assert tator_emulator.tokens["alice"] not in worker.log()


def test_pulls_of_two_projects_in_one_worker_land_in_their_own_databases(
        api: httpx.Client, api_settings: Settings, tator_emulator, start_worker, mongo) -> None:
    first = api.post("/sync", params={"project_id": 1, "version_id": 1},
                     headers=_auth(tator_emulator, "alice")).json()
    second = api.post("/sync", params={"project_id": 2, "version_id": 3},
                      headers=_auth(tator_emulator, "dave")).json()

    worker = start_worker(burst=True, settings=api_settings)
    assert worker.wait(timeout=240) == 0

    for body, user in ((first, "alice"), (second, "dave")):
        final = api.get(f"/jobs/{body['job_id']}", headers=_auth(tator_emulator, user)).json()
        assert final["state"] == "succeeded", (final["error"], worker.log()[-3000:])
    assert first["database_name"] != second["database_name"]
    assert mongo[first["database_name"]]["datasets"].distinct("name") == [first["dataset"]]
    assert mongo[second["database_name"]]["datasets"].distinct("name") == [second["dataset"]]
    media = {}
    for body in (first, second):
        db = mongo[body["database_name"]]
        samples = db["datasets"].find_one({"name": body["dataset"]})["sample_collection_name"]
        media[body["dataset"]] = set(db[samples].distinct("tator_media_id"))
    assert len(media[second["dataset"]]) == 1 and len(media[first["dataset"]]) > 1
    assert not media[first["dataset"]] & media[second["dataset"]]
