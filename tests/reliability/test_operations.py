"""What an operator reads and does: ``/ready`` reports each store and the disk, ``/metrics``
counts requests by route template (bounded labels, no ids or tokens) and jobs by kind, and
``DELETE /datasets`` removes a dataset through a worker job."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pymongo

from fiftyone_sync import naming
from fiftyone_sync.dataset.sync_state import COLLECTION
from fiftyone_sync.settings import Settings
from tests.jobs.helpers import WorkerProcess


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


def test_delete_dataset_needs_full_control_and_removes_dataset_and_sync_state(
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

        refused = api.delete("/datasets", params=target, headers=tator_emulator.headers("bob"))
        assert refused.status_code == 403 and "Full Control" in refused.json()["detail"]

        deleted = _run(api, "DELETE", "/datasets", target, alice)
        assert deleted["state"] == "succeeded", deleted
        assert deleted["result"] == {"dataset": dataset, "deleted": True}
        assert database["datasets"].count_documents({"name": dataset}) == 0
        assert database[COLLECTION].count_documents({"dataset": dataset}) == 0

        assert _run(api, "POST", "/sync", target, alice)["state"] == "succeeded"
        assert database["datasets"].count_documents({"name": dataset}) == 1
    finally:
        worker.stop()
        database.client.close()
