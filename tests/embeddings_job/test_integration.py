"""The embedding job with the rest of the product: after a real pull, through the API, a
worker and the command line, against the Tator and Fast-VSS emulators."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from fiftyone_sync.api.app import create_app
from fiftyone_sync.emulators.fastvss import image_vector
from fiftyone_sync.jobs.queue import JobQueue
from fiftyone_sync.jobs.state import JobState
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential
from tests.embeddings_job.builders import BOXES, crop_bytes, label_rows
from tests.fixtures.net import free_port
from tests.fixtures.server import serving
from tests.jobs.helpers import CLI, REPO, worker_env


@pytest.fixture
def stack_settings(redis_url: str, mongo_uri: str, tmp_path: Path, tator_emulator: Any,
                   fastvss_emulator: Any) -> Settings:
    """Settings of a whole deployment on the test stores and both emulators."""
    return Settings(
        redis_url=redis_url, database_uri=mongo_uri, data_dir=tmp_path / "data",
        secret_key="embed-tests-secret", job_queue=f"test-{uuid.uuid4().hex[:8]}",
        job_lock_ttl=5.0, database_default=f"et{uuid.uuid4().hex[:6]}",
        tator_url=tator_emulator.url, fastvss_api_url=fastvss_emulator.url,
        fastvss_project_map={1: fastvss_emulator.project}, fastvss_poll_interval=0.05,
        embed_map_method="pca")


def _env(settings: Settings) -> dict[str, str]:
    """A subprocess environment for ``settings``, Fast-VSS included."""
    env = worker_env(settings)
    env.update({"FASTVSS_API_URL": settings.fastvss_api_url,
                "FIFTYONE_SYNC_FASTVSS_PROJECT_MAP": "1=" + settings.fastvss_project_map[1],
                "FIFTYONE_SYNC_FASTVSS_POLL_INTERVAL": "0.05",
                "FIFTYONE_SYNC_EMBED_MAP_METHOD": "pca"})
    return env


def test_a_pulled_version_is_embedded_label_by_label(
        fo, tator_emulator, make_ctx, embed_settings, clean_project, tmp_path: Path) -> None:
    from fiftyone_sync.dataset.pull import PullRequest, pull
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    settings = embed_settings.model_copy(update={
        "tator_url": tator_emulator.url, "data_dir": tmp_path / "pulled"})
    ctx = make_ctx("tator-p1-v1", settings)
    ctx.credential = Credential("Token", tator_emulator.tokens["alice"])
    try:
        pull(ctx, PullRequest(version_id=1))
        result = embed(make_ctx("tator-p1-v1", settings), EmbedRequest(version_id=1))

        dataset = fo.load_dataset("tator-p1-v1")
        assert result.labels > 10 and result.embedded == result.labels
        assert not result.failed and not result.skipped
        boxes = label_rows(dataset, BOXES)
        assert boxes and all(row["vector"] is not None for row in boxes)
        for row in boxes:
            assert np.allclose(row["vector"], image_vector(crop_bytes(row, BOXES)), atol=1e-6)
        assert result.to_dict()["maps"][BOXES]["status"] == "recomputed"
    finally:
        if fo.dataset_exists("tator-p1-v1"):
            fo.delete_dataset("tator-p1-v1")


DATASET = "tator-p1-v1"


def _pull_then_embed(make_ctx, settings: Settings, token: str) -> tuple[Any, Any]:
    """Pulls version 1 as alice, then embeds it, as the job after a pull does."""
    from fiftyone_sync.dataset.pull import PullRequest, pull
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    ctx = make_ctx(DATASET, settings)
    ctx.credential = Credential("Token", token)
    pulled = pull(ctx, PullRequest(version_id=1))
    return pulled, embed(make_ctx(DATASET, settings), EmbedRequest(version_id=1))


def test_tator_adding_3_and_moving_2_boxes_embeds_exactly_those_5_and_redraws_the_map(
        fo, tator_emulator, fastvss_emulator, make_ctx, embed_settings, clean_project,
        tmp_path: Path) -> None:
    """Only labels Tator changed get new vectors; a re-pull of an unchanged version embeds
    nothing and leaves the map alone (no Fast-VSS call at all)."""
    settings = embed_settings.model_copy(update={
        "tator_url": tator_emulator.url, "data_dir": tmp_path / "pulled"})
    token = tator_emulator.tokens["alice"]
    _, first = _pull_then_embed(make_ctx, settings, token)
    dataset = fo.load_dataset(DATASET)
    map_key = f"tator_map_{BOXES}"
    drawn = dataset.get_brain_info(map_key).timestamp
    before = {row["id"]: row for row in label_rows(dataset, BOXES)}
    assert first.embedded == first.labels > 10

    bob = tator_emulator.api("bob")
    boxes = [loc for loc in bob.get_localization_list(1, version=[1])
             if loc.type == 1 and loc.media in (1, 2, 3)]
    moved = [bob.update_localization(loc.id, localization_update={
        "x": loc.x + 0.05, "y": loc.y + 0.04}).object.id for loc in boxes[:2]]
    added = bob.create_localization_list(1, body=[
        {"media_id": 2, "type": 1, "version": 1, "frame": 0, "x": 0.1 + 0.25 * i, "y": 0.6,
         "width": 0.15, "height": 0.02 + 0.1 * i, "attributes": {"Label": "Salp"}}
        for i in range(3)]).id
    submitted = fastvss_emulator.state.submissions

    pulled, second = _pull_then_embed(make_ctx, settings, token)

    assert (pulled.labels_created, pulled.labels_updated) == (3, 2)
    assert (second.labels, second.embedded, second.current) == (
        first.labels + 3, 5, first.labels - 2)
    assert not second.failed and not second.skipped
    assert fastvss_emulator.state.submissions == submitted + 1
    outcome = second.to_dict()["maps"][BOXES]
    assert (outcome["status"], outcome["labels"]) == ("recomputed", len(before) + 3)
    dataset.reload()
    assert dataset.get_brain_info(map_key).timestamp > drawn
    assert dataset.load_brain_results(map_key).points.shape == (len(before) + 3, 2)
    rows = label_rows(dataset, BOXES)
    changed = {row["id"] for row in rows if row["id"] not in before
               or not np.array_equal(row["vector"], before[row["id"]]["vector"])}
    tator_ids = dict(zip(*dataset.values([f"{BOXES}.detections.id",
                                          f"{BOXES}.detections.tator_id"], unwind=True),
                         strict=True))
    assert {tator_ids[label_id] for label_id in changed} == set(moved) | set(added)
    for row in rows:
        assert np.allclose(row["vector"], image_vector(crop_bytes(row, BOXES)), atol=1e-6)

    drawn = dataset.get_brain_info(map_key).timestamp
    submitted = fastvss_emulator.state.submissions
    pulled, third = _pull_then_embed(make_ctx, settings, token)

    assert (pulled.labels_created, pulled.labels_updated) == (0, 0)
    assert (third.embedded, third.current) == (0, second.labels)
    assert third.to_dict()["fastvss"] == "not_needed"
    assert fastvss_emulator.state.submissions == submitted
    assert {m.status.value for m in third.maps} == {"unchanged"}
    dataset.reload()
    assert dataset.get_brain_info(map_key).timestamp == drawn


def test_a_pull_queues_its_embedding_job_only_when_fastvss_serves_the_project(
        stack_settings: Settings, make_ctx) -> None:
    from fiftyone_sync.embeddings.followup import queue_after_pull

    job_id = queue_after_pull(make_ctx("tator-p1-v1", stack_settings))
    record = JobQueue(stack_settings).get(job_id)
    assert record is not None and record.kind == "embed" and record.version_id == 1

    unmapped = stack_settings.model_copy(update={"fastvss_project_map": {}})
    assert queue_after_pull(make_ctx("tator-p1-v1", unmapped)) is None
    no_redis = stack_settings.model_copy(update={
        "redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    assert queue_after_pull(make_ctx("tator-p1-v1", no_redis)) is None


@pytest.fixture
def api(stack_settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the API served on a free port."""
    with serving(create_app(stack_settings)) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_embeddings_endpoint_checks_access_then_queues(
        api: httpx.Client, stack_settings: Settings, tator_emulator) -> None:
    queue = JobQueue(stack_settings)
    params = {"project_id": 1, "version_id": 1}
    assert api.post("/embeddings", params=params).status_code == 401
    refused = api.post("/embeddings", params=params, headers=tator_emulator.headers("carol"))
    assert refused.status_code == 403
    foreign = api.post("/embeddings", params={"project_id": 1, "version_id": 3},
                       headers=tator_emulator.headers("bob"))
    assert foreign.status_code == 422
    assert len(queue.rq_queue) == 0

    answer = api.post("/embeddings", params={**params, "force": True},
                      headers=tator_emulator.headers("bob"))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["dataset"] == "tator-p1-v1" and body["status"] == "queued"
    record = queue.get(body["job_id"])
    assert record.kind == "embed" and record.params["force"] is True


