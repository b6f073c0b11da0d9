"""The Tator plugin in the real App, opened through the access path in chromium.

One reviewer's session, step by step as a person works: relabel a box in Annotate mode,
review the change, push it, pull a colleague's Tator edit, and open an element in Tator.
Screenshots of each step land in ``artifacts/plugin/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from fiftyone_sync.dataset.mapping import deep_link
from tests.applet.conftest import (
    browser,  # noqa: F401  (the module's chromium)
    checked_page,
)
from tests.plugin.conftest import DATASET, PLUGIN, PROJECT, VERSION, PluginEnv

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "plugin"
LONG = 120_000
SAVE_WAIT = 30.0
"""Seconds for Annotate mode's autosave (it sends its edits every ~3 s) to reach MongoDB."""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811
    """A page wide enough for the App's grid, sidebar and sample modal."""
    with checked_page(browser, 1400) as opened:
        yield opened


def _shot(page: Page, step: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{step}.png"))


def _open_dataset(env: PluginEnv, page: Page) -> str:
    """Follows a fresh ``/launch`` link to the dataset; returns the dataset page's URL."""
    launched = httpx.get(f"{env.api_url}/launch", params={"project_id": str(PROJECT)},
                         headers=env.headers(), timeout=180)
    assert launched.status_code == 200, launched.text
    page.goto(next(d["url"] for d in launched.json()["datasets"] if d["name"] == DATASET))
    page.get_by_role("button", name="Dismiss").click(timeout=LONG)
    return page.url


def _sample_doc(env: PluginEnv, media: int) -> dict[str, Any]:
    """The pulled sample of one Tator media, read straight from MongoDB."""
    client = env.mongo()
    try:
        db = client[env.database]
        dataset = db["datasets"].find_one({"name": DATASET})
        return db[dataset["sample_collection_name"]].find_one({"tator_media_id": media})
    finally:
        client.close()


def _eventually(read: Callable[[], Any], wanted: Any, seconds: float = SAVE_WAIT) -> Any:
    """Reads until the value is ``wanted`` (or the time is up); returns the last value."""
    deadline = time.monotonic() + seconds
    value = read()
    while value != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def _run_operator(page: Page, operator: str) -> Any:
    """Clicks an operator's button and executes its form; returns the dialog."""
    page.locator(f'[data-item-id="{PLUGIN}/{operator}"]').click(timeout=LONG)
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Execute")).to_be_visible(timeout=LONG)
    return dialog


def _tator_row(env: PluginEnv, elemental_id: str) -> dict[str, Any]:
    """Tator's latest row of one element of version 1."""
    rows = env.tator.api("alice").get_localization_list(PROJECT, version=[VERSION])
    return next(dict(row) for row in rows if row["elemental_id"] == elemental_id)


def test_a_reviewer_edits_reviews_pushes_pulls_and_opens_tator_from_the_app(
        plugin_env: PluginEnv, page: Page) -> None:
    try:
        _review_session(plugin_env, page)
    except Exception:
        _shot(page, "failed")
        raise


def _review_session(plugin_env: PluginEnv, page: Page) -> None:
    """The reviewer's session, each step checked on the App's page, in Tator or in MongoDB."""
    grid_url = _open_dataset(plugin_env, page)
    sample = _sample_doc(plugin_env, 1)
    boxes = sample["boxes"]["detections"]
    edited = next(box for box in boxes if box["label"] == "Larvacean")
    index = boxes.index(edited)

    page.goto(f"{grid_url}&id={sample['_id']}")
    page.get_by_text("Annotate", exact=True).click(timeout=LONG)
    page.get_by_text("Larvacean", exact=True).last.click(timeout=LONG)
    page.get_by_role("radio", name="Ctenophore").click(timeout=LONG)
    saved = _eventually(lambda: _sample_doc(plugin_env, 1)["boxes"]["detections"][index]["label"],
                        "Ctenophore")
    assert saved == "Ctenophore", "Annotate mode's edit did not reach the dataset"
    _shot(page, "1-annotate-relabel")

    page.goto(grid_url)
    dialog = _run_operator(page, "review_tator_changes")
    dialog.get_by_role("textbox").fill(plugin_env.tator.tokens["alice"])
    dialog.get_by_role("button", name="Execute").click()
    expect(page.get_by_text("1 change(s) for Tator")).to_be_visible(timeout=LONG)
    expect(page.get_by_text(edited["tator_elemental_id"])).to_be_visible()
    _shot(page, "2-review")
    assert _tator_row(plugin_env, edited["tator_elemental_id"])["attributes"]["Label"] == \
        "Larvacean"

    page.goto(grid_url)
    dialog = _run_operator(page, "push_to_tator")
    dialog.get_by_role("button", name="Execute").click()
    expect(page.get_by_text("Push applied")).to_be_visible(timeout=LONG)
    _shot(page, "3-push")
    pushed = _tator_row(plugin_env, edited["tator_elemental_id"])
    assert pushed["attributes"]["Label"] == "Ctenophore"
    assert pushed["mark"] == edited["tator_mark"] + 1

    salp = next(box for box in boxes if box["label"] == "Salp")
    plugin_env.tator.api("bob").update_localization(
        _tator_row(plugin_env, salp["tator_elemental_id"])["id"],
        {"attributes": {"Label": "Diatom"}})
    page.goto(grid_url)
    dialog = _run_operator(page, "pull_from_tator")
    plugin_env.tator.faults.add("GetLocalizationList", latency=2.0)
    try:
        dialog.get_by_role("button", name="Execute").click()
        expect(page.get_by_role("progressbar").first).to_be_visible(timeout=LONG)
        _shot(page, "4a-pull-progress")
        expect(page.get_by_text("succeeded")).to_be_visible(timeout=LONG)
    finally:
        plugin_env.tator.faults.clear()
    _shot(page, "4-pull")
    page.goto(f"{grid_url}&id={sample['_id']}")
    expect(page.get_by_text("Diatom").first).to_be_visible(timeout=LONG)
    _shot(page, "5-pulled-sample")

    page.get_by_text("Explore", exact=True).click()
    _click_box(page, salp["bounding_box"])
    page.get_by_text("open_in_new", exact=True).click(timeout=LONG)
    page.get_by_role("dialog").get_by_role("button", name="Execute").click()
    link = deep_link(plugin_env.tator.url, PROJECT, 1, 0, salp["tator_version"],
                     salp["tator_elemental_id"], salp["tator_type"])
    opened = page.get_by_role("link", name="Open in Tator")
    expect(opened).to_have_attribute("href", link, timeout=LONG)
    _shot(page, "6-open-in-tator")
    with page.context.expect_page() as new_tab:
        opened.click()
    tator_page = new_tab.value
    tator_page.wait_for_load_state()
    assert tator_page.url == link
    expect(tator_page.locator("#selected_entity")).to_have_text(salp["tator_elemental_id"])
    _shot(tator_page, "7-tator-annotation-view")


def _click_box(page: Page, box: list[float], width: int = 640, height: int = 480) -> None:
    """Clicks the middle of a box in the sample modal, which selects that label.

    The modal's canvas is the page's last one; the image is fitted into it, centred.
    """
    canvas = page.locator("canvas").last.bounding_box()
    scale = min(canvas["width"] / width, canvas["height"] / height)
    left = canvas["x"] + (canvas["width"] - width * scale) / 2
    top = canvas["y"] + (canvas["height"] - height * scale) / 2
    x, y, w, h = box
    page.mouse.click(left + (x + w / 2) * width * scale, top + (y + h / 2) * height * scale)
    expect(page.locator('[data-cy="action-manage-selected"]').last).to_have_text("1")
