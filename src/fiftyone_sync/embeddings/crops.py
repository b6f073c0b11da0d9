"""Cutting label crops out of cached media for the embedding job, and fingerprinting geometry.

A crop is what Fast-VSS embeds for one label: a box's crop is the box clipped to the image;
a dot's crop is a square window around it whose side is the ``dot_crop_window`` setting times
the image's shorter side; a line's or polygon's crop is the bounding box of its points. A
crop with no pixels (a box wholly outside the image, a horizontal line) is skipped with a
reason, never sent.

Each image is decoded once for all of its labels (:func:`cut_image_crops`) and every crop is
encoded as PNG, so the same label on the same image always yields the same bytes (tests
compare vectors computed locally from those bytes). This module is pure: no FiftyOne, no I/O
beyond reading the image file.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

PNG_COMPRESS_LEVEL = 1
"""Fast PNG: crops are sent once and thrown away, size matters less than time."""

PIXEL_SLACK = 1e-6
"""Float noise tolerated at pixel edges (``0.55 * 100`` is ``55.000000000000007``)."""


class GeometryKind(str, enum.Enum):
    """The three geometry shapes a label field can hold."""

    BOX = "box"
    DOT = "dot"
    POLYLINE = "polyline"


class CropSkipped(ValueError):
    """A label whose crop cannot be cut; the message is the reason the result reports."""


@dataclasses.dataclass(frozen=True)
class CropTarget:
    """One label to crop.

    Attributes:
        key: the label id; sent to Fast-VSS as the file name.
        kind: the label's geometry kind.
        geometry: ``[x, y, w, h]`` for a box, ``[[x, y], ...]`` for a dot's points,
            ``[[[x, y], ...], ...]`` for a polyline's shapes (normalized coordinates).
    """

    key: str
    kind: GeometryKind
    geometry: Any


@dataclasses.dataclass
class ImageCrops:
    """The crops of one image: encoded PNG bytes by key, and why the others were skipped."""

    crops: dict[str, bytes] = dataclasses.field(default_factory=dict)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


def geometry_digest(kind: GeometryKind, geometry: Any, dot_window: float) -> str:
    """A short fingerprint of what a label's crop depends on.

    Stored with the vector, so the next job re-embeds a label whose geometry (or, for dots,
    the crop window) changed since its vector was made.

    Args:
        kind: the geometry kind.
        geometry: the label's geometry as :class:`CropTarget` holds it.
        dot_window: the dot window setting (part of a dot's crop, ignored otherwise).
    """
    payload: dict[str, Any] = {"kind": kind.value, "geometry": geometry}
    if kind is GeometryKind.DOT:
        payload["window"] = dot_window
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _finite_points(points: Any) -> list[tuple[float, float]]:
    """The finite (x, y) pairs in a nested list of points."""
    found: list[tuple[float, float]] = []
    if not isinstance(points, (list, tuple)):
        return found
    if len(points) == 2 and all(isinstance(v, (int, float)) for v in points):
        x, y = float(points[0]), float(points[1])
        return [(x, y)] if math.isfinite(x) and math.isfinite(y) else []
    for item in points:
        found.extend(_finite_points(item))
    return found


def _pixel_extent(target: CropTarget, width: int, height: int,
                  dot_window: float) -> tuple[float, float, float, float]:
    """The crop's (left, top, right, bottom) in pixels, before rounding and clipping."""
    if target.kind is GeometryKind.BOX:
        values = target.geometry
        if not isinstance(values, (list, tuple)) or len(values) != 4:
            raise CropSkipped("empty crop: the box has no bounding_box")
        x, y, w, h = (float(v) for v in values)
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            raise CropSkipped("empty crop: the box has non-finite coordinates")
        return x * width, y * height, (x + w) * width, (y + h) * height

    points = _finite_points(target.geometry)
    if not points:
        raise CropSkipped(f"empty crop: the {target.kind.value} has no finite points")
    xs, ys = [p[0] * width for p in points], [p[1] * height for p in points]
    if target.kind is GeometryKind.POLYLINE:
        return min(xs), min(ys), max(xs), max(ys)

    side = max(1, round(dot_window * min(width, height)))
    left, top = round(min(xs) - side / 2), round(min(ys) - side / 2)
    return left, top, round(max(xs) - side / 2) + side, round(max(ys) - side / 2) + side


def crop_rectangle(target: CropTarget, width: int, height: int,
                   dot_window: float) -> tuple[int, int, int, int]:
    """The crop of one label in pixels, clipped to the image.

    Args:
        target: the label.
        width, height: the image size in pixels.
        dot_window: a dot's window side as a fraction of the image's shorter side.

    Returns:
        ``(left, top, right, bottom)``, right and bottom exclusive, at least one pixel each way.

    Raises:
        CropSkipped: the crop holds no pixel.
    """
    left, top, right, bottom = _pixel_extent(target, width, height, dot_window)
    px_left = max(0, math.floor(left + PIXEL_SLACK))
    px_top = max(0, math.floor(top + PIXEL_SLACK))
    px_right = min(width, math.ceil(right - PIXEL_SLACK))
    px_bottom = min(height, math.ceil(bottom - PIXEL_SLACK))
    if px_right - px_left < 1 or px_bottom - px_top < 1:
        raise CropSkipped(f"empty crop: the {target.kind.value} covers no pixel of the image")
    return px_left, px_top, px_right, px_bottom


def encode_png(image: Image.Image) -> bytes:
    """Deterministic PNG bytes of an image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def cut_image_crops(path: str | Path, targets: Sequence[CropTarget],
                    dot_window: float) -> ImageCrops:
    """Decodes one image once and cuts the crop of every label on it.

    A missing or undecodable file skips all of the image's labels with that reason.

    Args:
        path: the cached image file.
        targets: the labels on this image.
        dot_window: a dot's window side as a fraction of the image's shorter side.

    Returns:
        The encoded crops by key and the skipped keys with their reasons.
    """
    result = ImageCrops()
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except FileNotFoundError:
        result.skipped = {t.key: "media file missing from the cache" for t in targets}
        return result
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = f"media file unreadable: {type(exc).__name__}"
        result.skipped = {t.key: reason for t in targets}
        return result

    for target in targets:
        try:
            box = crop_rectangle(target, image.width, image.height, dot_window)
        except CropSkipped as exc:
            result.skipped[target.key] = str(exc)
            continue
        result.crops[target.key] = encode_png(image.crop(box))
    return result
