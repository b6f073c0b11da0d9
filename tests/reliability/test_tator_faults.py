"""Tator failing under the service: token checks answer 503 and are not cached; a pull
through a real worker whose Tator drops connections fails with its cause, leaves the
dataset as it was and its lock free, and the re-run succeeds.

A worker killed mid-job is covered by
``tests/jobs/test_locks_and_crashes.py::test_a_killed_work_horse_fails_its_job_and_frees_the_lock``
and a listing failing halfway by
``tests/dataset/test_pull.py::test_listing_that_fails_halfway_fails_the_pull_and_changes_nothing``.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pymongo

from fiftyone_sync import naming
from fiftyone_sync.settings import Settings
from tests.jobs.helpers import WorkerProcess


def test_a_failing_tator_gives_503_and_the_failure_is_not_cached(
        api: httpx.Client, tator_emulator) -> None:
    bob = tator_emulator.headers("bob")
    tator_emulator.faults.add("GetProject", status=500, times=1)

    failed = api.get("/versions", params={"project_id": 1}, headers=bob)
    assert failed.status_code == 503 and "HTTP 500" in failed.json()["detail"]

    tator_emulator.faults.add("GetProject", drop=True, times=1)
    dropped = api.get("/versions", params={"project_id": 1}, headers=bob)
    assert dropped.status_code == 503 and "unreachable" in dropped.json()["detail"]

    assert api.get("/versions", params={"project_id": 1}, headers=bob).status_code == 200


def _samples(settings: Settings, mongo_uri: str, dataset: str) -> list[dict]:
    """Every sample document of ``dataset``, read with plain pymongo."""
    with pymongo.MongoClient(mongo_uri) as client:
        database = client[naming.database_name(1, settings)]
        info = database["datasets"].find_one({"name": dataset})
        assert info is not None, f"no dataset {dataset}"
        return list(database[info["sample_collection_name"]].find({}, sort=[("_id", 1)]))


def test_a_pull_whose_tator_drops_connections_fails_cleanly_and_reruns(
        api: httpx.Client, sec_settings: Settings, tator_emulator, mongo_uri: str,
        tmp_path: Path) -> None:
    alice = tator_emulator.headers("alice")
    sync = {"project_id": 1, "version_id": 1, "force": True}
    settings = sec_settings.model_copy(update={"embed_after_pull": False})
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    try:
        first = _run(api, sync, alice)
        assert first["state"] == "succeeded", first
        dataset = naming.dataset_name(1, 1)
        before = _samples(settings, mongo_uri, dataset)

        for loc_id in (1, 2, 3):
            tator_emulator.store.delete_localization(loc_id, user="bob")
        tator_emulator.faults.add("GetLocalizationList", drop=True)
        broken = _run(api, sync, alice)
        assert broken["state"] == "failed", broken
        assert broken["error"], broken
        assert _samples(settings, mongo_uri, dataset) == before

        tator_emulator.faults.clear()
        started = time.monotonic()
        again = _run(api, sync, alice)
        assert again["state"] == "succeeded", again
        assert time.monotonic() - started < settings.job_lock_wait
    finally:
        worker.stop()
    assert tator_emulator.tokens["alice"] not in worker.log()


def _run(api: httpx.Client, params: dict, headers: dict[str, str],
         timeout: float = 240.0) -> dict:
    """Queues a pull and waits for its final record."""
    queued = api.post("/sync", params=params, headers=headers)
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = api.get(f"/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")
