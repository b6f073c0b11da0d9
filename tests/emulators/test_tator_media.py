"""Media, downloads and GetFrame through tator-py, against tator-real-responses.md 5-6."""

from __future__ import annotations

import email.utils
import hashlib
import io
import json

import httpx
import numpy as np
import pytest
import tator
from PIL import Image
from tator.exceptions import ApiException

from fiftyone_sync.emulators.tator.drawing import read_frame_index

MEDIA_KEYS = ["name", "media_files", "last_edit_start", "last_edit_end", "attributes",
              "elemental_id", "primary_section", "id", "project", "type", "created_datetime",
              "created_by", "modified_datetime", "modified_by", "md5", "num_frames", "fps",
              "codec", "width", "height", "summary_level", "gid", "uid", "archive_state",
              "archive_status_date", "effective_permission"]


def md5_of(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture
def api(tator_emulator):
    return tator_emulator.api("alice")


def test_image_media_shape(tator_emulator, api):
    media = api.get_media(1)

    assert list(media.to_dict()) == MEDIA_KEYS
    assert (media.width, media.height, media.num_frames, media.fps) == (640, 480, None, None)
    assert set(media.media_files.to_dict()) == {"image", "thumbnail"}
    image = media.media_files.image[0]
    assert type(image).__name__ == "ImageDefinition"
    assert image.to_dict() == {"mime": "image/png", "path": "1/1/1/image.png",
                               "size": (tator_emulator.media_dir / "plankton_000.png")
                               .stat().st_size, "resolution": [480, 640]}
    thumb = media.media_files.thumbnail[0]
    assert (thumb.mime, thumb.path, thumb.resolution) == ("image/None", "1/1/1/thumb.jpg",
                                                          [192, 256])
    assert media.md5 == md5_of(tator_emulator.media_dir / "plankton_000.png")


def test_video_media_shape(api):
    video = api.get_media(4)

    assert (video.num_frames, video.fps, video.width, video.height) == (30, 10.0, 320, 240)
    archival, streaming = video.media_files.archival[0], video.media_files.streaming[0]
    assert type(archival).__name__ == "VideoDefinition"
    assert archival.resolution == streaming.resolution == [240, 320]
    assert streaming.segment_info.startswith("1/1/4/") and archival.codec


def test_media_list_order_filters_and_paging(api):
    names = [m.name for m in api.get_media_list(1)]

    assert names == sorted(names)
    assert [m.id for m in api.get_media_list(1, name="PLANKTON_001.png")] == [2]
    assert [m.id for m in api.get_media_list_by_id(1, media_id_query={"ids": [3, 1]})] == [1, 3]
    assert [m.id for m in api.get_media_list(1, media_id=[3, 4])] == [4, 3]
    assert [m.id for m in api.get_media_list(1, after=2)] == [4, 3]
    assert [m.id for m in api.get_media_list(1, start=1, stop=3)] == [1, 2]
    assert [m.id for m in api.get_media_list(1, after_name="plankton_000.png")] == [2, 3]
    assert [m.id for m in api.get_media_list(1, dtype="video")] == [4]
    assert api.get_media_count(1) == 4 and api.get_media_count(1, type=1) == 3


def test_presigned_media_paths(tator_emulator, api):
    media = api.get_media(1, presigned=3600)
    url = media.media_files.image[0].path

    answer = httpx.get(url)

    assert url.startswith(f"{tator_emulator.url}/objects/1/1/1/image.png?")
    assert answer.status_code == 200
    assert answer.content == (tator_emulator.media_dir / "plankton_000.png").read_bytes()


def test_download_info(tator_emulator, api):
    infos = api.get_download_info(1, download_info_spec={"keys": [
        "1/1/1/image.png", "1/1/1/thumb.jpg"]})
    again = api.get_download_info(1, download_info_spec={"keys": ["1/1/1/image.png"]},
                                  expiration=600)
    missing = api.get_download_info(1, download_info_spec={"keys": ["1/1/99999/nothing.png"]})

    assert [type(i).__name__ for i in infos] == ["DownloadInfo", "DownloadInfo"]
    assert [i.key for i in infos] == ["1/1/1/image.png", "1/1/1/thumb.jpg"]
    assert again[0].url == infos[0].url
    assert httpx.get(missing[0].url).status_code == 404
    with pytest.raises(ApiException) as caught:
        api.get_download_info(1, download_info_spec={"keys": ["1/999999/1/image.png"]})
    assert caught.value.status == 403
    assert json.loads(caught.value.body) == {
        "message": "You do not have permission to perform this action."}


def test_file_route_sends_content_length_and_checks_signatures(tator_emulator, api):
    url = api.get_download_info(1, download_info_spec={"keys": ["1/1/1/image.png"]})[0].url

    answer = httpx.get(url)
    forged = httpx.get(url.replace("sig=", "sig=0"))

    assert answer.headers["content-length"] == str(len(answer.content))
    assert answer.headers["content-type"] == "binary/octet-stream"
    assert forged.status_code == 403


@pytest.mark.parametrize("media_id, source", [(1, "plankton_000.png"), (4, "index_clip.mp4")])
def test_download_media_is_byte_identical(tator_emulator, api, tmp_path, media_id, source):
    media = api.get_media(media_id)
    out = tmp_path / source

    progress = list(tator.util.download_media(api, media, str(out)))

    assert progress[-1] == 100
    assert out.read_bytes() == (tator_emulator.media_dir / source).read_bytes()
    assert tator_emulator.calls["GetDownloadInfo"] == 1
    assert tator_emulator.calls["DownloadObject"] == 1


def test_get_frame_on_an_image(api):
    png = Image.open(api.get_frame(1))
    jpeg_path = api.get_frame(1, format="jpg")

    assert (png.format, png.size) == ("PNG", (640, 480))
    assert jpeg_path.endswith(".jpeg") and Image.open(jpeg_path).format == "JPEG"
    with pytest.raises(ApiException) as caught:
        api.get_frame(1, frames=[0, 1])
    assert caught.value.status == 400
    assert caught.value.headers["content-type"] == "image/png"


@pytest.mark.parametrize("frame", [0, 5, 17, 29])
def test_get_frame_returns_the_requested_video_frame(api, frame):
    picture = Image.open(api.get_frame(4, frames=[frame])).convert("RGB")

    assert picture.size == (320, 240)
    assert read_frame_index(np.array(picture)) == frame


def test_get_frame_tiles_crops_and_jpeg(api):
    tiled = Image.open(api.get_frame(4, frames=[0, 10, 20], tile="3x1"))
    cropped = Image.open(api.get_frame(4, frames=[5], roi="0.5:0.5:0.25:0.25"))
    jpeg = Image.open(api.get_frame(4, frames=[5], format="jpg"))

    assert tiled.size == (960, 240)
    third = np.array(tiled.convert("RGB"))[:, 640:]
    assert read_frame_index(third) == 20
    assert cropped.size == (160, 120)
    assert (jpeg.format, jpeg.size) == ("JPEG", (320, 240))


@pytest.mark.parametrize("path, status", [("/rest/GetFrame/4?frames=30", 400),
                                          ("/rest/GetFrame/4?frames=99", 400),
                                          ("/rest/GetFrame/99999999", 404)])
def test_get_frame_errors_are_pictures(tator_emulator, path, status):
    answer = httpx.get(tator_emulator.url + path, headers=tator_emulator.headers())

    assert answer.status_code == status
    assert answer.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(answer.content)).size == (1024, 1024)


