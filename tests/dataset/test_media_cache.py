"""The media cache's image normalisation rule, its eviction and its removal of unused files
(pure, on a tmp dir)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from fiftyone_sync.dataset import media_lock
from fiftyone_sync.dataset.media_cache import MediaCache, normalise_image, normalise_sized_image


def _download(tmp_path, image: Image.Image, fmt: str, **save: object):
    path = tmp_path / "download"
    image.save(path, format=fmt, **save)
    return path


def test_plain_rgb_jpeg_and_grayscale_png_are_kept_byte_for_byte(tmp_path):
    jpeg = _download(tmp_path, Image.new("RGB", (8, 4), (10, 20, 30)), "JPEG")
    original = jpeg.read_bytes()
    kept = normalise_image(jpeg)
    assert kept.name == "image.jpg" and kept.read_bytes() == original and not jpeg.exists()

    gray = _download(tmp_path, Image.new("L", (8, 4), 77), "PNG")
    assert normalise_image(gray).name == "image.png"


def test_alpha_is_flattened_on_white_into_an_rgb_png(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    path = normalise_image(_download(tmp_path, rgba, "PNG"))
    with Image.open(path) as image:
        assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits(tmp_path):
    wide = Image.fromarray(np.full((4, 6), 0xFF00, dtype=np.uint16))
    path = normalise_image(_download(tmp_path, wide, "PNG"))
    with Image.open(path) as image:
        assert image.mode == "RGB" and image.size == (6, 4)
        assert image.getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = normalise_image(_download(tmp_path, Image.new("RGB", (8, 4)), "JPEG",
                                     exif=exif.tobytes()))
    with Image.open(path) as image:
        assert path.name == "image.png" and image.size == (4, 8)


def test_the_size_noted_at_normalisation_is_the_cached_files_own(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rotated = _download(tmp_path / "a", Image.new("RGB", (8, 4)), "JPEG", exif=exif.tobytes())
    kept = _download(tmp_path / "b", Image.new("L", (5, 3)), "PNG")

    for download, size in ((rotated, (4, 8)), (kept, (5, 3))):
        path, noted = normalise_sized_image(download)
        with Image.open(path) as image:
            assert noted == image.size == size


def test_eviction_removes_least_recently_used_files_but_never_kept_ones(tmp_path):
    cache = MediaCache(tmp_path, 1)
    paths = []
    for index in range(4):
        path = cache.frame_path(7, "abc", index)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + index, 1000 + index))
        paths.append(path)

    removed = cache.evict(max_bytes=200, keep={paths[0]})

    assert removed == 2
    assert [p.exists() for p in paths] == [True, False, False, True]


def test_eviction_never_removes_the_lock_files(tmp_path):
    cache = MediaCache(tmp_path, 1)
    frame = cache.frame_path(7, "abc", 0)
    frame.parent.mkdir(parents=True)
    frame.write_bytes(b"x" * 100)
    lock = media_lock.lock_path(tmp_path, 1)
    lock.parent.mkdir()
    lock.write_bytes(b"x" * 100)

    assert cache.evict(max_bytes=0, keep=set()) == 1
    assert lock.exists() and not frame.exists()


def test_removing_unreferenced_files_keeps_referenced_ones_and_prunes_empty_folders(tmp_path):
    cache = MediaCache(tmp_path, 1)
    other_project = MediaCache(tmp_path, 2).frame_path(9, "abc", 0)
    kept = cache.frame_path(7, "new", 0)
    gone = [cache.frame_path(7, "new", 1), cache.frame_path(7, "old", 0),
            cache.media_dir(8, "abc") / ".part-123.png"]
    for path in (other_project, kept, *gone):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)

    assert cache.remove_unreferenced({os.path.relpath(kept, cache.project_dir)}) == (3, 30)
    assert kept.exists() and other_project.exists()
    assert not any(path.exists() for path in gone)
    assert sorted(p.name for p in (cache.project_dir / "7").iterdir()) == ["new"]
    assert not (cache.project_dir / "8").exists()

    assert cache.remove_unreferenced(set()) == (1, 10)
    assert not cache.project_dir.exists() and other_project.exists()


def _vanishing_walk(walk):
    """``_walk_files`` as seen by a walk that another process's eviction races: every file
    is removed right after the walk lists it."""
    def walk_and_remove(root):
        for entry in walk(root):
            os.unlink(entry.path)
            yield entry
    return walk_and_remove


def test_files_removed_by_a_concurrent_eviction_are_skipped(tmp_path, monkeypatch):
    from fiftyone_sync.dataset import media_cache

    cache = MediaCache(tmp_path, 1)
    frames = [cache.frame_path(7, "abc", n) for n in range(3)]
    for frame in frames:
        frame.parent.mkdir(parents=True, exist_ok=True)
        frame.write_bytes(b"x" * 10)
    monkeypatch.setattr(media_cache, "_walk_files", _vanishing_walk(media_cache._walk_files))

    assert cache.remove_unreferenced(set()) == (0, 0)
    assert not cache.project_dir.exists()

    frames[0].parent.mkdir(parents=True)
    frames[0].write_bytes(b"x" * 10)
    assert cache.evict(max_bytes=0, keep=set()) == 0
