"""Edits made through the real FiftyOne App route and the Python API, pushed to the emulator.

Each test pulls the standard emulator project (three 640x480 images with three boxes each, a
30-frame video with boxes on frames 0, 5 and 10), edits, pushes, and reads Tator's rows.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.push import helpers as h


def _first_image_boxes(db: Any) -> tuple[dict, list[dict]]:
    sample = h.samples(db)[(1, 0)]
    return sample, sample["boxes"]["detections"]


def test_app_relabel_move_resize_attribute_add_delete(make_ctx, db, app_server, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    before = h.tator_latest(tator_emulator)
    sample, labels = _first_image_boxes(db)
    a, b, c = (lb["tator_elemental_id"] for lb in labels)
    ops = [
        {"op": "replace", "path": "/boxes/detections/0/label", "value": "Salp"},
        {"op": "replace", "path": "/boxes/detections/1/bounding_box/0", "value": 0.4},
        {"op": "replace", "path": "/boxes/detections/1/bounding_box/2", "value": 0.05},
        {"op": "replace", "path": "/boxes/detections/2/Notes", "value": "2024-01-01"},
        {"op": "add", "path": "/boxes/detections/-", "value": {
            "_cls": "Detection", "label": "Diatom", "bounding_box": [0.6, 0.6, 0.1, 0.1],
            "_id": {"$oid": "6b11aec1ba49ed8f39f42bd0"}}},
    ]
    h.app_patch(app_server, db, sample, ops)
    other = h.samples(db)[(2, 0)]
    gone = other["boxes"]["detections"][0]["tator_elemental_id"]
    h.app_patch(app_server, db, other, [{"op": "remove", "path": "/boxes/detections/0"}])
    tagged = h.samples(db)[(3, 0)]
    h.app_patch(app_server, db, tagged,
                [{"op": "add", "path": "/boxes/detections/0/tags/-", "value": "checked"}])

    planned = h.plan(ctx)
    assert planned["counts"] == {"update": 3, "create": 1, "delete": 1, "conflict": 0,
                                 "invalid": 0}
    tator_emulator.reset_calls()
    result = h.apply(ctx, planned["plan_id"])

    assert (result["updated"], result["created"], result["deleted"]) == (3, 1, 1)
    assert result["failed"] == result["conflicts"] == 0 and result["outcome"] == "applied"
    after = h.tator_latest(tator_emulator)
    assert after[a]["attributes"]["Label"] == "Salp"
    assert after[a]["mark"] == before[a]["mark"] + 1 and after[a]["id"] != before[a]["id"]
    assert math.isclose(after[b]["x"], 0.4) and math.isclose(after[b]["width"], 0.05)
    assert after[b]["attributes"] == before[b]["attributes"]
    assert after[c]["attributes"]["Notes"] == "2024-01-01"
    assert gone not in after
    new = [r for eid, r in after.items() if eid not in before]
    assert len(new) == 1 and new[0]["attributes"]["Label"] == "Diatom"
    assert new[0]["media"] == 1 and new[0]["frame"] == 0
    assert math.isclose(new[0]["x"], 0.6)

    labels = h.boxes(db)
    assert labels[c][1]["Notes"] == "2024-01-01"
    assert labels[a][1]["tator_id"] == after[a]["id"]
    assert labels[a][1]["tator_mark"] == after[a]["mark"]
    assert labels[new[0]["elemental_id"]][1]["tator_id"] == new[0]["id"]
    assert h.plan(ctx)["total"] == 0
    assert h.pull(ctx).to_dict()["labels"]["updated"] == 0


def test_delete_all_boxes_of_a_sample_empty_and_none_and_a_whole_sample(
        make_ctx, db, app_server, tator_emulator, fo):
    ctx = make_ctx()
    h.pull(ctx)
    samples = h.samples(db)
    emptied = [lb["tator_elemental_id"] for lb in samples[(1, 0)]["boxes"]["detections"]]
    nulled = [lb["tator_elemental_id"] for lb in samples[(2, 0)]["boxes"]["detections"]]
    removed = [lb["tator_elemental_id"] for lb in samples[(3, 0)]["boxes"]["detections"]]
    h.app_patch(app_server, db, samples[(1, 0)],
                [{"op": "replace", "path": "/boxes/detections", "value": []}])
    dataset = fo.load_dataset(h.DATASET)
    sample = dataset[str(samples[(2, 0)]["_id"])]
    sample["boxes"] = None
    sample.save()
    dataset.delete_samples([str(samples[(3, 0)]["_id"])])

    tator_emulator.reset_calls()
    result = h.push(ctx)

    assert result["deleted"] == len(emptied + nulled + removed) == 9
    assert tator_emulator.calls.get("DeleteLocalizationList") == 1
    alive = h.tator_latest(tator_emulator)
    assert not set(emptied + nulled + removed) & set(alive)
    deleted = h.tator_latest(tator_emulator, show_deleted=True)
    assert all(deleted[e]["variant_deleted"] for e in emptied + nulled + removed)
    assert h.plan(ctx)["total"] == 0


def test_video_frame_box_created_on_its_media_and_zero_based_frame(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    dataset = fo.load_dataset(h.DATASET)
    sample = dataset.match({"tator_media_id": 4, "frame": 5}).first()
    sample["boxes"].detections.append(fo.Detection(label="Salp",
                                                   bounding_box=[0.1, 0.1, 0.2, 0.2]))
    sample.save()

    result = h.push(ctx)

    assert result["created"] == 1
    row = next(r for r in h.tator_latest(tator_emulator).values()
               if r["media"] == 4 and r["attributes"]["Label"] == "Salp" and r["frame"] == 5)
    assert row["version"] == 1 and row["type"] == 1


def test_invalid_class_wrong_case_and_bad_value_leave_tator_untouched(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    before = h.tator_latest(tator_emulator)
    dataset = fo.load_dataset(h.DATASET)
    sample = dataset.match({"tator_media_id": 1}).first()
    dets = sample["boxes"].detections
    dets[0].label = "Siphonophore"
    dets[1].label = "copepod"
    sample.save()
    name = db["datasets"].find_one({"name": h.DATASET})["sample_collection_name"]
    db[name].update_one({"_id": sample._id}, {"$set": {"boxes.detections.2.Count": "many"}})
    other = dataset.match({"tator_media_id": 2}).first()
    other["boxes"].detections[0].bounding_box = [0.2, 0.2, 0.0, 0.1]
    other["boxes"].detections[1].bounding_box = [1.2, 0.2, 0.1, 0.1]
    other.save()

    planned = h.plan(ctx)
    assert planned["counts"]["invalid"] == 5 and planned["total"] == 5
    reasons = " | ".join(i.reason for i in h.plan_items(db, planned["plan_id"]))
    assert "'Siphonophore' is not one of the choices" in reasons
    assert "did you mean 'Copepod'" in reasons
    assert "Count (int) holds 'many'" in reasons
    assert "empty box" in reasons and "wholly outside the image" in reasons
    result = h.apply(ctx, planned["plan_id"])

    assert result["invalid"] == 5 and result["outcome"] == "nothing_to_do"
    assert h.tator_latest(tator_emulator) == before


def test_f12_box_overshooting_the_edge_is_clamped_not_refused(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    dataset = fo.load_dataset(h.DATASET)
    sample = dataset.match({"tator_media_id": 1}).first()
    dets = sample["boxes"].detections
    a, b = dets[0].tator_elemental_id, dets[1].tator_elemental_id
    dets[0].bounding_box = [0.952084, 0.1, 0.047917, 0.1]
    dets[1].bounding_box = [-0.003, 0.2, 0.1, 0.1]
    sample.save()

    result = h.push(ctx)

    assert result["updated"] == 2 and result["failed"] == 0
    rows = h.tator_latest(tator_emulator)
    assert rows[a]["x"] + rows[a]["width"] <= 1.0
    assert abs(rows[a]["width"] - 0.047917) * 640 < 1
    assert rows[b]["x"] == 0 and math.isclose(rows[b]["width"], 0.097)
    assert h.boxes(db)[b][1]["bounding_box"][0] == 0
    assert h.plan(ctx)["total"] == 0


def test_f5_two_labels_with_one_identity_are_invalid_never_merged(
        make_ctx, db, fo, tator_emulator):
    ctx = make_ctx()
    h.pull(ctx)
    before = h.tator_latest(tator_emulator)
    dataset = fo.load_dataset(h.DATASET)
    source = dataset.match({"tator_media_id": 1}).first()
    copy = source["boxes"].detections[0].copy()
    copy.label = "Salp"
    target = dataset.match({"tator_media_id": 2}).first()
    target["boxes"].detections.append(copy)
    target.save()

    planned = h.plan(ctx)

    items = h.plan_items(db, planned["plan_id"])
    assert [i.kind for i in items] == ["invalid", "invalid"]
    assert "2 labels carry the identity" in items[0].reason
    assert h.apply(ctx, planned["plan_id"])["invalid"] == 2
    assert h.tator_latest(tator_emulator) == before


def _frame_index_shown(filepath: str) -> int:
    """The index the emulator's video drew into the frame picture a sample shows."""
    import numpy as np
    from PIL import Image

    from fiftyone_sync.emulators.tator.drawing import read_frame_index

    with Image.open(filepath) as picture:
        return read_frame_index(np.array(picture.convert("RGB")))