def test_get_frame_headers_and_conditional_get(tator_emulator):
    url = f"{tator_emulator.url}/rest/GetFrame/4?frames=5"

    answer = httpx.get(url, headers=tator_emulator.headers())
    cached = httpx.get(url, headers={**tator_emulator.headers(),
                                     "If-Modified-Since": answer.headers["last-modified"]})
    as_json = httpx.get(url, headers={**tator_emulator.headers(), "Accept": "application/json"})

    assert email.utils.parsedate_to_datetime(answer.headers["last-modified"])
    assert answer.headers["content-length"] == str(len(answer.content))
    assert (answer.headers["allow"], answer.headers["vary"]) == ("GET", "Accept, Cookie")
    assert cached.status_code == 304
    assert (as_json.status_code, as_json.headers["content-type"]) == (
        500, "text/html; charset=utf-8")


def test_annotation_page_shows_the_deep_link(tator_emulator):
    answer = httpx.get(f"{tator_emulator.url}/1/annotation/4",
                       params={"selected_entity": "abc", "selected_type": "Boxes",
                               "version": "2", "frame": "5"})

    assert answer.status_code == 200
    for fragment in ('id="selected_entity">abc<', 'id="selected_type">Boxes<',
                     'id="version">2<', 'id="frame">5<', 'id="media">4<'):
        assert fragment in answer.text


def test_non_ascii_media_name_matches_exactly(tator_emulator, api):
    source = tator_emulator.media_dir / "plankton_001.png"
    added = tator_emulator.store.add_media(1, 1, "möwe_海_ü.png", source)

    found = api.get_media_list(1, name="möwe_海_ü.png")

    assert [m.id for m in found] == [added.id]
    assert found[0].media_files.image[0].path == f"1/1/{added.id}/image.png"
    assert api.get_media_count(1) == 5
