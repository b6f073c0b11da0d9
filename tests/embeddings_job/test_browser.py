"""The App's Embeddings panel on a pulled and embedded version, in chromium.

The whole product runs as in production: the API (with its App manager) in a thread of the
test process, a ``fiftyone-sync worker`` subprocess, the Tator and Fast-VSS emulators, the
session's MongoDB and Redis. ``POST /sync`` pulls version 1 and queues its embedding job;
then chromium opens the App through ``/launch`` (one-time code, then the access cookie) on
the boxes patches view, opens the Embeddings panel, picks the boxes map and colours it by
label, as a reviewer hunting mislabelled objects does. The screenshot lands in
``artifacts/embeddings/``.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from fiftyone_sync.settings import Settings
from tests.applet.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ApiThread,
    AppletWorker,
    _bindable_run,
)
from tests.fixtures.net import free_port

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "embeddings"
DATASET = "tator-p1-v1"
MAP_KEY = "tator_map_boxes"
PATCHES_VIEW = "boxes-patches"
"""The slug of the ``boxes_patches`` view every pull saves (``dataset.schema``)."""
LOOK_ALIKES = 3
"""Slightly shifted copies added in Tator of every box on an image, so the map has clusters."""
JOB_WAIT = 180.0
LONG = 120_000


@dataclasses.dataclass
class EmbeddedVersion:
    """The running product after version 1 was pulled and embedded by its worker."""

    api_url: str
    headers: dict[str, str]
    boxes: int
    classes: set[str]


def _add_look_alikes(tator_emulator: Any) -> None:
    """Has bob draw shifted copies of every image box, keeping its class, in Tator."""
    rows = tator_emulator.api("alice").get_localization_list(1, version=[1])
    specs = [{"media_id": row.media, "type": 1, "version": 1, "frame": 0,
              "x": row.x + 0.01 * step, "y": row.y - 0.01 * step, "width": row.width,
              "height": row.height, "attributes": {"Label": row.attributes["Label"]}}
             for row in rows if row.type == 1 and row.media in (1, 2, 3)
             for step in range(1, LOOK_ALIKES + 1)]
    tator_emulator.store.create_localizations(1, specs, user="bob")


def _wait_job(api_url: str, headers: dict[str, str], job_id: str,
              worker: AppletWorker) -> dict[str, Any]:
    """Follows a job through the API until it ends; fails with the worker's log if not."""
    deadline = time.monotonic() + JOB_WAIT
    while time.monotonic() < deadline:
        record = httpx.get(f"{api_url}/jobs/{job_id}", headers=headers, timeout=30).json()
        if record["state"] in ("succeeded", "failed", "cancelled"):
            assert record["state"] == "succeeded", worker.log()[-3000:]
            return record
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end:\n{worker.log()[-3000:]}")


@pytest.fixture
def embedded_version(tator_emulator: Any, fastvss_emulator: Any, redis_url: str,
                     mongo_uri: str, tmp_path: Path) -> Iterator[EmbeddedVersion]:
    """Version 1 (with look-alike boxes) pulled and embedded through the API and a worker."""
    _add_look_alikes(tator_emulator)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        redis_url=redis_url, database_uri=mongo_uri, data_dir=tmp_path / "data",
        secret_key="embed-browser-secret", job_queue=f"embb-{uuid.uuid4().hex[:8]}",
        database_default=f"eb{uuid.uuid4().hex[:6]}", job_lock_ttl=5.0,
        tator_url=tator_emulator.url, fastvss_api_url=fastvss_emulator.url,
        fastvss_project_map={1: fastvss_emulator.project}, embed_map_method="pca",
        public_url=api_url, app_base_port=_bindable_run(2), app_mode="proxy",
        app_start_timeout=90, app_idle_timeout=0)
    worker = AppletWorker(settings, tmp_path / "worker.log")
    api = ApiThread(settings, port)
    headers = tator_emulator.headers("alice")
    try:
        queued = httpx.post(f"{api_url}/sync", headers=headers, timeout=60,
                            params={"project_id": "1", "version_id": "1"})
        assert queued.status_code == 202, queued.text
        pulled = _wait_job(api_url, headers, queued.json()["job_id"], worker)
        embedded = _wait_job(api_url, headers, pulled["result"]["embed_job_id"], worker)
        outcome = embedded["result"]["maps"]["boxes"]
        assert (outcome["status"], outcome["map_key"]) == ("recomputed", MAP_KEY)
        rows = tator_emulator.api("alice").get_localization_list(1, version=[1])
        boxes = [row for row in rows if row.type == 1]
        assert outcome["labels"] == len(boxes) > 30
        yield EmbeddedVersion(api_url, headers, len(boxes),
                              {row.attributes["Label"] for row in boxes})
    finally:
        api.stop()
        worker.stop()


def _dismiss(page: Page) -> None:
    """Closes the App's advertising cards (when shown), so the screenshot shows the map."""
    for button in page.get_by_role("button", name="Dismiss", exact=True).all():
        if button.is_visible():
            button.click()


def _open_map(page: Page, product: EmbeddedVersion) -> None:
    """Opens the patches view through the access path, then the boxes map, by label."""
    launched = httpx.get(f"{product.api_url}/launch", params={"project_id": "1"},
                         headers=product.headers, timeout=180)
    assert launched.status_code == 200, launched.text
    page.goto(next(d["url"] for d in launched.json()["datasets"] if d["name"] == DATASET))
    page.goto(f"{product.api_url}/apps/1/datasets/{DATASET}?view={PATCHES_VIEW}"
              "&proxy=/apps/1")
    expect(page.get_by_text(f"{product.boxes} patches", exact=True)).to_be_visible(
        timeout=LONG)
    _dismiss(page)

    page.locator('[data-cy="new-panel-btn"]').click()
    page.locator('[data-cy="new-panel-option-Embeddings"]').click()
    panel = page.locator('[data-cy="panel-content-Embeddings"]')
    panel.get_by_text(MAP_KEY, exact=True).click(timeout=LONG)
    expect(panel.locator(".emb-plot-title")).to_contain_text(MAP_KEY, timeout=LONG)
    _dismiss(page)
    panel.get_by_text("Color by").click()
    page.get_by_role("option", name="boxes.detections.label", exact=True).click()


def test_the_embeddings_panel_maps_every_pulled_box_coloured_by_its_class(
        embedded_version: EmbeddedVersion) -> None:
    """The App shows the job's 2-D map on the patches view: one point per box, the brain
    key selected, one legend row per class; the screenshot is kept for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    script_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()
            page.on("pageerror", lambda error: script_errors.append(str(error)))
            try:
                _open_map(page, embedded_version)
                panel = page.locator('[data-cy="panel-content-Embeddings"]')
                expect(panel.locator(".emb-plot-scene canvas")).to_be_visible()
                expect(panel.locator(".emb-plot-title")).to_contain_text("pca (2D)")
                expect(panel.locator(".emb-plot-counter")).to_have_text(
                    f"{embedded_version.boxes} points")
                expect(panel.locator(".emb-legend-row")).to_have_count(
                    len(embedded_version.classes))
                legend = set(panel.locator(".emb-legend-label").all_inner_texts())
                page.wait_for_timeout(1000)  # the points fade in
            finally:
                page.screenshot(path=str(ARTIFACTS / "embeddings-panel.png"))
        finally:
            browser.close()

    assert legend == embedded_version.classes
    assert not script_errors, f"the App's script failed: {script_errors}"