def test_f1_box_moved_on_the_fifteenth_frame_lands_on_tator_frame_14(
        make_ctx, db, fo, tator_emulator):
    """F1: a geometry edit on a video frame keeps its media and its 0-based frame.

    The video gets boxes on frames 14 and 29 (the 15th and the last of 30 frames). The
    sample of the 15th frame must show the picture of Tator frame 14; moving its box and
    resizing the last frame's box must land on frames 14 and 29 of the same media, as new
    revisions of the same elements, with nothing written on frames 13, 15 or 30.
    """
    specs = [{"media_id": 4, "type": 1, "version": 1, "frame": frame, "x": 0.3, "y": 0.3,
              "width": 0.2, "height": 0.2, "attributes": {"Label": "Copepod"}}
             for frame in (14, 29)]
    tator_emulator.store.create_localizations(1, specs, "alice")
    ctx = make_ctx()
    h.pull(ctx)
    dataset = fo.load_dataset(h.DATASET)
    fifteenth = dataset.match({"tator_media_id": 4, "frame": 14}).first()
    last = dataset.match({"tator_media_id": 4, "frame": 29}).first()
    assert _frame_index_shown(fifteenth.filepath) == 14
    assert _frame_index_shown(last.filepath) == 29
    moved = fifteenth["boxes"].detections[0]
    resized = last["boxes"].detections[0]
    before = h.tator_latest(tator_emulator)
    moved.bounding_box = [0.55, 0.6, 0.2, 0.2]
    resized.bounding_box = [0.3, 0.3, 0.35, 0.1]
    fifteenth.save()
    last.save()

    result = h.push(ctx)

    assert (result["updated"], result["created"], result["failed"]) == (2, 0, 0)
    after = h.tator_latest(tator_emulator)
    for label, frame in ((moved, 14), (resized, 29)):
        row, old = after[label.tator_elemental_id], before[label.tator_elemental_id]
        assert (row["media"], row["frame"], row["version"]) == (4, frame, 1)
        assert row["mark"] == old["mark"] + 1 and row["id"] != old["id"]
        assert [row[k] for k in ("x", "y", "width", "height")] == pytest.approx(
            label.bounding_box)
    frames = sorted(r["frame"] for r in after.values() if r["media"] == 4 and r["type"] == 1)
    assert frames == [0, 5, 10, 14, 29]
    assert h.plan(ctx)["total"] == 0
