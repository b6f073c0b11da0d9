"""What an operator reads and does: ``/ready`` reports each store and the disk, ``/metrics``
counts requests by route template (bounded labels, no ids or tokens) and jobs by kind, and
``DELETE /datasets`` removes a dataset, its sync state and its media through a worker job."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pymongo
import pytest

from fiftyone_sync import naming
from fiftyone_sync.dataset import media_lock
from fiftyone_sync.dataset.sync_state import COLLECTION
from fiftyone_sync.settings import Settings
from tests.jobs.helpers import WorkerProcess
from tests.reliability import service as s


def test_ready_reports_stores_disk_and_fastvss(api: httpx.Client) -> None:
    answer = api.get("/ready")
    checks = answer.json()["checks"]

    assert answer.status_code == 200, answer.text
    assert set(checks) == {"mongodb", "redis", "disk", "fastvss"}
    assert checks["disk"]["ok"] and re.search(r"[\d.]+ GiB free at /", checks["disk"]["detail"])
    assert checks["fastvss"]["ok"] is False and checks["fastvss"]["required"] is False


def test_metrics_count_jobs_and_routes_without_ids_or_tokens(api: httpx.Client,
                                                             tator_emulator) -> None:
    alice = tator_emulator.headers("alice")
    job_id = api.post("/sync", params={"project_id": 1, "version_id": 1},
                      headers=alice).json()["job_id"]
    assert api.get(f"/jobs/{job_id}", headers=alice).status_code == 200
    api.get("/jobs/" + "f" * 32, headers=alice)

    text = api.get("/metrics").text
    submitted = re.search(r'fiftyone_sync_jobs_submitted_total\{kind="pull"\} (\d+)', text)
    assert submitted and float(submitted.group(1)) >= 1
    assert "fiftyone_sync_job_queue_length" in text
    assert re.search(r'fiftyone_sync_http_requests_total\{method="GET",'
                     r'route="/jobs/\{job_id\}",status="200"\}', text)
    assert job_id not in text and "f" * 32 not in text
    assert tator_emulator.tokens["alice"] not in text


def _run(api: httpx.Client, method: str, path: str, params: dict,
         headers: dict[str, str], timeout: float = 240.0) -> dict:
    """Queues a job through the API and waits for its final record."""
    queued = api.request(method, path, params=params, headers=headers)
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


def test_delete_dataset_needs_full_control_and_removes_dataset_sync_state_and_media(
        api: httpx.Client, sec_settings: Settings, tator_emulator, mongo_uri: str,
        tmp_path: Path) -> None:
    alice = tator_emulator.headers("alice")
    target = {"project_id": 1, "version_id": 1}
    dataset = naming.dataset_name(1, 1)
    database = pymongo.MongoClient(mongo_uri)[naming.database_name(1, sec_settings)]
    worker = WorkerProcess(sec_settings, tmp_path / "worker.log")
    try:
        assert _run(api, "POST", "/sync", target, alice)["state"] == "succeeded"
        assert database["datasets"].count_documents({"name": dataset}) == 1
        assert database[COLLECTION].count_documents({"dataset": dataset}) > 0
        cached = [p.stat().st_size for p in (sec_settings.media_dir / "p1").rglob("*")
                  if p.is_file()]
        assert len(cached) == 6

        refused = api.delete("/datasets", params=target, headers=tator_emulator.headers("bob"))
        assert refused.status_code == 403 and "Full Control" in refused.json()["detail"]

        deleted = _run(api, "DELETE", "/datasets", target, alice)
        assert deleted["state"] == "succeeded", deleted
        assert deleted["result"] == {
            "dataset": dataset, "deleted": True, "cache_files_removed": 6,
            "cache_bytes_removed": sum(cached)}
        assert database["datasets"].count_documents({"name": dataset}) == 0
        assert database[COLLECTION].count_documents({"dataset": dataset}) == 0
        assert not (sec_settings.media_dir / "p1").exists()

        assert _run(api, "POST", "/sync", target, alice)["state"] == "succeeded"
        assert database["datasets"].count_documents({"name": dataset}) == 1
    finally:
        worker.stop()
        database.client.close()


@pytest.mark.slow
def test_a_deletion_waits_for_another_versions_first_pull_and_keeps_every_file_it_uses(
        fault_api: httpx.Client, fault_settings: Settings, tator_emulator,
        start_worker) -> None:
    """The race the media cache lock exists for: version 2's first pull finds version 1's
    cached images and, before it records them, version 1 is deleted. Tator answers every
    localization page of version 2 after a second, so the pull is still listing when the
    deletion (in a second worker) wants the cache; the deletion waits, then removes only
    the video frames that version 1 alone showed."""
    alice = tator_emulator.headers("alice")
    tator_emulator.api("alice").create_localization_list(1, body=[
        {"media_id": media, "type": 1, "version": 2, "frame": 0, "x": 0.05 * i, "y": 0.1,
         "width": 0.04, "height": 0.04, "attributes": {"Label": "Salp"}}
        for media in (1, 2, 3) for i in range(7)])
    for _ in range(2):
        start_worker(fault_settings, FIFTYONE_SYNC_LISTING_PAGE_SIZE="1")
    assert s.pull(fault_api, alice)["state"] == "succeeded"
    v1_files = _cached_files(fault_settings)
    assert len(v1_files) == 6

    tator_emulator.faults.add("GetLocalizationList", latency=1.0)
    pull_v2 = s.queue(fault_api, "/sync", alice, version_id=2)
    s.wait_job(fault_api, pull_v2, alice, until=lambda job: job["phase"] == "listing")
    queued = fault_api.delete("/datasets", params={"project_id": 1, "version_id": 1},
                              headers=alice)
    assert queued.status_code == 202, queued.text
    deletion = queued.json()["job_id"]
    s.wait_job(fault_api, deletion, alice,
               until=lambda job: job["phase"] == media_lock.WAITING_PHASE)
    assert s.job(fault_api, pull_v2, alice)["state"] == "running"

    pulled = s.wait_job(fault_api, pull_v2, alice)
    deleted = s.wait_job(fault_api, deletion, alice)

    assert pulled["state"] == deleted["state"] == "succeeded", (pulled, deleted)
    assert deleted["result"]["cache_files_removed"] == 3
    assert deleted["ended_at"] >= pulled["ended_at"]
    with pymongo.MongoClient(fault_settings.database_uri) as client:
        database = client[naming.database_name(1, fault_settings)]
        v2_samples = database["datasets"].find_one({"name": naming.dataset_name(1, 2)})
        shown = {doc["filepath"] for doc in
                 database[v2_samples["sample_collection_name"]].find({}, {"filepath": 1})}
    assert len(shown) == 3 and shown == _cached_files(fault_settings) < v1_files


def _cached_files(settings: Settings) -> set[str]:
    return {str(p) for p in (settings.media_dir / "p1").rglob("*") if p.is_file()}
