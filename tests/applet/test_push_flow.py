"""A reviewer's whole round trip from the applet at phone width, in a real browser.

Pull, Open in FiftyOne, Review changes and Push to Tator are operated with Tab and Enter on
a 360 px wide page. The labels are edited in the real FiftyOne App (Annotate mode, opened
from the applet through the access path), never by writing MongoDB. A colleague edits three
of those labels in Tator too, so the flow meets what reviewers meet: a pull that reports
the conflicts, a push of a plan the pull made stale (409), a push that applies what it can,
and conflicts settled with Keep mine, Take theirs and Keep mine for all, whose effect is
checked in Tator. Each step saves a screenshot under ``artifacts/applet/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pymongo
import pytest
from playwright.sync_api import Page, expect

from tests.applet.conftest import AppletEnv
from tests.applet.test_browser import LONG, _accepted, counts

pytestmark = pytest.mark.browser

EMBED_AFTER_PULL = False
"""No embedding job after the pulls: it is not part of this flow, and it would hold the one
worker (and the dataset's lock) between the reviewer's steps."""
PHONE = {"width": 360, "height": 740}
SAVE_WAIT = 30.0
"""Seconds for Annotate mode's autosave (every few seconds) to reach MongoDB."""
LABEL_FIELDS = {"boxes": "detections", "lines": "polylines", "polys": "polylines"}


def press_with_keyboard(page: Page, target: str, limit: int = 40) -> list[str]:
    """Tabs forward from the focused element to ``#target``, then presses Enter on it.

    Fails if Tab never reaches it or it is outside the viewport once focused (the page must
    be usable at phone width). Returns the ids focus went through.
    """
    visited: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement ? document.activeElement.id : ''")
        visited.append(focused)
        if focused == target:
            expect(page.locator(f"#{target}")).to_be_in_viewport()
            page.keyboard.press("Enter")
            return visited
    raise AssertionError(f"Tab never reached #{target}; focus went through {visited}")


def media_sample(env: AppletEnv, dataset: str) -> dict[str, Any]:
    """Media 1's sample as FiftyOne stores it (read only: edits go through the App)."""
    client: pymongo.MongoClient = pymongo.MongoClient(env.settings.database_uri)
    try:
        db = client[f"{env.settings.database_default}_1"]
        collection = db["datasets"].find_one({"name": dataset})["sample_collection_name"]
        return db[collection].find_one({"tator_media_id": 1, "frame": 0})
    finally:
        client.close()


def media_labels(env: AppletEnv, dataset: str) -> dict[str, dict[str, Any]]:
    """Media 1's boxes, lines and polygons in FiftyOne, by Tator elemental id."""
    sample = media_sample(env, dataset)
    return {label["tator_elemental_id"]: {**label, "field": field}
            for field, key in LABEL_FIELDS.items()
            for label in (sample.get(field) or {}).get(key) or []}


def relabel_in_the_app(app: Page, current: str, wanted: str) -> None:
    """Relabels the first label named ``current`` in the open sample's LABELS list.

    Annotate mode lists boxes, then lines, then polygons; the class is a radio choice. The
    back arrow returns to the list for the next edit.
    """
    app.get_by_text(current, exact=True).first.click(timeout=LONG)
    app.get_by_role("radio", name=wanted, exact=True).click(timeout=LONG)
    expect(app.get_by_role("radio", name=wanted, exact=True)).to_be_checked()
    app.locator('[data-cy="annotate-edit-back"]').click()


def tator_latest(tator_emulator: Any) -> dict[str, dict[str, Any]]:
    """Tator's latest row of every element of version 1, by elemental id."""
    rows = tator_emulator.api("alice").get_localization_list(1, version=[1])
    return {row["elemental_id"]: dict(row) for row in rows}


def wait_for(read: Callable[[], Any], accept: Callable[[Any], bool], what: str) -> Any:
    """Reads until ``accept`` takes the value, for up to ``SAVE_WAIT`` seconds."""
    deadline = time.monotonic() + SAVE_WAIT
    value = read()
    while not accept(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    assert accept(value), f"{what}; last seen: {value}"
    return value


def test_a_reviewer_edits_in_the_app_then_reviews_pushes_and_settles_conflicts(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator) -> None:
    """The round trip above, checked in the page, in FiftyOne's database and in Tator."""
    page.set_viewport_size(PHONE)
    page.goto(applet_env.render(**applet_env.tparams(version_id="1")))
    page.keyboard.press("Tab")
    expect(page.locator("#token")).to_be_focused()
    page.keyboard.type(tator_emulator.tokens["alice"])
    page.keyboard.press("Enter")
    _accepted(page)

    press_with_keyboard(page, "pull")
    expect(page.locator("#pull-phase")).to_contain_text("succeeded", timeout=LONG)
    pulled = counts(page.locator("#pull-result"))
    assert (pulled["samples"], pulled["labels"], pulled["conflicts"]) == (
        "created 6, updated 0, removed 0", "created 16, updated 0, unchanged 0, removed 0",
        "0"), pulled
    dataset = re.search(r"dataset (\S+)\.", page.locator("#pull-result").inner_text()).group(1)
    shot(page, "pulled")

    with page.context.expect_page(timeout=LONG) as opened:
        press_with_keyboard(page, "open")
    edited = _edit_in_the_app(applet_env, opened.value, dataset, shot)
    mine, theirs, mine_for_all = (edited[kind] for kind in ("box-mine", "box-theirs", "line"))
    for label in (mine, theirs, mine_for_all):
        tator_emulator.api("bob").update_localization(
            label["tator_id"], {"attributes": {"Notes": "changed in Tator by bob"}})
    marks = {eid: row["mark"] for eid, row in tator_latest(tator_emulator).items()}

    press_with_keyboard(page, "review")
    expect(page.locator("#plan")).to_contain_text(
        "update 1, create 0, delete 0, conflict 3", timeout=LONG)
    expect(page.locator("#plan table")).to_contain_text(edited["update"]["tator_elemental_id"])
    assert page.locator("#plan .table-wrap").evaluate(
        "wrap => wrap.scrollWidth <= wrap.clientWidth"), "the plan needs sideways scrolling"
    shot(page, "reviewed")

    page.locator("#pull").click()
    expect(page.locator("#pull-phase")).to_contain_text("succeeded", timeout=LONG)
    assert counts(page.locator("#pull-result"))["conflicts"] == "3"
    expect(page.locator("#conflicts li")).to_have_count(3)
    shot(page, "pulled-conflicts")

    press_with_keyboard(page, "push")
    expect(page.locator("#push-error")).to_contain_text("HTTP 409", timeout=LONG)
    expect(page.locator("#push-error")).to_contain_text("press Review changes again")
    expect(page.locator("#push")).to_be_disabled()
    shot(page, "stale-plan")

    press_with_keyboard(page, "review")
    expect(page.locator("#plan")).to_contain_text(
        "update 1, create 0, delete 0, conflict 3", timeout=LONG)
    press_with_keyboard(page, "push")
    expect(page.locator("#push-result")).to_contain_text("Push applied", timeout=LONG)
    shown = counts(page.locator("#push-result"))
    shown.pop("duration", None)
    assert shown == {"outcome": "applied", "updated": "1", "created": "0", "deleted": "0",
                     "conflicts": "3", "invalid": "0", "failed": "0"}, shown
    update = edited["update"]["tator_elemental_id"]
    assert tator_latest(tator_emulator)[update]["attributes"]["Label"] == "Ctenophore"
    shot(page, "pushed")

    _settle_conflicts(page, shot, mine, theirs, mine_for_all)
    press_with_keyboard(page, "review")
    expect(page.locator("#plan")).to_contain_text(
        "update 2, create 0, delete 0, conflict 0", timeout=LONG)
    press_with_keyboard(page, "push")
    expect(page.locator("#push-result")).to_contain_text("Push applied", timeout=LONG)
    assert counts(page.locator("#push-result"))["updated"] == "2"
    shot(page, "pushed-mine")

    latest = tator_latest(tator_emulator)
    for label, wanted in ((mine, "Diatom"), (mine_for_all, "Salp")):
        row = latest[label["tator_elemental_id"]]
        assert (row["attributes"]["Label"], row["mark"]) == (
            wanted, marks[label["tator_elemental_id"]] + 1), row
    kept = latest[theirs["tator_elemental_id"]]
    assert (kept["attributes"]["Label"], kept["mark"]) == (
        theirs["label"], marks[theirs["tator_elemental_id"]])
    assert media_labels(applet_env, dataset)[theirs["tator_elemental_id"]]["label"] == \
        theirs["label"]


def _edit_in_the_app(env: AppletEnv, app: Page, dataset: str,
                     shot: Callable) -> dict[str, dict[str, Any]]:
    """Relabels four labels of media 1 in the App's Annotate mode; returns them as pulled.

    Keys: ``update`` (a Larvacean box that becomes a Ctenophore), ``box-mine`` (Salp to
    Diatom), ``box-theirs`` (a Copepod box to Unknown) and ``line`` (a Copepod line to Salp).
    """
    before = media_labels(env, dataset)
    by_class = {(label["field"], label["label"]): label for label in before.values()}
    edited = {"update": by_class["boxes", "Larvacean"], "box-mine": by_class["boxes", "Salp"],
              "box-theirs": by_class["boxes", "Copepod"], "line": by_class["lines", "Copepod"]}
    wanted = {"update": "Ctenophore", "box-mine": "Diatom", "box-theirs": "Unknown",
              "line": "Salp"}

    app.get_by_role("button", name="Dismiss").click(timeout=LONG)
    assert f"/apps/1/datasets/{dataset}" in app.url, app.url
    app.goto(f"{app.url}&id={media_sample(env, dataset)['_id']}")
    app.get_by_text("Annotate", exact=True).click(timeout=LONG)
    for kind in ("update", "box-mine", "box-theirs", "line"):
        relabel_in_the_app(app, edited[kind]["label"], wanted[kind])
    wait_for(lambda: {kind: media_labels(env, dataset)[label["tator_elemental_id"]]["label"]
                      for kind, label in edited.items()},
             lambda saved: saved == wanted, "the App's edits did not all reach the dataset")
    shot(app, "app-annotated", full_page=False)
    app.close()
    return edited


def _settle_conflicts(page: Page, shot: Callable, mine: dict, theirs: dict,
                      rest: dict) -> None:
    """Keep mine for one, Take theirs for another, Keep mine for all for the last."""
    status = page.locator("#conflicts-status")
    page.get_by_role("button", name=f"Keep mine for {mine['tator_elemental_id']}").click()
    expect(status).to_contain_text("Kept your version for 1 element(s)", timeout=LONG)
    page.get_by_role("button", name=f"Take theirs for {theirs['tator_elemental_id']}").click()
    expect(status).to_contain_text("Took Tator's version for 1 element(s)", timeout=LONG)
    expect(page.locator("#conflicts li")).to_have_count(1)
    expect(page.locator("#conflicts")).to_contain_text(rest["tator_elemental_id"])
    page.locator("#all-mine").click()
    expect(status).to_contain_text("Kept your version for 1 element(s)", timeout=LONG)
    expect(page.locator("#conflicts li")).to_have_count(0)
    expect(page.locator("#push")).to_be_disabled()
    shot(page, "conflicts-settled")
