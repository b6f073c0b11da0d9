"""The pull job body against the Tator emulator (real HTTP) and a real mongod.

The standard emulator project (tests/fixtures/tator.py) has three 640x480 images with boxes,
a dot, a line and a poly on the first one, and a 30-frame video whose frame i shows the
number i, with boxes on frames 0, 5 and 10 and a dot on frame 5.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fiftyone_sync.emulators.tator import drawing
from tests.dataset.helpers import DATASET, DTYPES, FIELDS
from tests.dataset.helpers import labels as _labels
from tests.dataset.helpers import modified as _modified
from tests.dataset.helpers import pull as _pull
from tests.dataset.helpers import tator_locs as _tator_locs


def _attr(label: Any, name: str) -> Any:
    """A label attribute, or None when the label does not carry it."""
    try:
        return label[name]
    except KeyError:
        return None


def _expected_geometry(loc: dict) -> dict[str, Any]:
    dtype = DTYPES[loc["type"]]
    if dtype == "box":
        return {"bounding_box": [loc["x"], loc["y"], loc["width"], loc["height"]]}
    if dtype == "dot":
        return {"points": [[loc["x"], loc["y"]]]}
    if dtype == "line":
        return {"points": [[[loc["x"], loc["y"]],
                            [loc["x"] + loc["u"], loc["y"] + loc["v"]]]], "closed": False,
                "filled": False}
    return {"points": [[list(p) for p in loc["points"]]], "closed": True, "filled": False}


def test_pull_maps_every_shape_attribute_and_identity(fo, make_ctx, tator_emulator):
    progress: list = []
    from fiftyone_sync.dataset.pull import PullRequest, pull

    result = pull(make_ctx(progress=progress), PullRequest(version_id=1))
    locs = _tator_locs(tator_emulator)
    labels = _labels(fo)
    dataset = fo.load_dataset(DATASET)

    assert result.labels_created == len(locs) == len(labels) == 16
    assert result.samples_created == 6 and len(dataset) == 6
    assert {p[0] for p in progress} >= {"listing", "downloading", "writing"}
    for loc in locs:
        sample, field, label = labels[loc["elemental_id"]]
        dtype = DTYPES[loc["type"]]
        assert field == FIELDS[dtype][0]
        for key, value in _expected_geometry(loc).items():
            assert label[key] == value, (dtype, key)
        attrs = loc["attributes"]
        assert label.label == attrs["Label"]
        if dtype == "dot":
            assert _attr(label, "Confidence") == attrs.get("Confidence")
        else:
            assert label.confidence == attrs.get("Confidence")
        for name in ("Reviewed", "Count", "Notes"):
            assert _attr(label, name) == attrs.get(name)
        if "Observed" in attrs:
            assert attrs["Observed"].endswith("Z")
            observed = dt.datetime.fromisoformat(attrs["Observed"].replace("Z", "+00:00"))
            assert label["Observed"].replace(tzinfo=dt.timezone.utc) == observed
        assert (label.tator_id, label.tator_mark, label.tator_version, label.tator_type,
                label.tator_elemental_id) == (loc["id"], loc["mark"], 1, loc["type"],
                                              loc["elemental_id"])
        assert label.tator_url == (
            f"{tator_emulator.url}/1/annotation/{loc['media']}?selected_entity="
            f"{loc['elemental_id']}&selected_type={loc['type']}&version=1&frame={loc['frame']}")
        assert (sample.tator_media_id, sample.frame) == (loc["media"], loc["frame"])

    image = dataset.match({"tator_media_id": 1}).first()
    assert (image.tator_media_name, image.tator_media_type) == ("plankton_000.png", "image")
    assert image.tator_media_attributes == {"Site": "Monterey"}
    assert image.tator_url == f"{tator_emulator.url}/1/annotation/1?version=1&frame=0"
    assert (image.metadata.width, image.metadata.height) == (640, 480)
    assert Image.open(image.filepath).size == (640, 480)
    assert "0-based" in dataset.get_field("frame").description
    assert dataset.info["tator"]["project_name"] == "Test Project"
    assert dataset.info["tator"]["version_name"] == "Baseline"
    assert dataset.get_field("boxes.detections.Observed") is not None
    assert isinstance(dataset.get_field("boxes.detections.Count"), fo.IntField)
    schemas = dataset.label_schemas
    assert schemas["boxes"]["classes"] == ["Copepod", "Salp", "Larvacean", "Diatom",
                                           "Ctenophore", "Unknown"]
    assert {"name": "tator_id", "type": "int", "component": "text", "read_only": True} in \
        schemas["boxes"]["attributes"]
    assert "dots" not in schemas
    assert set(dataset.list_saved_views()) == {"boxes_patches", "dots_patches",
                                               "lines_patches", "polys_patches"}
    assert len(dataset.load_saved_view("boxes_patches")) == 12


def test_repull_without_changes_writes_and_downloads_nothing(fo, make_ctx, tator_emulator):
    _pull(make_ctx)
    before = _modified(fo)
    dataset_modified = fo.load_dataset(DATASET).last_modified_at
    tator_emulator.reset_calls()

    result = _pull(make_ctx)

    assert _modified(fo) == before
    assert fo.load_dataset(DATASET).last_modified_at == dataset_modified
    assert result.labels_unchanged == 16 and result.downloads == 0
    assert (result.labels_created, result.labels_updated, result.labels_removed) == (0, 0, 0)
    calls = tator_emulator.calls
    assert not any(calls.get(op) for op in ("GetDownloadInfo", "DownloadObject", "GetFrame"))


def test_repull_applies_exactly_the_tator_changes(fo, make_ctx, tator_emulator):
    _pull(make_ctx)
    before = _modified(fo)
    store = tator_emulator.store
    locs = {loc["id"]: loc for loc in _tator_locs(tator_emulator)}
    box_on_image_2 = next(loc for loc in locs.values() if loc["media"] == 2)
    box_on_image_3 = next(loc for loc in locs.values() if loc["media"] == 3)
    edited = store.patch_localization(box_on_image_2["id"], user="bob", x=0.2,
                                      attributes={"Label": "Diatom"})
    store.delete_localization(box_on_image_3["id"], user="bob")
    [new_id] = store.create_localizations(1, [{
        "media_id": 4, "type": 1, "version": 1, "frame": 20, "x": 0.1, "y": 0.2,
        "width": 0.3, "height": 0.4, "attributes": {"Label": "Copepod"}}], user="bob")

    result = _pull(make_ctx)
    labels = _labels(fo)
    after = _modified(fo)

    assert (result.labels_created, result.labels_updated, result.labels_removed) == (1, 1, 1)
    assert result.labels_unchanged == 14 and result.samples_created == 1
    label = labels[box_on_image_2["elemental_id"]][2]
    assert (label.label, label.bounding_box[0], label.tator_id, label.tator_mark) == \
        ("Diatom", 0.2, edited.id, 1)
    assert box_on_image_3["elemental_id"] not in labels
    created = next(entry for entry in labels.values() if entry[2].tator_id == new_id)
    assert (created[0].tator_media_id, created[0].frame) == (4, 20)
    changed_samples = {labels[box_on_image_2["elemental_id"]][0].id}
    changed_samples |= {s for s in before if s not in after or before[s] != after[s]}
    untouched = [s for s in before if s in after and before[s] == after[s]]
    assert len(untouched) == len(before) - 2


def test_label_edited_in_both_places_is_a_reported_conflict(fo, make_ctx, tator_emulator):
    _pull(make_ctx)
    dataset = fo.load_dataset(DATASET)
    loc = next(loc for loc in _tator_locs(tator_emulator) if loc["type"] == 1)
    sample, _, label = _labels(fo)[loc["elemental_id"]]
    dataset.set_label_values("boxes.detections.label", {label.id: "Ctenophore"})
    tator_emulator.store.patch_localization(loc["id"], user="bob",
                                            attributes={"Label": "Diatom"})

    result = _pull(make_ctx)
    again = _pull(make_ctx)
    kept = _labels(fo)[loc["elemental_id"]][2]

    assert result.conflict_count == 1 and result.conflicts == [loc["elemental_id"]]
    assert kept.label == "Ctenophore" and kept.tator_mark == loc["mark"]
    assert "tator:conflict" in kept.tags
    assert result.labels_updated == 0
    assert again.conflicts == [loc["elemental_id"]]


def test_label_edited_only_in_fiftyone_is_left_for_the_push(fo, make_ctx, tator_emulator):
    _pull(make_ctx)
    dataset = fo.load_dataset(DATASET)
    loc = next(loc for loc in _tator_locs(tator_emulator) if loc["type"] == 1)
    label = _labels(fo)[loc["elemental_id"]][2]
    dataset.set_label_values("boxes.detections.label", {label.id: "Ctenophore"})

    result = _pull(make_ctx, force=True)

    assert result.conflict_count == 0
    assert _labels(fo)[loc["elemental_id"]][2].label == "Ctenophore"


def test_listing_that_fails_halfway_fails_the_pull_and_changes_nothing(
        fo, make_ctx, tator_emulator, clean_db):
    from fiftyone_sync.tator.listing import ListingError

    _pull(make_ctx)
    before = _modified(fo)
    state_before = list(clean_db["tator_sync_state"].find({}, sort=[("_id", 1)]))
    for loc in _tator_locs(tator_emulator)[:5]:
        tator_emulator.store.delete_localization(loc["id"], user="bob")
    tator_emulator.faults.add("GetLocalizationList", status=500, after=2)

    with pytest.raises(ListingError):
        _pull(make_ctx)

    assert _modified(fo) == before
    assert len(_labels(fo)) == 16
    assert list(clean_db["tator_sync_state"].find({}, sort=[("_id", 1)])) == state_before


def test_view_only_member_gets_a_clear_error_and_nothing_is_written(fo, make_ctx):
    from fiftyone_sync.dataset.pull import PullPermissionError

    with pytest.raises(PullPermissionError, match="Can Transfer"):
        _pull(make_ctx, user="carol")

    assert not fo.dataset_exists(DATASET)


def test_f1_video_frames_keep_tators_zero_based_index(fo, make_ctx, tator_emulator):
    specs = [{"media_id": 4, "type": 1, "version": 1, "frame": frame, "x": 0.1, "y": 0.1,
              "width": 0.2, "height": 0.2, "attributes": {"Label": "Salp"}}
             for frame in (14, 29)]
    tator_emulator.store.create_localizations(1, specs, user="alice")

    _pull(make_ctx)
    video = fo.load_dataset(DATASET).match({"tator_media_id": 4})

    frames = sorted(video.values("frame"))
    assert frames == [0, 5, 10, 14, 29]
    for sample in video:
        pixels = np.asarray(Image.open(sample.filepath).convert("RGB"))
        assert drawing.read_frame_index(pixels) == sample.frame


def test_f12_box_past_the_edge_is_kept_and_counted(fo, make_ctx, tator_emulator):
    [loc_id] = tator_emulator.store.create_localizations(1, [{
        "media_id": 2, "type": 1, "version": 1, "frame": 0, "x": 0.95, "y": 0.5, "width": 0.1,
        "height": 0.2, "attributes": {"Label": "Salp"}}], user="alice")

    result = _pull(make_ctx)

    label = next(e[2] for e in _labels(fo).values() if e[2].tator_id == loc_id)
    assert label.bounding_box == [0.95, 0.5, 0.1, 0.2]
    assert result.clipped_boxes == 1


def test_media_without_files_is_skipped_with_a_reason(fo, make_ctx, tator_emulator):
    tator_emulator.store.get_media(2).media_files = {}

    result = _pull(make_ctx)

    assert [(s["media_id"], "empty media_files" in s["reason"])
            for s in result.skipped_media] == [(2, True)]
    assert 2 not in fo.load_dataset(DATASET).values("tator_media_id")
    assert result.samples_created == 5


def test_transient_download_errors_are_retried(fo, make_ctx, tator_emulator):
    tator_emulator.faults.add("DownloadObject", status=503, times=2)

    result = _pull(make_ctx)

    assert result.skipped_media == [] and result.samples_created == 6
    assert tator_emulator.calls["DownloadObject"] == 5


def test_scope_is_stored_and_what_leaves_it_is_removed(fo, make_ctx, tator_emulator):
    _pull(make_ctx)

    scoped = _pull(make_ctx, media_ids=[1, 2])
    reused = _pull(make_ctx)

    dataset = fo.load_dataset(DATASET)
    assert sorted(set(dataset.values("tator_media_id"))) == [1, 2]
    assert scoped.samples_removed == 4 and scoped.labels_removed == 3 + 4
    assert reused.labels_unchanged == 9 and reused.labels_removed == 0
    assert reused.samples_created == 0


def test_label_edited_in_fiftyone_and_deleted_in_tator_is_kept_as_conflict(
        fo, make_ctx, tator_emulator):
    _pull(make_ctx)
    loc = next(loc for loc in _tator_locs(tator_emulator) if loc["type"] == 4)
    label = _labels(fo)[loc["elemental_id"]][2]
    fo.load_dataset(DATASET).set_label_values("polys.polylines.label", {label.id: "Salp"})
    tator_emulator.store.delete_localization(loc["id"], user="bob")

    result = _pull(make_ctx)

    assert result.conflicts == [loc["elemental_id"]] and result.labels_removed == 0
    kept = _labels(fo)[loc["elemental_id"]][2]
    assert kept.label == "Salp" and "tator:conflict" in kept.tags


def test_frame_change_in_tator_moves_the_label_and_drops_the_empty_frame(
        fo, make_ctx, tator_emulator):
    _pull(make_ctx)
    loc = next(loc for loc in _tator_locs(tator_emulator)
               if loc["media"] == 4 and loc["frame"] == 0)
    tator_emulator.store.patch_localization(loc["id"], user="bob", frame=7)

    result = _pull(make_ctx)

    sample, _, label = _labels(fo)[loc["elemental_id"]]
    assert (sample.tator_media_id, sample.frame, label.tator_mark) == (4, 7, 1)
    assert sorted(fo.load_dataset(DATASET).match({"tator_media_id": 4}).values("frame")) == \
        [5, 7, 10]
    assert result.labels_updated == 1 and result.samples_removed == 1
    assert result.samples_created == 1


def test_media_attribute_change_updates_the_sample_fields_only(fo, make_ctx, tator_emulator):
    _pull(make_ctx)
    before = _modified(fo)
    tator_emulator.store.get_media(2).attributes["Site"] = "Point Lobos"

    result = _pull(make_ctx)

    dataset = fo.load_dataset(DATASET)
    sample = dataset.match({"tator_media_id": 2}).first()
    assert sample.tator_media_attributes == {"Site": "Point Lobos"}
    assert result.samples_updated == 1 and result.labels_unchanged == 16
    assert sum(before[s] != m for s, m in _modified(fo).items()) == 1


def test_pull_interrupted_while_writing_is_repaired_without_duplicates(
        fo, make_ctx, tator_emulator):
    from fiftyone_sync.jobs.context import JobCancelled

    ctx = make_ctx()
    ctx.is_cancelled = lambda: any(p[0] == "writing" for p in progress)
    progress: list = []
    ctx.report = lambda phase, done, total: progress.append((phase, done, total))
    from fiftyone_sync.dataset.pull import PullRequest, pull

    with pytest.raises(JobCancelled):
        pull(ctx, PullRequest(version_id=1))
    assert len(_labels(fo)) == 16

    result = _pull(make_ctx)

    assert len(_labels(fo)) == 16 and result.labels_created == 0
    assert result.labels_unchanged == 16
