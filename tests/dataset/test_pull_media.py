"""A pull's traffic with Tator: the process's one client, bounded and timed downloads, media
checksums, video frames fetched once, States counted (DESIGN.md sections 6 and 11).

The standard emulator project (tests/fixtures/tator.py): three images (media 1-3), a video
(media 4) with localizations on frames 0, 5 and 10, and one State on the video.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from PIL import Image, ImageChops

from tests.dataset.helpers import DATASET, labels, pull

DOWNLOADS = ("DownloadObject", "GetFrame")


class InFlight:
    """Counts the media transfers the emulator is serving at once.

    Wraps the emulator's per-request fault step, where injected latency is spent: with a
    latency much longer than a transfer, a request counts from its arrival until it is
    answered, and the peak is how many transfers the pull had open at once.
    """

    def __init__(self, before: Any) -> None:
        self.before = before
        self.now = 0
        self.peak = 0
        self.seen = 0

    async def __call__(self, request: Any, operation: str) -> Any:
        if operation not in DOWNLOADS:
            return await self.before(request, operation)
        self.now += 1
        self.seen += 1
        self.peak = max(self.peak, self.now)
        try:
            return await self.before(request, operation)
        finally:
            self.now -= 1


def _with_settings(make_ctx: Any, user: str = "alice", **changes: Any) -> Any:
    ctx = make_ctx(user)
    ctx.settings = ctx.settings.model_copy(update=changes)
    return ctx


def test_pulls_by_two_users_reuse_the_process_client(fo, make_ctx, tator_emulator):
    from fiftyone_sync.dataset.pull import tator_client

    tator_client.cache_clear()
    tator_emulator.reset_calls()

    pull(make_ctx, "alice")
    pull(make_ctx, "erin")

    assert tator_client(tator_emulator.url, 60.0) is tator_client(tator_emulator.url, 60.0)
    assert tator_emulator.calls["Schema"] == 1
    assert tator_emulator.calls["GetProject"] == 2


def test_images_and_frames_download_concurrently_within_one_shared_bound(
        fo, make_ctx, tator_emulator, monkeypatch):
    """Images download in the background while frames are fetched: with 0.6 s per image and
    0.3 s per frame, two separate bounds of 2 would overlap 3 or 4 deep."""
    from fiftyone_sync.dataset.pull import PullRequest
    from fiftyone_sync.dataset.pull import pull as run

    emulator = tator_emulator.server.emulator
    in_flight = InFlight(emulator._before)
    monkeypatch.setattr(emulator, "_before", in_flight)
    tator_emulator.faults.add("DownloadObject", latency=0.6)
    tator_emulator.faults.add("GetFrame", latency=0.3)

    result = run(_with_settings(make_ctx, download_concurrency=2), PullRequest(version_id=1))

    assert result.downloads == 6 and result.skipped_media == []
    assert in_flight.seen == 6 and in_flight.now == 0
    assert in_flight.peak == 2


def test_a_download_slower_than_the_timeout_is_retried_then_fails_the_pull_clearly(
        fo, make_ctx, tator_emulator):
    from fiftyone_sync.dataset.pull import PullError, PullRequest
    from fiftyone_sync.dataset.pull import pull as run

    tator_emulator.faults.add("DownloadObject", latency=1.0)
    tator_emulator.faults.add("GetFrame", latency=1.0)
    ctx = _with_settings(make_ctx, download_timeout=0.3, download_retries=1)

    started = time.monotonic()
    with pytest.raises(PullError, match="no media file could be downloaded") as failed:
        run(ctx, PullRequest(version_id=1))

    assert time.monotonic() - started < 8.0
    assert "timed out: no answer within 0.3 s" in str(failed.value)
    assert "after 2 attempts" in str(failed.value)
    assert tator_emulator.calls["DownloadObject"] == 3 * 2
    assert tator_emulator.calls["GetFrame"] == 3 * 2
    assert not fo.dataset_exists(DATASET)


def test_frames_that_time_out_are_skipped_with_a_reason_and_the_images_land(
        fo, make_ctx, tator_emulator):
    from fiftyone_sync.dataset.pull import PullRequest
    from fiftyone_sync.dataset.pull import pull as run

    tator_emulator.faults.add("GetFrame", latency=1.0)
    ctx = _with_settings(make_ctx, download_timeout=0.3, download_retries=1)

    result = run(ctx, PullRequest(version_id=1))

    assert [s["media_id"] for s in result.skipped_media] == [4]
    assert "timed out" in result.skipped_media[0]["reason"]
    assert sorted(fo.load_dataset(DATASET).values("tator_media_id")) == [1, 2, 3]


def test_a_media_whose_checksum_changed_in_tator_is_downloaded_again(
        fo, make_ctx, tator_emulator):
    pull(make_ctx)
    store = tator_emulator.store
    first = fo.load_dataset(DATASET).match({"tator_media_id": 2}).first().filepath
    media, other = store.get_media(2), store.get_media(3)
    replacement = store.objects.get(other.media_files["image"][0]["path"])
    store.objects.put(media.media_files["image"][0]["path"], replacement.path)
    media.md5 = replacement.md5
    tator_emulator.reset_calls()

    result = pull(make_ctx)

    sample = fo.load_dataset(DATASET).match({"tator_media_id": 2}).first()
    assert result.downloads == 1 and tator_emulator.calls["DownloadObject"] == 1
    assert sample.filepath != first
    new, old = Image.open(sample.filepath), Image.open(replacement.path)
    assert ImageChops.difference(new.convert("RGB"), old.convert("RGB")).getbbox() is None
    assert result.samples_updated == 1 and result.labels_unchanged == 16
    assert pull(make_ctx).downloads == 0


def test_a_cold_pull_fetches_each_labelled_video_frame_once(fo, make_ctx, tator_emulator):
    store = tator_emulator.store
    store.create_localizations(1, [{
        "media_id": 4, "type": 1, "version": 1, "frame": 10, "x": 0.1, "y": 0.1, "width": 0.2,
        "height": 0.2, "attributes": {"Label": "Salp"}}], user="alice")
    tator_emulator.reset_calls()

    cold = pull(make_ctx)

    frames = sorted(fo.load_dataset(DATASET).match({"tator_media_id": 4}).values("frame"))
    assert frames == [0, 5, 10]
    assert tator_emulator.calls["GetFrame"] == 3 and cold.downloads == 3 + 3
    store.create_localizations(1, [{
        "media_id": 4, "type": 2, "version": 1, "frame": 20, "x": 0.5, "y": 0.5,
        "attributes": {"Label": "Salp"}}], user="alice")
    tator_emulator.reset_calls()

    again = pull(make_ctx)

    assert tator_emulator.calls["GetFrame"] == 1 and again.downloads == 1
    assert again.labels_created == 1 and len(labels(fo)) == 18


def test_tator_states_are_counted_and_reported_not_mapped(fo, make_ctx, tator_emulator):
    one = pull(make_ctx)
    tator_emulator.store.add_state(1, [4], version=1, type_id=10, frame=5)
    tator_emulator.store.add_state(1, [4], version=2, type_id=10, frame=5)

    two = pull(make_ctx)

    assert one.states == 1 and one.to_dict()["states"] == 1
    assert two.states == 2 and two.to_dict()["states"] == 2
    assert two.labels_created == 0 and two.labels_unchanged == 16