def test_a_worker_embeds_a_synced_version_after_its_pull(
        api: httpx.Client, stack_settings: Settings, tator_emulator, tmp_path: Path) -> None:
    answer = api.post("/sync", params={"project_id": 1, "version_id": 1},
                      headers=tator_emulator.headers("alice"))
    assert answer.status_code == 202, answer.text
    pull_id = answer.json()["job_id"]

    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen([str(CLI), "worker", "--burst"], env=_env(stack_settings),
                                  cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert worker.wait(timeout=300) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)

    queue = JobQueue(stack_settings)
    pulled = queue.get(pull_id)
    assert pulled.state is JobState.SUCCEEDED, log_path.read_text()[-3000:]
    embedded = queue.get(pulled.result["embed_job_id"])
    assert embedded.state is JobState.SUCCEEDED, log_path.read_text()[-3000:]
    result = embedded.result
    assert result["fastvss"] == "ok" and result["embedded"] == result["labels"] > 10
    assert result["maps"]["boxes"]["status"] == "recomputed"


def test_embed_command_runs_the_job_here(stack_settings: Settings, tator_emulator) -> None:
    env = _env(stack_settings)
    env["TATOR_TOKEN"] = tator_emulator.tokens["alice"]
    for command in ("pull", "embed"):
        done = subprocess.run([str(CLI), command, "--project", "1", "--version", "1"],
                              env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    record = JobQueue(stack_settings).recent(1, 5)
    embedded = next(r for r in record if r.kind == "embed" and r.runner == "cli")
    assert embedded.state is JobState.SUCCEEDED
    assert embedded.result["embedded"] == embedded.result["labels"] > 10
    assert f"job {embedded.id}: succeeded" in done.stdout
