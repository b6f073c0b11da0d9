"""Probing media files and building ``media_files`` entries the way Tator shapes them.

An image gets an ``image`` entry (the original, as ``image.<ext>``) and a JPEG ``thumbnail``
no larger than 256x256; a video gets an ``archival`` original, one ``streaming`` rung with a
``segment_info`` file and a thumbnail. ``resolution`` is always ``[height, width]``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import cv2
from PIL import Image

THUMBNAIL_SIZE = 256
IMAGE_MIMES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


class MediaFileError(ValueError):
    """A file the emulator cannot use as an image or a video."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as Tator records it on the media."""

    width: int
    height: int
    num_frames: int
    fps: float
    codec: str


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image file."""
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        raise MediaFileError(f"not an image: {path}") from exc


def video_info(path: Path) -> VideoInfo:
    """Frame count, rate, size and codec of a video file, read with OpenCV."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise MediaFileError(f"not a video OpenCV can read: {path}")
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
        codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip() or "unknown"
        return VideoInfo(
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            num_frames=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            fps=float(capture.get(cv2.CAP_PROP_FPS)),
            codec=codec,
        )
    finally:
        capture.release()


def make_thumbnail(source: Path, out_dir: Path) -> tuple[Path, tuple[int, int]]:
    """Writes a JPEG thumbnail (never upscaled) of an image; returns it and its (w, h)."""
    out = out_dir / f"thumb_{abs(hash(str(source)))}.jpg"
    with Image.open(source) as image:
        thumb = image.convert("RGB")
        thumb.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        thumb.save(out, "JPEG", quality=80)
        return out, thumb.size


def video_thumbnail(source: Path, out_dir: Path) -> tuple[Path, tuple[int, int]]:
    """Writes a JPEG thumbnail of a video's first frame; returns it and its (w, h)."""
    capture = cv2.VideoCapture(str(source))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        raise MediaFileError(f"cannot read the first frame of {source}")
    image = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    out = out_dir / f"thumb_{abs(hash(str(source)))}.jpg"
    image.save(out, "JPEG", quality=80)
    return out, image.size


def segment_info(path: Path, info: VideoInfo, out_dir: Path) -> Path:
    """Writes a small segment index JSON for a streaming file (Tator's ``segment_info``)."""
    out = out_dir / f"segments_{abs(hash(str(path)))}.json"
    segments = [{"name": "moov", "offset": 0, "size": path.stat().st_size, "frame_start": 0}]
    out.write_text(json.dumps({"file": {"size": path.stat().st_size}, "segments": segments}))
    return out


def image_entry(key: str, size: int, width: int, height: int, mime: str) -> dict[str, Any]:
    """An ``ImageDefinition``; key order as the real server writes it."""
    return {"mime": mime, "path": key, "size": size, "resolution": [height, width]}


def video_entry(
    key: str, size: int, info: VideoInfo, segment_key: str | None = None
) -> dict[str, Any]:
    """A ``VideoDefinition``; ``segment_key`` makes it a streaming entry."""
    entry: dict[str, Any] = {
        "path": key,
        "size": size,
        "codec": info.codec,
        "bit_rate": int(size * 8 * info.fps / max(info.num_frames, 1)),
        "resolution": [info.height, info.width],
        "codec_description": f"OpenCV {info.codec}",
    }
    if segment_key is not None:
        entry["segment_info"] = segment_key
        entry["reference_only"] = 0
        entry["codec_mime"] = f'video/mp4; codecs="{info.codec}"'
    return entry
