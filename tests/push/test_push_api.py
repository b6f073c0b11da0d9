"""``/push`` routes over HTTP: auth, paged plan reading, stale-plan refusal, queued jobs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fiftyone_sync.api.app import create_app
from fiftyone_sync.jobs.queue import JobQueue
from fiftyone_sync.settings import Settings
from tests.fixtures.server import serving
from tests.push import helpers as h


@pytest.fixture
def api_settings(tator_emulator: Any, redis_url: str, mongo_uri: str, fo: Any,
                 tmp_path: Path) -> Settings:
    """API settings on the session's stores, the emulator and the bound test database."""
    return Settings(tator_url=tator_emulator.url, redis_url=redis_url, database_uri=mongo_uri,
                    database_name=fo.config.database_name, data_dir=tmp_path / "data",
                    secret_key="push-tests", job_queue=f"push-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def api(api_settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the API served on a free port."""
    with serving(create_app(api_settings)) as url, httpx.Client(base_url=url,
                                                                timeout=30) as client:
        yield client


def test_plan_pages_stale_refusal_and_queued_jobs(api, api_settings, make_ctx, db, fo,
                                                  tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    sample = fo.load_dataset(h.DATASET).match({"tator_media_id": 1}).first()
    sample["boxes"].detections[0].label = "Unknown"
    sample["boxes"].detections[1].label = "Unknown"
    sample.save()
    plan_id = h.plan(ctx)["plan_id"]
    bob = tator_emulator.headers("bob")

    page = api.get(f"/push/plans/{plan_id}", params={"project_id": 1, "page": 1,
                                                      "page_size": 1}, headers=bob)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["counts"]["update"] == 2 and body["total"] == 2 and len(body["items"]) == 1
    assert body["items"][0]["attributes"] == {"Label": "Unknown"}
    too_big = api.get(f"/push/plans/{plan_id}", params={"project_id": 1, "page_size": 501},
                      headers=bob)
    assert too_big.status_code == 422
    for user, status in (("carol", 403), ("dave", 403)):
        denied = api.get(f"/push/plans/{plan_id}", params={"project_id": 1},
                         headers=tator_emulator.headers(user))
        assert denied.status_code == status

    unreviewed = api.post("/push", params={"project_id": 1, "version_id": 1}, headers=bob)
    assert unreviewed.status_code == 422 and "dry_run=true" in unreviewed.json()["detail"]
    sample["boxes"].detections[2].label = "Unknown"
    sample.save()
    stale = api.post("/push", params={"project_id": 1, "version_id": 1, "plan_id": plan_id},
                     headers=bob)
    assert stale.status_code == 409 and "changed since" in stale.json()["detail"]

    queue = JobQueue(api_settings)
    dry = api.post("/push", params={"project_id": 1, "version_id": 1, "dry_run": "true"},
                   headers=bob)
    assert dry.status_code == 202, dry.text
    assert queue.get(dry.json()["job_id"]).kind == "push_plan"
    fresh = h.plan(ctx)["plan_id"]
    applying = api.post("/push", params={"project_id": 1, "version_id": 1, "plan_id": fresh},
                        headers=bob)
    assert applying.status_code == 202 and queue.get(applying.json()["job_id"]).params == {
        "plan_id": fresh}
    resolving = api.post("/push/conflicts/resolve", params={"project_id": 1, "version_id": 1},
                         json={"elemental_ids": "all", "choice": "theirs"}, headers=bob)
    assert resolving.status_code == 202
    assert queue.get(resolving.json()["job_id"]).kind == "push_resolve"
    refused = api.post("/push", params={"project_id": 1, "version_id": 1, "dry_run": "true"},
                       headers=tator_emulator.headers("carol"))
    assert refused.status_code == 403


def test_dry_run_review_and_apply_through_api_and_a_worker(
        api, api_settings, make_ctx, db, fo, tator_emulator, tmp_path):
    from tests.jobs.helpers import WorkerProcess

    ctx = make_ctx()
    h.pull(ctx)
    sample = fo.load_dataset(h.DATASET).match({"tator_media_id": 2}).first()
    eid = sample["boxes"].detections[0].tator_elemental_id
    sample["boxes"].detections[0].label = "Unknown"
    sample.save()
    bob = tator_emulator.headers("bob")
    target = {"project_id": 1, "version_id": 1}
    worker = WorkerProcess(api_settings, tmp_path / "worker.log")
    try:
        planned = _finished(api, api.post("/push", params={**target, "dry_run": "true"},
                                          headers=bob), bob)
        plan_id = planned["result"]["plan_id"]
        assert planned["result"]["counts"]["update"] == 1
        page = api.get(f"/push/plans/{plan_id}", params={"project_id": 1}, headers=bob).json()
        assert page["items"][0]["elemental_id"] == eid
        applied = _finished(api, api.post("/push", params={**target, "plan_id": plan_id},
                                          headers=bob), bob)
    finally:
        worker.stop()
    assert applied["state"] == "succeeded", worker.log()
    assert applied["result"]["updated"] == 1 and applied["result"]["outcome"] == "applied"
    assert h.tator_latest(tator_emulator)[eid]["attributes"]["Label"] == "Unknown"


def _finished(api: httpx.Client, answer: httpx.Response, headers: dict) -> dict:
    import time

    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        record = api.get(f"/jobs/{job_id}", headers=headers).json()
        if record["state"] in ("succeeded", "failed", "cancelled"):
            return record
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {record}")


def test_cli_push_prints_the_plan_then_applies_it(api_settings, make_ctx, db, fo,
                                                  tator_emulator):
    import json
    import subprocess

    from tests.jobs.helpers import CLI, REPO, worker_env

    ctx = make_ctx()
    h.pull(ctx)
    sample = fo.load_dataset(h.DATASET).match({"tator_media_id": 3}).first()
    eid = sample["boxes"].detections[0].tator_elemental_id
    sample["boxes"].detections[0].label = "Unknown"
    sample.save()
    env = {**worker_env(api_settings), "TATOR_TOKEN": tator_emulator.tokens["bob"],
           "FIFTYONE_DATABASE_NAME": fo.config.database_name}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), "push", "--project", "1", "--version", "1", *args],
                              env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
                              check=False)

    dry = run("--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert json.loads(dry.stdout)["counts"]["update"] == 1
    assert h.tator_latest(tator_emulator)[eid]["attributes"]["Label"] != "Unknown"
    done = run()
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"updated": 1' in done.stdout
    assert h.tator_latest(tator_emulator)[eid]["attributes"]["Label"] == "Unknown"
