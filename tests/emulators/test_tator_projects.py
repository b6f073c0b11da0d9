"""Generated and demo projects: large-project paging, the folder builder, the plankton demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tator
from tator.exceptions import ApiException

from fiftyone_sync.emulators.tator import demo
from fiftyone_sync.emulators.tator.drawing import index_video, read_frame_index
from fiftyone_sync.emulators.tator.fixtures import load_fixture, load_fixture_file
from fiftyone_sync.emulators.tator.frames import video_frame
from fiftyone_sync.emulators.tator.generator import generate_project
from fiftyone_sync.emulators.tator.store import StoreError

FASTVSS_IMAGES = Path("/work/shared/data/fastvss-test-images")


def test_generated_project_pages_with_after_and_stop(tator_emulator_factory, tmp_path):
    store, project = generate_project(400, 5, tmp_path, videos=2, seed=3)
    server = tator_emulator_factory(store)
    api = tator.get_api(server.url, demo.token_for("bob"))

    seen, after, pages = [], None, 0
    while True:
        page = api.get_localization_list(project.id, after=after, stop=333)
        if not page:
            break
        pages += 1
        seen += [row.id for row in page]
        after = page[-1].id

    assert pages == 7
    assert seen == sorted(set(seen)) and len(seen) == 402 * 5
    assert api.get_localization_count(project.id) == 2010
    assert server.calls["GetLocalizationList"] == 8
    server.reset_calls()
    assert server.calls == {}


def test_generated_media_page_with_start_stop_and_after_name(tator_emulator_factory, tmp_path):
    store, project = generate_project(250, 1, tmp_path, classes={"Salp": 1.0})
    server = tator_emulator_factory(store)
    api = tator.get_api(server.url, demo.token_for("alice"))

    by_slices = []
    for start in range(0, 250, 100):
        by_slices += [m.name for m in api.get_media_list(project.id, start=start,
                                                         stop=start + 100)]
    by_name, last = [], None
    while True:
        page = api.get_media_list(project.id, after_name=last, stop=64)
        if not page:
            break
        by_name += [m.name for m in page]
        last = page[-1].name

    assert by_slices == by_name == sorted(by_name) and len(by_name) == 250
    labels = {row.attributes["Label"] for row in api.get_localization_list(project.id)}
    assert labels == {"Salp"}
    first = api.get_media(store.media_in_name_order(project.id)[0])
    assert first.md5 == store.objects.get(first.media_files.image[0].path).md5


def test_folder_fixture_from_fastvss_images(tator_emulator):
    fixture = demo.folder_fixture(FASTVSS_IMAGES)
    tator_emulator.load(fixture)
    api = tator_emulator.api("bob")

    media = api.get_media_list(1)
    boxes = api.get_localization_list(1)
    label_attr = api.get_localization_type(1).attribute_types[0]

    assert len(media) == 9 and media[0].name == "atolla/atolla1.png"
    assert {m.name.split("/")[0] for m in media} == {"atolla", "copepod", "jelly", "kelp",
                                                     "mammal"}
    assert label_attr["choices"] == ["atolla", "copepod", "jelly", "kelp", "mammal", "Unknown"]
    by_media = {row.media: row.attributes["Label"] for row in boxes}
    assert all(m.name.startswith(by_media[m.id] + "/") for m in media)
    elephant = next(m for m in media if m.name.endswith("elephant.jpg"))
    assert elephant.media_files.image[0].mime == "image/jpeg"


def test_plankton_demo_has_every_shape_and_attribute(tmp_path):
    store = load_fixture(demo.plankton_fixture(tmp_path, images=6))

    rows = store.list_localizations(1)
    dtypes = {store.localization_types[row["type"]].dtype for row in rows}
    video = store.media[7]

    assert dtypes == {"box", "dot", "line", "poly"}
    assert {row["attributes"]["Label"] for row in rows} >= {"Copepod", "Salp", "Larvacean"}
    assert isinstance(rows[0]["attributes"]["Confidence"], float)
    assert rows[0]["attributes"]["Observed"].endswith("Z")
    assert (video.num_frames, video.fps) == (30, 10.0)
    assert {"archival", "streaming"} <= set(video.media_files)
    source = store.objects.get(video.media_files["archival"][0]["path"]).path
    assert read_frame_index(video_frame(source, 12)) == 12


def test_fixture_file_and_reference_errors(tmp_path):
    fixture = demo.plankton_fixture(tmp_path / "media", images=1)
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture))

    store = load_fixture_file(path)
    fixture["projects"][0]["localizations"][0]["type"] = "Nope"

    assert len(store.media) == 3
    with pytest.raises(StoreError, match="unknown reference 'Nope'"):
        load_fixture(fixture)


def test_index_video_frames_decode(tmp_path):
    path = index_video(tmp_path / "clip.mp4", num_frames=12, fps=5.0)

    assert [read_frame_index(video_frame(path, i)) for i in range(12)] == list(range(12))
    assert isinstance(video_frame(path, 0), np.ndarray)


def test_deleting_media_hides_it_and_its_localizations(tator_emulator):
    api = tator_emulator.api()

    gone = tator_emulator.store.delete_media(2)

    assert gone == 3
    assert [m.id for m in api.get_media_list(1)] == [4, 1, 3]
    assert api.get_localization_list(1, media_id=[2], show_deleted=1, show_all_marks=1) == []
    with pytest.raises(ApiException) as caught:
        api.get_media(2)
    assert caught.value.status == 404
