"""Incremental pull rules (DESIGN.md section 6) beyond the basics of test_pull.py: deleted
media, ``force``, a sync state from a newer release, an App edit that lands while the
pull is writing (reference/fiftyone.md section 2.4), and saved patches views kept current.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.dataset.helpers import DATASET, labels, modified, pull, tator_locs

STATE = "tator_sync_state"


def _element(db: Any, eid: str) -> dict:
    return db[STATE].find_one({"_id": f"{DATASET}:e:{eid}"})


def _relabel(fo: Any, eid: str, value: str) -> None:
    """Edits one pulled label in FiftyOne, by id, as the App's Annotate mode would."""
    _, field, label = labels(fo)[eid]
    list_key = {"boxes": "detections", "dots": "keypoints"}.get(field, "polylines")
    fo.load_dataset(DATASET).set_label_values(f"{field}.{list_key}.label", {label.id: value})


def test_media_deleted_in_tator_leaves_the_dataset_unless_its_labels_were_edited(
        fo, make_ctx, tator_emulator):
    pull(make_ctx)
    locs = tator_locs(tator_emulator)
    kept = next(loc for loc in locs if loc["media"] == 3)["elemental_id"]
    _relabel(fo, kept, "Ctenophore")
    tator_emulator.store.delete_media(2)
    tator_emulator.store.delete_media(3)

    result = pull(make_ctx)
    again = pull(make_ctx)

    dataset = fo.load_dataset(DATASET)
    assert sorted(set(dataset.values("tator_media_id"))) == [1, 3, 4]
    assert result.samples_removed == 1 and result.labels_removed == 3 + 2
    assert result.conflicts == [kept] and again.conflicts == [kept]
    sample, _, label = labels(fo)[kept]
    assert sample.tator_media_id == 3 and label.label == "Ctenophore"
    assert "tator:conflict" in label.tags
    assert len(dataset.match({"tator_media_id": 3}).first().boxes.detections) == 1
    assert again.labels_removed == 0 and again.samples_removed == 0


def test_force_rereads_unchanged_marks_but_keeps_unpushed_fiftyone_edits(
        fo, make_ctx, tator_emulator, clean_db):
    pull(make_ctx)
    boxes = [loc for loc in tator_locs(tator_emulator) if loc["type"] == 1]
    in_place = next(loc for loc in boxes if loc["media"] == 1)
    edited = next(loc for loc in boxes if loc["media"] == 2)
    row = tator_emulator.store.get_localization(in_place["id"])
    row.attributes = {**row.attributes, "Label": "Diatom"}
    _relabel(fo, edited["elemental_id"], "Ctenophore")
    edited_state = _element(clean_db, edited["elemental_id"])
    before = modified(fo)

    plain = pull(make_ctx)
    assert plain.labels_unchanged == 16 and plain.labels_updated == 0
    assert labels(fo)[in_place["elemental_id"]][2].label == in_place["attributes"]["Label"]

    forced = pull(make_ctx, force=True)

    after = labels(fo)
    assert after[in_place["elemental_id"]][2].label == "Diatom"
    assert after[edited["elemental_id"]][2].label == "Ctenophore"
    assert (forced.labels_updated, forced.labels_unchanged, forced.conflict_count) == \
        (1, 15, 0)
    assert "tator:conflict" not in after[edited["elemental_id"]][2].tags
    assert _element(clean_db, edited["elemental_id"]) == edited_state
    changed = {s for s, when in modified(fo).items() if before[s] != when}
    assert changed == {after[in_place["elemental_id"]][0].id}


def test_a_sync_state_from_a_newer_release_is_refused_and_nothing_is_written(
        fo, make_ctx, tator_emulator, clean_db):
    from fiftyone_sync.dataset.sync_state import SCHEMA_VERSION, SyncStateError

    pull(make_ctx)
    clean_db[STATE].update_one({"_id": f"dataset:{DATASET}"},
                               {"$set": {"schema_version": SCHEMA_VERSION + 1}})
    loc = tator_locs(tator_emulator)[0]
    tator_emulator.store.patch_localization(loc["id"], user="bob",
                                            attributes={"Label": "Diatom"})
    tator_emulator.store.delete_media(3)
    before = modified(fo)
    state = list(clean_db[STATE].find({}, sort=[("_id", 1)]))

    with pytest.raises(SyncStateError, match="newer release of this service"):
        pull(make_ctx)

    assert modified(fo) == before
    assert list(clean_db[STATE].find({}, sort=[("_id", 1)])) == state


