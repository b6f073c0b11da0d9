"""The on-disk media cache: downloaded images and extracted video frames.

Layout: ``{media_dir}/p{project}/{media_id}/{md5}/image{ext}`` for an image and
``.../{md5}/frame_{n:06d}.png`` for a video frame. A media whose file changes in Tator gets
a new md5 and so a new directory: a re-pull of unchanged media finds its files and downloads
nothing. Every file is written under a temporary name and renamed into place.

Image normalisation rule (applied once, right after download): the App and the embedding
service need an 8-bit image a browser shows as Tator's annotator does. A JPEG or PNG that is
8-bit RGB or grayscale with no EXIF rotation is kept byte for byte. Anything else (alpha,
palette, 16-bit, CMYK, other formats, an EXIF orientation other than 1) is rewritten as an
8-bit RGB PNG with the orientation applied (alpha dropped onto white), because Tator's
normalized coordinates refer to the upright picture the browser displays. The sample's
metadata then holds the cached file's own width and height; a size that differs from
Tator's ``width``/``height`` is logged (coordinates are normalized, so only the aspect
ratio matters).

Eviction: the cache has a size limit; after a pull that downloaded something (only then can
the cache have grown), least recently used files (by mtime, which every pull refreshes for
the files it uses) are removed until the cache fits, never a file the current pull uses.
A sample of another dataset whose file was evicted shows no image in the App until that
dataset's next pull fetches the file again. Eviction takes no lock, so this holds too for a
file that a pull running beside it (of any project) had found.

Removal: deleting a dataset removes the project's files that no remaining dataset references
(:meth:`MediaCache.remove_unreferenced`), under the exclusive lock of
:mod:`fiftyone_sync.dataset.media_lock` that every pull holds shared.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

_KEEP_FORMATS = {"JPEG": ".jpg", "PNG": ".png"}
_KEEP_MODES = {"RGB", "L"}
_EXIF_ORIENTATION = 0x0112


def _safe(part: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", part) or "none"


class MediaCache:
    """Paths of cached media files and their upkeep.

    Args:
        root: the cache directory (``settings.media_dir``).
        project: the Tator project id (each project has its own subtree).
    """

    def __init__(self, root: Path, project: int) -> None:
        self.root = Path(root)
        self.project_dir = self.root / f"p{project}"

    def media_dir(self, media_id: int, md5: str | None) -> Path:
        """The directory of one media revision."""
        return self.project_dir / str(int(media_id)) / _safe(md5 or "nomd5")

    def image_download_path(self, media_id: int, md5: str | None) -> Path:
        """Where the raw image download goes before normalisation."""
        return self.media_dir(media_id, md5) / "download"

    def find_image(self, media_id: int, md5: str | None) -> Path | None:
        """The cached (normalised) image of a media, if there is one."""
        folder = self.media_dir(media_id, md5)
        for ext in (".jpg", ".png"):
            path = folder / f"image{ext}"
            if path.exists():
                return path
        return None

    def frame_path(self, media_id: int, md5: str | None, frame: int) -> Path:
        """The cached PNG of one video frame (0-based, as in Tator)."""
        return self.media_dir(media_id, md5) / f"frame_{int(frame):06d}.png"

    def touch(self, paths: Iterable[Path]) -> None:
        """Marks files as used now (for least-recently-used eviction)."""
        for path in paths:
            try:
                os.utime(path)
            except FileNotFoundError:
                continue

    def evict(self, max_bytes: int, keep: set[Path]) -> int:
        """Removes least recently used files until the cache fits; returns files removed."""
        files = []
        total = 0
        for entry in _walk_files(self.root):
            stat = _stat(entry)
            if stat is not None and not entry.name.startswith(".part-"):
                files.append((stat.st_mtime, stat.st_size, Path(entry.path)))
                total += stat.st_size
        removed = 0
        for _, size, path in sorted(files):
            if total <= max_bytes:
                break
            if path in keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        if removed:
            logger.info("Evicted %d files from the media cache (now %d bytes)", removed, total)
        return removed

    def remove_unreferenced(self, referenced: set[str]) -> tuple[int, int]:
        """Removes the project's cached files outside ``referenced``, then empty folders.

        Call it only while holding the project's exclusive cache lock: a pull running
        meanwhile may have found a file that no sample references yet. Leftover
        ``.part-`` files go too, as no download can be running.

        Args:
            referenced: files some dataset still uses, as paths relative to the project's
                folder.

        Returns:
            ``(files, bytes)`` removed.
        """
        files = 0
        size = 0
        prefix = len(os.path.join(self.project_dir, ""))
        for entry in _walk_files(self.project_dir):
            stat = _stat(entry)
            if stat is None or entry.path[prefix:] in referenced:
                continue
            Path(entry.path).unlink(missing_ok=True)
            files += 1
            size += stat.st_size

        _remove_empty_folders(self.project_dir)
        return files, size


def _walk_files(root: Path) -> Iterator[os.DirEntry]:
    """Every regular file under ``root`` outside dot-folders (the lock files' folder), with
    ``os.scandir`` (a cache of 10,000 media is walked in a fraction of what ``Path.rglob``
    takes, which stats every directory too)."""
    pending = [str(root)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.startswith("."):
                    pending.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry


def _stat(entry: os.DirEntry) -> os.stat_result | None:
    """The entry's stat, or None when the file is gone since the walk listed it (evicted
    meanwhile by a pull of another project, which locks only its own project)."""
    try:
        return entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove_empty_folders(root: Path) -> None:
    """Removes the empty folders under ``root``, deepest first, and ``root`` if it empties."""
    for folder, _, _ in os.walk(root, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def normalise_image(download: Path) -> Path:
    """Turns a raw download into the cached ``image.jpg``/``image.png`` (see module doc).

    Returns:
        the final path; the raw download is gone afterwards.

    Raises:
        ValueError: if the file is not an image PIL can read.
    """
    return normalise_sized_image(download)[0]


def normalise_sized_image(download: Path) -> tuple[Path, tuple[int, int]]:
    """:func:`normalise_image`, also returning the cached image's ``(width, height)``: the
    pull records it while the file is open anyway, rather than opening every file again."""
    try:
        with Image.open(download) as image:
            orientation = _orientation(image)
            ext = _KEEP_FORMATS.get(image.format or "")
            if ext and image.mode in _KEEP_MODES and orientation in (None, 1):
                final = download.with_name(f"image{ext}")
                os.replace(download, final)
                return final, image.size
            converted = _to_rgb8(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc

    final = download.with_name("image.png")
    write_png(converted, final)
    download.unlink(missing_ok=True)
    return final, converted.size


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, read from the header only.

    Pillow's PNG reader decodes the whole image to look for an EXIF chunk after the pixels;
    a PNG without EXIF in its header is taken as upright (browsers do the same).
    """
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    return image.getexif().get(_EXIF_ORIENTATION, 1) or 1


def _to_rgb8(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy: 16-bit scaled down, alpha composited on white."""
    if image.mode.startswith("I"):
        wide = np.asarray(image).astype(np.uint32) >> 8
        image = Image.fromarray(wide.clip(0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and
                                                 "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def write_png(image: Image.Image, path: Path) -> None:
    """Writes a PNG atomically (temporary name in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=".part-", suffix=".png",
                                         delete=False)
    try:
        with handle:
            image.save(handle, format="PNG")
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    with Image.open(path) as image:
        return image.size
