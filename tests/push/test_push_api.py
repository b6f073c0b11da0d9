"""``/push`` routes over HTTP and ``fiftyone-sync push`` as a subprocess.

Auth, paged plan reading, stale-plan refusal, queued jobs, plans applied and conflicts
resolved by a real worker, and the CLI's plan, apply and ``--resolve``.
"""

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


def _conflicts(fo: Any, tator_emulator: Any, count: int) -> list[str]:
    """Makes the first ``count`` boxes of image 1 conflicts; returns their elemental ids.

    Each is relabelled Unknown in FiftyOne and, after the pull, edited by bob in Tator
    (class Ctenophore and a note), so Tator's latest mark moved past the pulled one.
    """
    sample = fo.load_dataset(h.DATASET).match({"tator_media_id": 1}).first()
    labels = sample["boxes"].detections[:count]
    for label in labels:
        label.label = "Unknown"
    sample.save()
    eids = [label.tator_elemental_id for label in labels]
    rows = h.tator_latest(tator_emulator)
    for eid in eids:
        tator_emulator.store.patch_localization(
            rows[eid]["id"], user="bob",
            attributes={"Label": "Ctenophore", "Notes": "bob was here"})
    return eids


def test_cli_resolve_theirs_for_one_element_then_mine_for_the_rest(
        api_settings, make_ctx, db, fo, tator_emulator):
    """``push --resolve`` settles conflicts in this terminal, with the token from --token-env.

    ``--resolve theirs --elemental-id A`` gives label A Tator's values and leaves B a
    conflict; ``--resolve mine`` (all) then makes the next plan overwrite bob's newer
    revision of B with FiftyOne's values, as a new revision on top of it.
    """
    import json
    import subprocess

    from tests.jobs.helpers import CLI, REPO, worker_env

    ctx = make_ctx()
    h.pull(ctx)
    originals = {eid: lb.get("Notes") for eid, (_, lb) in h.boxes(db).items()}
    a, b = _conflicts(fo, tator_emulator, 2)
    theirs = h.tator_latest(tator_emulator)
    assert h.plan(ctx)["counts"]["conflict"] == 2
    env = {**worker_env(api_settings), "REVIEWER_TOKEN": tator_emulator.tokens["bob"],
           "FIFTYONE_DATABASE_NAME": fo.config.database_name}
    env.pop("TATOR_TOKEN", None)

    def resolve(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(CLI), "push", "--project", "1", "--version", "1", "--token-env",
             "REVIEWER_TOKEN", "--resolve", *args], env=env, cwd=REPO, capture_output=True,
            text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    took = resolve("theirs", "--elemental-id", a)

    assert (took["choice"], took["resolved"], took["elemental_ids"]) == ("theirs", 1, [a])
    labels = h.boxes(db)
    assert (labels[a][1]["label"], labels[a][1]["Notes"]) == ("Ctenophore", "bob was here")
    assert labels[b][1]["label"] == "Unknown"
    still = h.plan(ctx)
    assert still["counts"]["conflict"] == 1 and still["items"][0]["elemental_id"] == b

    kept = resolve("mine")

    assert (kept["choice"], kept["resolved"], kept["elemental_ids"]) == ("mine", 1, [b])
    planned = h.plan(ctx)
    assert planned["counts"]["update"] == 1 and planned["counts"]["conflict"] == 0
    assert planned["items"][0]["elemental_id"] == b
    assert h.apply(ctx, planned["plan_id"])["updated"] == 1
    rows = h.tator_latest(tator_emulator)
    assert rows[b]["mark"] == theirs[b]["mark"] + 1
    assert rows[b]["attributes"]["Label"] == "Unknown"
    assert rows[b]["attributes"]["Notes"] == originals[b]
    assert rows[a] == theirs[a]
    assert h.plan(ctx)["total"] == 0


def test_api_resolve_runs_in_a_worker_theirs_for_one_then_mine_for_all(
        api, api_settings, make_ctx, db, fo, tator_emulator, tmp_path):
    """``POST /push/conflicts/resolve`` jobs finish in a worker and do what they say.

    Of three conflicts, ``theirs`` for A gives label A Tator's values; ``"all"`` with
    ``mine`` then settles exactly the two left (B, C), and the next push writes FiftyOne's
    values over bob's newer revisions of B and C while A stays as bob left it.
    """
    from tests.jobs.helpers import WorkerProcess

    ctx = make_ctx()
    h.pull(ctx)
    a, b, c = _conflicts(fo, tator_emulator, 3)
    theirs = h.tator_latest(tator_emulator)
    bob = tator_emulator.headers("bob")
    target = {"project_id": 1, "version_id": 1}
    worker = WorkerProcess(api_settings, tmp_path / "worker.log")
    try:
        took = _finished(api, api.post("/push/conflicts/resolve", params=target, headers=bob,
                                       json={"elemental_ids": [a], "choice": "theirs"}), bob)
        kept = _finished(api, api.post("/push/conflicts/resolve", params=target, headers=bob,
                                       json={"elemental_ids": "all", "choice": "mine"}), bob)
    finally:
        worker.stop()

    assert took["state"] == kept["state"] == "succeeded", worker.log()[-3000:]
    assert (took["result"]["resolved"], took["result"]["elemental_ids"]) == (1, [a])
    assert kept["result"]["resolved"] == 2
    assert sorted(kept["result"]["elemental_ids"]) == sorted([b, c])
    labels = h.boxes(db)
    assert (labels[a][1]["label"], labels[a][1]["Notes"]) == ("Ctenophore", "bob was here")
    planned = h.plan(ctx)
    assert planned["counts"]["update"] == 2 and planned["counts"]["conflict"] == 0
    assert h.apply(ctx, planned["plan_id"])["updated"] == 2
    rows = h.tator_latest(tator_emulator)
    for eid in (b, c):
        assert rows[eid]["mark"] == theirs[eid]["mark"] + 1
        assert rows[eid]["attributes"]["Label"] == "Unknown"
    assert rows[a] == theirs[a]
    assert h.plan(ctx)["total"] == 0
