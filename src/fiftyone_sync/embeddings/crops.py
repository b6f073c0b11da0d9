"""Cutting label crops out of cached media, and fingerprinting what a crop depends on.

A crop is what Fast-VSS embeds for one label. Every crop is a **square** (a ViT resizes its
input to a square, so a long thin crop would become a stretched smear):

- a box or a line/polygon: the square around the visible part of its extent (the box, or
  the bounding box of the points, clipped to the image), whose side is the extent's longer
  side plus a context margin of ``margin`` times that side on each side (the
  ``embed_crop_margin`` setting), and at least ``min_size`` pixels (``embed_crop_min_size``).
  A horizontal line or a one-pixel-thin box therefore gets a proper square around it;
- a dot: a fixed window centred on it, ``dot_window`` times the image's shorter side
  (``dot_crop_window``), and at least ``min_size`` pixels.

Pixels of the square that fall outside the image are not read: they are padded with
:data:`PAD_COLOUR`, so the object stays where it is in the square and the output is always
``side`` x ``side`` pixels. A label whose geometry is missing, not finite or wholly outside
the image is skipped with a reason, never sent.

:func:`cut_crop` is the one crop function of the product: the embedding job uses it for the
Fast-VSS uploads, and anything else that writes a crop file of a label (a thumbnail for the
App, an export) must call it too, so that what a reviewer sees is what was embedded.
:func:`cut_image_crops` decodes an image once for all of its labels and encodes every crop
as PNG, so the same label on the same image always yields the same bytes (tests compare
vectors computed locally from those bytes). This module is pure: no FiftyOne, no I/O beyond
reading the image file.
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

PAD_COLOUR = (124, 116, 104)
"""Fill of a square's part outside the image: the ImageNet mean colour, which a ViT's input
normalisation maps to zero, so the padding pulls the embedding as little as possible."""


class GeometryKind(str, enum.Enum):
    """The three geometry shapes a label field can hold."""

    BOX = "box"
    DOT = "dot"
    POLYLINE = "polyline"


class CropSkipped(ValueError):
    """A label whose crop cannot be cut; the message is the reason the result reports."""


@dataclasses.dataclass(frozen=True)
class CropRule:
    """How crops are cut (the crop settings).

    Attributes:
        margin: context added on each side of a box's or line's square, as a fraction of
            the extent's longer side (``embed_crop_margin``).
        min_size: the smallest side of any crop, in pixels (``embed_crop_min_size``).
        dot_window: a dot's window side as a fraction of the image's shorter side
            (``dot_crop_window``).
    """

    margin: float
    min_size: int
    dot_window: float

    @classmethod
    def from_settings(cls, settings: Any) -> CropRule:
        """The rule of a :class:`~fiftyone_sync.settings.Settings`."""
        return cls(margin=settings.embed_crop_margin, min_size=settings.embed_crop_min_size,
                   dot_window=settings.dot_crop_window)

    def terms(self, kind: GeometryKind) -> dict[str, float]:
        """The parts of the rule a crop of ``kind`` depends on."""
        if kind is GeometryKind.DOT:
            return {"window": self.dot_window, "min_size": self.min_size}
        return {"margin": self.margin, "min_size": self.min_size}


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


@dataclasses.dataclass(frozen=True)
class CropWindow:
    """Where a label's square crop lies on its image, in pixels.

    Attributes:
        left, top: the square's top-left corner (may be negative: past the image's edge).
        side: the square's side; the crop image is ``side`` x ``side`` pixels.
        width, height: the image's size.
    """

    left: int
    top: int
    side: int
    width: int
    height: int

    @property
    def square(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the whole square, right and bottom exclusive."""
        return self.left, self.top, self.left + self.side, self.top + self.side

    @property
    def clipped(self) -> tuple[int, int, int, int]:
        """The part of the square inside the image (the only pixels read)."""
        return (max(0, self.left), max(0, self.top), min(self.width, self.left + self.side),
                min(self.height, self.top + self.side))


@dataclasses.dataclass
class ImageCrops:
    """The crops of one image: encoded PNG bytes by key, and why the others were skipped."""

    crops: dict[str, bytes] = dataclasses.field(default_factory=dict)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


def geometry_digest(kind: GeometryKind, geometry: Any, rule: CropRule) -> str:
    """A short fingerprint of what a label's crop depends on.

    Stored with the vector, so the next job re-embeds a label whose geometry, or the part of
    the crop rule its kind uses (margin and minimum size; for dots the window and minimum
    size), changed since its vector was made.

    Args:
        kind: the geometry kind.
        geometry: the label's geometry as :class:`CropTarget` holds it.
        rule: the crop rule in force.
    """
    payload = {"kind": kind.value, "geometry": geometry, "crop": rule.terms(kind)}
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


