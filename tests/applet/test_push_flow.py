"""Review, push and conflict resolution from the applet, in a real browser.

The test pulls (each test gets a fresh Tator project, so its elements are new), edits labels
in the FiftyOne dataset the way a save does (the sample document in MongoDB), edits one of
them in Tator too (a conflict), then drives Review, Push and Take theirs in the page.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pymongo
import pytest
from playwright.sync_api import Page, expect

from tests.applet.conftest import AppletEnv
from tests.applet.test_browser import LONG, _accepted, _verify

pytestmark = pytest.mark.browser


def _relabel_first_boxes(env: AppletEnv, dataset: str, count: int) -> list[dict]:
    """Relabels the first ``count`` boxes of media 1 in FiftyOne; returns those labels."""
    client: pymongo.MongoClient = pymongo.MongoClient(env.settings.database_uri)
    try:
        db = client[f"{env.settings.database_default}_1"]
        collection = db["datasets"].find_one({"name": dataset})["sample_collection_name"]
        sample = db[collection].find_one({"tator_media_id": 1, "frame": 0})
        labels = sample["boxes"]["detections"]
        for label in labels[:count]:
            label["label"] = "Diatom" if label["label"] != "Diatom" else "Salp"
        db[collection].update_one({"_id": sample["_id"]}, {"$set": {
            "boxes.detections": labels,
            "last_modified_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)}})
        return labels[:count]
    finally:
        client.close()


def _pull(page: Page) -> str:
    page.locator("#force").check()
    page.locator("#pull").click()
    expect(page.locator("#pull-phase")).to_contain_text("succeeded", timeout=LONG)
    text = page.locator("#pull-result").inner_text()
    return re.search(r"dataset (\S+)\.", text).group(1)


def test_review_push_and_resolve_a_conflict(applet_env: AppletEnv, page: Page,
                                            shot: Callable, tator_emulator) -> None:
    page.goto(applet_env.render(**applet_env.tparams(version_id="1")))
    _verify(page, tator_emulator.tokens["alice"])
    _accepted(page)
    dataset = _pull(page)
    edited = _relabel_first_boxes(applet_env, dataset, 2)
    tator_emulator.api("bob").update_localization(
        edited[1]["tator_id"], {"attributes": {"Notes": "changed in Tator"}})

    page.locator("#review").click()
    plan = page.locator("#plan")
    expect(plan).to_contain_text(re.compile(r"update 1, create 0, delete 0, conflict 1"),
                                 timeout=LONG)
    expect(plan.locator("table")).to_contain_text(edited[0]["tator_elemental_id"])
    expect(page.locator("#conflicts")).to_contain_text(edited[1]["tator_elemental_id"])
    expect(page.locator("#push")).to_be_enabled()
    shot(page, "plan")

    page.locator("#push").click()
    expect(page.locator("#push-result")).to_contain_text("Push applied", timeout=LONG)
    expect(page.locator("#push-result")).to_contain_text("updated")
    latest = tator_emulator.api("alice").get_localization_list(1, version=[1])
    by_eid = {row["elemental_id"]: row for row in latest}
    assert by_eid[edited[0]["tator_elemental_id"]]["attributes"]["Label"] == edited[0]["label"]
    shot(page, "pushed")

    page.get_by_role("button", name=f"Take theirs for {edited[1]['tator_elemental_id']}").click()
    expect(page.locator("#conflicts-status")).to_contain_text("Took Tator's version for 1",
                                                              timeout=LONG)
    shot(page, "resolved")
    page.locator("#review").click()
    expect(page.locator("#plan")).to_contain_text("No changes to push", timeout=LONG)
    expect(page.locator("#push")).to_be_disabled()