def test_saving_the_dataset_state_never_downgrades_a_newer_schema_version(fo, clean_db):
    from fiftyone_sync.dataset.sync_state import SCHEMA_VERSION, SyncState, SyncStateError

    newer = {"_id": f"dataset:{DATASET}", "kind": "dataset", "dataset": DATASET,
             "schema_version": SCHEMA_VERSION + 1, "writing": False}
    clean_db[STATE].insert_one(dict(newer))

    with pytest.raises(SyncStateError, match=f"schema version {SCHEMA_VERSION + 1}"):
        SyncState(clean_db).save_dataset(DATASET, writing=True)

    assert clean_db[STATE].find_one({"_id": newer["_id"]}) == newer


def test_an_app_edit_saved_between_the_check_and_the_write_is_kept_as_a_conflict(
        fo, make_ctx, tator_emulator, clean_db, monkeypatch):
    """The conflict check reads the labels, then the App saves edits, then the pull writes:
    the update, the removal and the move must each find the App's values and stand back."""
    from fiftyone_sync.dataset.write_step import WriteStep

    pull(make_ctx)
    store = tator_emulator.store
    locs = tator_locs(tator_emulator)
    updated = next(loc for loc in locs if loc["media"] == 2)
    deleted = next(loc for loc in locs if loc["media"] == 3)
    moved = next(loc for loc in locs if loc["media"] == 4 and loc["frame"] == 0)
    untouched = next(loc for loc in locs if loc["media"] == 1 and loc["type"] == 1)
    store.patch_localization(updated["id"], user="bob", attributes={"Label": "Diatom"})
    store.delete_localization(deleted["id"], user="bob")
    store.patch_localization(moved["id"], user="bob", frame=7)
    store.patch_localization(untouched["id"], user="bob", x=0.3)
    raced = [loc["elemental_id"] for loc in (updated, deleted, moved)]
    states = {eid: _element(clean_db, eid) for eid in raced}
    check = WriteStep._detect_conflicts

    def check_then_the_app_saves(step: WriteStep) -> None:
        check(step)
        for eid in raced:
            _relabel(fo, eid, "Ctenophore")

    monkeypatch.setattr(WriteStep, "_detect_conflicts", check_then_the_app_saves)
    result = pull(make_ctx)
    monkeypatch.undo()

    assert sorted(result.conflicts) == sorted(raced) and result.conflict_count == 3
    assert (result.labels_updated, result.labels_removed) == (1, 0)
    found = labels(fo)
    for eid in raced:
        assert found[eid][2].label == "Ctenophore" and "tator:conflict" in found[eid][2].tags
        assert _element(clean_db, eid) == states[eid]
    assert (found[moved["elemental_id"]][0].frame, len(found)) == (0, 16)
    assert found[untouched["elemental_id"]][2].bounding_box[0] == 0.3
    frame_7 = fo.load_dataset(DATASET).match({"tator_media_id": 4, "frame": 7}).first()
    assert not frame_7.boxes.detections, "the moved copy is taken back; the frame stays"
    assert sorted(pull(make_ctx).conflicts) == sorted(raced)


def test_saved_patches_views_show_the_labels_of_the_latest_pull(fo, make_ctx, tator_emulator):
    pull(make_ctx)
    dataset = fo.load_dataset(DATASET)
    assert len(dataset.load_saved_view("boxes_patches")) == 12
    tator_emulator.store.create_localizations(1, [{
        "media_id": 2, "type": 1, "version": 1, "frame": 0, "x": 0.1, "y": 0.1, "width": 0.2,
        "height": 0.2, "attributes": {"Label": "Salp"}}], user="bob")

    pull(make_ctx)

    dataset = fo.load_dataset(DATASET)
    patches = dataset.load_saved_view("boxes_patches")
    assert len(patches) == 13 and "Salp" in patches.distinct("boxes.label")
    assert len(dataset.load_saved_view("dots_patches")) == 2