def _extent(target: CropTarget, width: int, height: int) -> tuple[float, float, float, float]:
    """The label's own (left, top, right, bottom) in pixels: the box, or its points' bounds."""
    if target.kind is GeometryKind.BOX:
        values = target.geometry
        if not isinstance(values, (list, tuple)) or len(values) != 4:
            raise CropSkipped("empty crop: the box has no bounding_box")
        try:
            x, y, w, h = (float(v) for v in values)
        except (TypeError, ValueError):
            raise CropSkipped("empty crop: the box has non-numeric coordinates") from None
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            raise CropSkipped("empty crop: the box has non-finite coordinates")
        left, right = sorted((x * width, (x + w) * width))
        top, bottom = sorted((y * height, (y + h) * height))
        return left, top, right, bottom

    points = _finite_points(target.geometry)
    if not points:
        raise CropSkipped(f"empty crop: the {target.kind.value} has no finite points")
    xs, ys = [p[0] * width for p in points], [p[1] * height for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _clip_span(low: float, high: float, limit: int) -> tuple[float, float] | None:
    """``[low, high]`` clipped to ``[0, limit]``; None when no part of a pixel is left.

    A span of zero length (a horizontal line's height) is kept when it lies within the
    image; a span of some length must keep some length (a box wholly past an edge goes).
    """
    clipped = max(0.0, low), min(float(limit), high)
    if clipped[1] < clipped[0] - PIXEL_SLACK:
        return None
    if high - low > PIXEL_SLACK and clipped[1] - clipped[0] <= PIXEL_SLACK:
        return None
    return clipped


def _half_up(value: float) -> int:
    """Rounds halves up (``round`` rounds them to even, which shifts crops unevenly)."""
    return math.floor(value + 0.5)


def crop_window(target: CropTarget, width: int, height: int, rule: CropRule) -> CropWindow:
    """The square crop of one label on an image of ``width`` x ``height`` pixels.

    Args:
        target: the label.
        width, height: the image size in pixels.
        rule: the crop rule.

    Returns:
        The square (centred on the visible part of the label) and its part in the image.

    Raises:
        CropSkipped: the label has no usable geometry, or lies wholly outside the image.
    """
    left, top, right, bottom = _extent(target, width, height)
    if target.kind is GeometryKind.DOT:
        window = max(1, _half_up(rule.dot_window * min(width, height)))
        longer = math.ceil(max(right - left, bottom - top) - PIXEL_SLACK)
        side = max(rule.min_size, window + max(0, longer), 1)
    else:
        span_x, span_y = _clip_span(left, right, width), _clip_span(top, bottom, height)
        if span_x is None or span_y is None:
            raise CropSkipped(
                f"empty crop: the {target.kind.value} covers no pixel of the image")
        (left, right), (top, bottom) = span_x, span_y
        longer = max(right - left, bottom - top)
        side = max(rule.min_size, math.ceil(longer * (1 + 2 * rule.margin) - PIXEL_SLACK), 1)

    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    found = CropWindow(_half_up(centre_x - side / 2), _half_up(centre_y - side / 2), side,
                       width, height)
    clip_left, clip_top, clip_right, clip_bottom = found.clipped
    if clip_right <= clip_left or clip_bottom <= clip_top:
        raise CropSkipped(f"empty crop: the {target.kind.value} covers no pixel of the image")
    return found


def cut_crop(image: Image.Image, target: CropTarget, rule: CropRule) -> Image.Image:
    """The square crop image of one label: the product's one crop function.

    Use it for every crop of a label, the Fast-VSS uploads and any crop file shown to a
    person (module docstring), so the two never differ.

    Args:
        image: the decoded image (RGB; other modes are converted).
        target: the label.
        rule: the crop rule.

    Returns:
        An RGB image of ``side`` x ``side`` pixels (see :func:`crop_window`); its part
        outside the source image is :data:`PAD_COLOUR`.

    Raises:
        CropSkipped: the label has no usable geometry, or lies wholly outside the image.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    window = crop_window(target, image.width, image.height, rule)
    clipped = window.clipped
    inside = image.crop(clipped)
    if clipped == window.square:
        return inside
    canvas = Image.new("RGB", (window.side, window.side), PAD_COLOUR)
    canvas.paste(inside, (clipped[0] - window.left, clipped[1] - window.top))
    return canvas


def encode_png(image: Image.Image) -> bytes:
    """Deterministic PNG bytes of an image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def cut_image_crops(path: str | Path, targets: Sequence[CropTarget],
                    rule: CropRule) -> ImageCrops:
    """Decodes one image once and cuts the crop of every label on it, as PNG bytes.

    A missing or undecodable file skips all of the image's labels with that reason.

    Args:
        path: the cached image file.
        targets: the labels on this image.
        rule: the crop rule.

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
            crop = cut_crop(image, target, rule)
        except CropSkipped as exc:
            result.skipped[target.key] = str(exc)
            continue
        result.crops[target.key] = encode_png(crop)
    return result
