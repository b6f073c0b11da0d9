"""Conflicts and their resolutions, interrupted pushes, stale plans and call counts."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.push import helpers as h


def _image_sample(fo: Any, media: int) -> Any:
    return fo.load_dataset(h.DATASET).match({"tator_media_id": media}).first()


def _tator_edit(tator_emulator: Any, eid: str, **changes: Any) -> dict:
    row = h.tator_latest(tator_emulator)[eid]
    return tator_emulator.store.patch_localization(row["id"], user="bob", **changes)


def test_edit_of_an_element_changed_in_tator_is_a_conflict_then_theirs(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    sample = _image_sample(fo, 1)
    det = sample["boxes"].detections[0]
    eid = det.tator_elemental_id
    det.label = "Salp"
    sample.save()
    _tator_edit(tator_emulator, eid, attributes={"Label": "Diatom"})

    planned = h.plan(ctx)
    assert planned["counts"]["conflict"] == 1 and planned["total"] == 1
    conflict = h.plan_items(db, planned["plan_id"])[0]
    assert conflict.elemental_id == eid and "changed in Tator" in conflict.reason
    result = h.apply(ctx, planned["plan_id"])
    assert result["conflicts"] == 1 and result["updated"] == 0
    assert h.tator_latest(tator_emulator)[eid]["attributes"]["Label"] == "Diatom"

    from fiftyone_sync.push.jobs import resolve_body

    resolved = resolve_body(ctx, {"elemental_ids": [eid], "choice": "theirs"})
    assert resolved["resolved"] == 1
    assert h.boxes(db)[eid][1]["label"] == "Diatom"
    assert h.plan(ctx)["total"] == 0
    assert h.pull(ctx).to_dict()["labels"]["updated"] == 0


def test_an_edit_tator_already_holds_is_recorded_not_a_conflict_nor_sent_again(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    sample = _image_sample(fo, 1)
    det = sample["boxes"].detections[0]
    eid = det.tator_elemental_id
    det.label = "Diatom"
    sample.save()
    _tator_edit(tator_emulator, eid, attributes={"Label": "Diatom"})
    theirs = h.tator_latest(tator_emulator)[eid]

    planned = h.plan(ctx)
    [item] = h.plan_items(db, planned["plan_id"])
    assert planned["counts"]["conflict"] == 0
    assert item.elemental_id == eid and "already holds these values" in item.reason
    assert (item.base_id, item.base_mark) == (theirs["id"], theirs["mark"])
    h.apply(ctx, planned["plan_id"])

    assert h.tator_latest(tator_emulator)[eid]["mark"] == theirs["mark"], "sent again"
    assert h.boxes(db)[eid][1]["tator_mark"] == theirs["mark"]
    assert h.plan(ctx)["total"] == 0
    assert h.pull(ctx).to_dict()["labels"]["updated"] == 0


def test_keep_mine_overwrites_tators_newer_revision_knowingly(make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    sample = _image_sample(fo, 1)
    dets = sample["boxes"].detections
    edited, deleted = dets[0].tator_elemental_id, dets[1].tator_elemental_id
    dets[0].bounding_box = [0.3, 0.3, 0.2, 0.2]
    dets.pop(1)
    sample.save()
    _tator_edit(tator_emulator, edited, attributes={"Notes": "bob was here"})
    _tator_edit(tator_emulator, deleted, x=0.01)
    assert h.plan(ctx)["counts"]["conflict"] == 2

    from fiftyone_sync.push.jobs import resolve_body

    assert resolve_body(ctx, {"elemental_ids": "all", "choice": "mine"})["resolved"] == 2
    result = h.push(ctx)

    assert (result["updated"], result["deleted"], result["conflicts"]) == (1, 1, 0)
    rows = h.tator_latest(tator_emulator)
    assert math.isclose(rows[edited]["x"], 0.3) and deleted not in rows
    assert h.plan(ctx)["total"] == 0


def test_tator_change_after_the_plan_becomes_a_conflict_at_apply(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    sample = _image_sample(fo, 1)
    dets = sample["boxes"].detections
    bulk, single = dets[0].tator_elemental_id, dets[1].tator_elemental_id
    dets[0]["Reviewed"] = True
    dets[1].bounding_box = [0.5, 0.5, 0.1, 0.1]
    sample.save()
    planned = h.plan(ctx)
    assert planned["counts"]["update"] == 2
    _tator_edit(tator_emulator, bulk, attributes={"Label": "Salp"})
    _tator_edit(tator_emulator, single, attributes={"Label": "Salp"})

    result = h.apply(ctx, planned["plan_id"])

    assert result["conflicts"] == 2 and result["updated"] == 0 and result["failed"] == 0
    rows = h.tator_latest(tator_emulator)
    assert rows[bulk]["attributes"]["Reviewed"] is False
    assert not math.isclose(rows[single]["x"], 0.5)


def _add_boxes(fo: Any, count: int) -> None:
    sample = _image_sample(fo, 3)
    for n in range(count):
        sample["boxes"].detections.append(
            fo.Detection(label="Salp", bounding_box=[0.05 * n, 0.7, 0.04, 0.04]))
    sample.save()


def test_push_interrupted_by_a_fault_and_run_again_adds_no_duplicate(
        make_ctx, db, fo, tator_emulator, settings):
    ctx = make_ctx(settings=settings.model_copy(update={"push_chunk_size": 2}))
    h.pull(ctx)
    before = len(h.tator_latest(tator_emulator))
    _add_boxes(fo, 5)
    tator_emulator.faults.add("CreateLocalizationList", status=500, after=1, times=1)

    first = h.push(ctx)
    assert (first["created"], first["failed"], first["outcome"]) == (3, 2, "partial")
    assert "500" in first["items"]["failed"][0]["reason"]
    second = h.push(ctx)

    assert second["created"] == 2 and second["failed"] == 0
    rows = h.tator_latest(tator_emulator)
    assert len(rows) == before + 5
    assert h.plan(ctx)["total"] == 0


def test_creates_sent_but_not_recorded_are_adopted_not_resent(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    before = len(h.tator_latest(tator_emulator))
    _add_boxes(fo, 3)
    planned = h.plan(ctx)
    tator_emulator.faults.add("GetLocalizationListById", status=500, times=1)

    first = h.apply(ctx, planned["plan_id"])
    assert first["failed"] == 3 and first["outcome"] == "partial"
    assert "re-listing" in first["items"]["failed"][0]["reason"]
    tator_emulator.reset_calls()
    second = h.push(ctx)

    assert second["created"] == 3 and tator_emulator.calls.get("CreateLocalizationList") is None
    assert len(h.tator_latest(tator_emulator)) == before + 3
    assert h.plan(ctx)["total"] == 0


def test_plan_applied_after_the_dataset_changed_is_refused(make_ctx, db, fo, tator_emulator):
    from fiftyone_sync.push.plan import PlanStale

    ctx = make_ctx()
    h.pull(ctx)
    sample = _image_sample(fo, 1)
    sample["boxes"].detections[0].label = "Salp"
    sample.save()
    planned = h.plan(ctx)
    sample["boxes"].detections[1].label = "Diatom"
    sample.save()
    tator_emulator.reset_calls()

    with pytest.raises(PlanStale, match="changed since this push plan"):
        h.apply(ctx, planned["plan_id"])
    assert not {"UpdateLocalizationList", "UpdateLocalization"} & set(tator_emulator.calls)

    again = h.plan(ctx)
    assert h.apply(ctx, again["plan_id"])["updated"] == 2
    with pytest.raises(PlanStale, match="not ready"):
        h.apply(ctx, again["plan_id"])


def test_call_counts_are_groups_plus_chunks_plus_geometry_edits(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    first, second = _image_sample(fo, 1), _image_sample(fo, 2)
    a = first["boxes"].detections
    b = second["boxes"].detections
    a[0].label, b[0].label = "Unknown", "Unknown"
    a[1].label = "Ctenophore"
    a[2]["Reviewed"], b[1]["Reviewed"] = True, True
    b[2].bounding_box = [0.4, 0.4, 0.1, 0.1]
    first.save()
    second.save()
    third = _image_sample(fo, 3)
    third["boxes"].detections = third["boxes"].detections[1:]
    third.save()
    video = fo.load_dataset(h.DATASET).match({"tator_media_id": 4, "frame": 0}).first()
    video["boxes"].detections = []
    video.save()
    _add_boxes(fo, 2)
    planned = h.plan(ctx)
    tator_emulator.reset_calls()

    result = h.apply(ctx, planned["plan_id"])

    assert (result["updated"], result["created"], result["deleted"]) == (6, 2, 2)
    calls = tator_emulator.calls
    assert calls.pop("UpdateLocalizationList") == 3
    assert calls.pop("CreateLocalizationList") == 1
    assert calls.pop("DeleteLocalizationList") == 1
    assert calls.pop("UpdateLocalization") == 1
    assert calls.pop("GetLocalizationListById") == 2
    assert calls == {}


def test_push_that_writes_nothing_and_fails_is_a_failure_not_a_success(
        make_ctx, db, fo, tator_emulator):
    from fiftyone_sync.push.apply import PushFailed

    ctx = make_ctx()
    h.pull(ctx)
    before = len(h.tator_latest(tator_emulator))
    _add_boxes(fo, 2)
    planned = h.plan(ctx)
    tator_emulator.faults.add("CreateLocalizationList", status=503)

    with pytest.raises(PushFailed, match="nothing was written to Tator; 2 change"):
        h.apply(ctx, planned["plan_id"])
    assert len(h.tator_latest(tator_emulator)) == before
