"""``GetFrame``: frames of images and videos as PNG or JPEG, and Tator's error pictures.

Frames are 0-based. Several frames are tiled row-major; ``roi`` (``w:h:x:y``, normalized)
crops and ``force_scale`` (``WxH``) resizes. Errors come back as a 1024x1024 picture with the
error text, in the negotiated image format, because Tator's GetFrame view renders its errors
that way (tator-api.md 4.6). GIF and MP4 animations are not emulated (400 picture).
"""

from __future__ import annotations

import functools
import io
import math
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"),
           "jpeg": ("JPEG", "image/jpeg")}
ERROR_SIZE = 1024
_video_lock = threading.Lock()


class FrameError(ValueError):
    """A frame request the emulator cannot answer, with the status Tator would use."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def output_format(name: str | None) -> tuple[str, str]:
    """PIL format and content type for a ``format`` query value (PNG by default)."""
    if name is None:
        return FORMATS["png"]
    if name not in FORMATS:
        raise FrameError(400, f"Unsupported format {name}")
    return FORMATS[name]


def error_picture(message: str, fmt: str | None) -> tuple[bytes, str]:
    """A 1024x1024 picture carrying an error message, as GetFrame answers errors."""
    pil_format, content_type = FORMATS.get(fmt or "png", FORMATS["png"])
    image = Image.new("RGB", (ERROR_SIZE, ERROR_SIZE), (40, 40, 48))
    draw = ImageDraw.Draw(image)
    draw.text((40, 480), f"Error: {message}"[:120], fill=(255, 96, 96))
    return _encode(image, pil_format), content_type


def render(media: Any, source: Path, params: dict[str, Any], fmt: str | None) -> tuple[bytes, str]:
    """Renders the requested frames of ``media`` (whose original file is ``source``)."""
    pil_format, content_type = output_format(fmt)
    frames = params.get("frames") or [0]
    if params.get("animate") is not None:
        raise FrameError(400, "Animation is not supported by the emulator")
    if media.num_frames is None:
        if len(frames) != 1 or frames[0] != 0:
            raise FrameError(400, "Images only support a single frame (0)")
        pictures = [Image.open(source).convert("RGB")]
    else:
        for frame in frames:
            if frame >= media.num_frames:
                raise FrameError(400, f"Frame {frame} is out of range (max "
                                      f"{media.num_frames - 1})")
        pictures = [Image.fromarray(video_frame(source, frame)) for frame in frames]
    pictures = _crop_all(pictures, params.get("roi"))
    pictures = [_scale(p, params.get("force_scale")) for p in pictures]
    return _encode(_tile(pictures, params.get("tile")), pil_format), content_type


@functools.lru_cache(maxsize=8)
def _decoded(source: str) -> tuple[np.ndarray, ...]:
    capture = cv2.VideoCapture(source)
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return tuple(frames)


def video_frame(source: Path, frame: int) -> np.ndarray:
    """One decoded RGB frame of a video (the whole short video is decoded once, cached)."""
    with _video_lock:
        frames = _decoded(str(source))
    if frame >= len(frames):
        raise FrameError(400, f"Frame {frame} could not be decoded")
    return frames[frame]


def _crop_all(pictures: list[Image.Image], rois: list[str] | None) -> list[Image.Image]:
    if not rois:
        return pictures
    if len(rois) not in (1, len(pictures)):
        raise FrameError(400, "Give one roi, or one per frame")
    rois = rois * len(pictures) if len(rois) == 1 else rois
    return [_crop(p, roi) for p, roi in zip(pictures, rois, strict=True)]


def _crop(picture: Image.Image, roi: str) -> Image.Image:
    try:
        w, h, x, y = (float(part) for part in roi.split(":"))
    except ValueError as exc:
        raise FrameError(400, f"Bad roi {roi}") from exc
    width, height = picture.size
    box = (round(x * width), round(y * height), round((x + w) * width), round((y + h) * height))
    return picture.crop(box)


def _scale(picture: Image.Image, force_scale: str | None) -> Image.Image:
    if not force_scale:
        return picture
    try:
        width, height = (int(part) for part in force_scale.lower().split("x"))
    except ValueError as exc:
        raise FrameError(400, f"Bad force_scale {force_scale}") from exc
    return picture.resize((width, height))


def _tile(pictures: list[Image.Image], tile: str | None) -> Image.Image:
    if len(pictures) == 1 and not tile:
        return pictures[0]
    if tile:
        try:
            columns, rows = (int(part) for part in tile.lower().split("x"))
        except ValueError as exc:
            raise FrameError(400, f"Bad tile {tile}") from exc
    else:
        columns = math.ceil(math.sqrt(len(pictures)))
        rows = math.ceil(len(pictures) / columns)
    if columns * rows < len(pictures):
        raise FrameError(400, f"Tile {tile} is too small for {len(pictures)} frames")
    width, height = pictures[0].size
    sheet = Image.new("RGB", (columns * width, rows * height))
    for index, picture in enumerate(pictures):
        sheet.paste(picture, ((index % columns) * width, (index // columns) * height))
    return sheet


def _encode(image: Image.Image, pil_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, pil_format)
    return buffer.getvalue()
