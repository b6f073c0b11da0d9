"""Pushes at volume: creates beyond Tator's 500-item limit, bounded geometry concurrency.

Both tests run against the real emulator over HTTP and count what it received: the create
calls and their outcome row by row, and how many geometry PATCHes it was serving at once.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.push import helpers as h

CREATES = 1001
LATENCY = 0.25
CONCURRENCY = 2


def _draw_boxes(fo: Any, count: int) -> list[Any]:
    """Draws ``count`` small, distinct Salp boxes over the three images; returns them."""
    dataset = fo.load_dataset(h.DATASET)
    drawn = []
    for media in (1, 2, 3):
        sample = dataset.match({"tator_media_id": media}).first()
        for n in range(len(drawn), min(count, len(drawn) + math.ceil(count / 3))):
            box = fo.Detection(label="Salp", bounding_box=[
                (n % 40) * 0.024, (n // 40) * 0.035, 0.02, 0.03])
            sample["boxes"].detections.append(box)
            drawn.append(box)
        sample.save()
    assert len(drawn) == count
    return drawn


def _all_marks(tator_emulator: Any) -> list[dict[str, Any]]:
    """Every revision Tator holds in version 1 (all marks, deleted ones too)."""
    api = tator_emulator.api("alice")
    return [dict(r) for r in api.get_localization_list(1, version=[1], show_all_marks=1,
                                                       show_deleted=1)]


def test_over_500_creates_arrive_once_each_in_chunks_of_at_most_500(
        make_ctx, db, fo, tator_emulator):
    """1001 drawn boxes become 1001 Tator elements, one revision each, in 3 create calls.

    Tator refuses a create list of more than 500 items; the push must split the creates
    into ceil(1001 / 500) = 3 calls (a refused call would be halved and show up as more
    calls), and neither a split nor the re-listing afterwards may duplicate an element.
    """
    ctx = make_ctx()
    h.pull(ctx)
    before = {r["elemental_id"] for r in _all_marks(tator_emulator)}
    drawn = _draw_boxes(fo, CREATES)
    planned = h.plan(ctx)
    assert planned["counts"]["create"] == CREATES and planned["total"] == CREATES
    tator_emulator.reset_calls()

    result = h.apply(ctx, planned["plan_id"])

    assert (result["created"], result["failed"], result["outcome"]) == (CREATES, 0, "applied")
    assert tator_emulator.calls["CreateLocalizationList"] == math.ceil(CREATES / 500) == 3
    new = [r for r in _all_marks(tator_emulator) if r["elemental_id"] not in before]
    assert len(new) == CREATES
    assert len({r["elemental_id"] for r in new}) == CREATES
    assert {r["mark"] for r in new} == {0}
    labels = {eid: label for eid, (_, label) in h.boxes(db).items() if eid not in before}
    assert set(labels) == {r["elemental_id"] for r in new}
    for row in new:
        label = labels[row["elemental_id"]]
        assert label["tator_id"] == row["id"] and label["tator_mark"] == 0
        assert [row[k] for k in ("x", "y", "width", "height")] == pytest.approx(
            label["bounding_box"])
    assert sorted(lb["bounding_box"][:2] for lb in labels.values()) == sorted(
        d.bounding_box[:2] for d in drawn)
    assert h.plan(ctx)["total"] == 0


class InFlight:
    """Counts the geometry PATCHes (``PATCH /rest/Localization/{id}``) the emulator serves.

    Wraps the emulator's request dispatch, so a request counts from the moment the emulator
    takes it (before the injected latency) until its answer is ready.
    """

    def __init__(self, dispatch: Any) -> None:
        self.dispatch = dispatch
        self.now = 0
        self.peak = 0
        self.seen = 0

    async def __call__(self, request: Any, template: str) -> Any:
        if request.method != "PATCH" or template != "/rest/Localization/{id}":
            return await self.dispatch(request, template)
        self.now += 1
        self.seen += 1
        self.peak = max(self.peak, self.now)
        try:
            return await self.dispatch(request, template)
        finally:
            self.now -= 1


def test_geometry_edits_never_have_more_than_the_bound_in_flight_at_tator(
        make_ctx, db, fo, tator_emulator, settings, monkeypatch):
    """With Tator slowed, ``push_geometry_concurrency=2`` keeps exactly 2 PATCHes in flight.

    Each geometry PATCH takes at least 0.25 s at the emulator, so nine of them sent with a
    looser bound (or none) would overlap more than 2 deep, and sent one by one they would
    never overlap. The peak the emulator saw must be the bound itself, and every move must
    still land.
    """
    ctx = make_ctx(settings=settings.model_copy(
        update={"push_geometry_concurrency": CONCURRENCY}))
    h.pull(ctx)
    dataset = fo.load_dataset(h.DATASET)
    moved = {}
    for media in (1, 2, 3):
        sample = dataset.match({"tator_media_id": media}).first()
        for n, det in enumerate(sample["boxes"].detections):
            det.bounding_box = [0.1 + 0.2 * n, 0.05 * media, 0.1, 0.1]
            moved[det.tator_elemental_id] = det.bounding_box
        sample.save()
    planned = h.plan(ctx)
    assert planned["counts"]["update"] == len(moved) == 9
    emulator = tator_emulator.server.emulator
    in_flight = InFlight(emulator.dispatch)
    monkeypatch.setattr(emulator, "dispatch", in_flight)
    tator_emulator.faults.add("UpdateLocalization", latency=LATENCY)

    result = h.apply(ctx, planned["plan_id"])

    assert (result["updated"], result["failed"], result["conflicts"]) == (9, 0, 0)
    assert in_flight.seen == 9 and in_flight.now == 0
    assert in_flight.peak == CONCURRENCY
    rows = h.tator_latest(tator_emulator)
    for eid, box in moved.items():
        assert [rows[eid][k] for k in ("x", "y", "width", "height")] == pytest.approx(box)
