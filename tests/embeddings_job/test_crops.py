"""Crops: every label becomes a square crop of real pixels, centred on it, never a smear.

The test image encodes each pixel's own coordinates (red = x, green = y, blue = 255), so a
crop's pixels say exactly which part of the image they came from, and padding (the ImageNet
mean colour, blue 104) is told apart from image pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fiftyone_sync.embeddings.crops import (
    PAD_COLOUR,
    CropRule,
    CropSkipped,
    CropTarget,
    GeometryKind,
    crop_window,
    cut_crop,
    cut_image_crops,
    encode_png,
    geometry_digest,
)

WIDTH, HEIGHT = 200, 100
RULE = CropRule(margin=0.25, min_size=8, dot_window=0.1)


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    """A 200 x 100 PNG whose pixel (x, y) is (x, y, 255)."""
    xs, ys = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    pixels = np.stack([xs, ys, np.full_like(xs, 255)], axis=-1).astype(np.uint8)
    path = tmp_path / "coordinates.png"
    Image.fromarray(pixels).save(path)
    return path


def _source(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _cut(path: Path, kind: GeometryKind, geometry: object,
         rule: CropRule = RULE) -> np.ndarray:
    """The crop the job would upload, decoded back to pixels."""
    cut = cut_image_crops(path, [CropTarget("k", kind, geometry)], rule)
    assert not cut.skipped, cut.skipped
    with Image.open(io.BytesIO(cut.crops["k"])) as image:
        return np.asarray(image.convert("RGB"))


def _assert_is_window(crop: np.ndarray, source: np.ndarray, left: int, top: int,
                      side: int) -> None:
    """The crop is the ``side`` square at (left, top): image pixels inside, padding outside."""
    assert crop.shape == (side, side, 3)
    expected = np.empty_like(crop)
    expected[:, :] = PAD_COLOUR
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(WIDTH, left + side), min(HEIGHT, top + side)
    expected[y0 - top:y1 - top, x0 - left:x1 - left] = source[y0:y1, x0:x1]
    assert np.array_equal(crop, expected)


def test_a_box_becomes_a_square_with_its_margin_clipped_and_padded(image_path: Path) -> None:
    """A 60 x 20 px box gets a 90 px square (60 + 2 x 25 %) around its centre; the 5 rows
    above the image are padding, not stretched pixels."""
    box = [0.2, 0.3, 0.3, 0.2]
    window = crop_window(CropTarget("b", GeometryKind.BOX, box), WIDTH, HEIGHT, RULE)

    assert window.square == (25, -5, 115, 85)
    assert window.clipped == (25, 0, 115, 85)
    crop = _cut(image_path, GeometryKind.BOX, box)
    _assert_is_window(crop, _source(image_path), 25, -5, 90)
    assert tuple(crop[45, 45]) == (70, 40, 255)  # the box's centre is the crop's centre


def test_a_horizontal_line_gets_a_square_around_it_instead_of_being_skipped(
        image_path: Path) -> None:
    """A flat line 100 px long has no height: it still gets a 150 px square, its row in the
    middle, padded where the square passes the image's edges."""
    line = [[[0.1, 0.5], [0.6, 0.5]]]
    window = crop_window(CropTarget("l", GeometryKind.POLYLINE, line), WIDTH, HEIGHT, RULE)

    assert window.square == (-5, -25, 145, 125)
    crop = _cut(image_path, GeometryKind.POLYLINE, line)
    _assert_is_window(crop, _source(image_path), -5, -25, 150)
    assert tuple(crop[75, 75]) == (70, 50, 255)


def test_a_one_pixel_thin_box_gets_a_square_centred_on_it(image_path: Path) -> None:
    """A 1 x 60 px box is squared on its longer side (90 px), centred on its column."""
    thin = [0.3, 0.2, 0.005, 0.6]
    window = crop_window(CropTarget("t", GeometryKind.BOX, thin), WIDTH, HEIGHT, RULE)

    assert window.square == (16, 5, 106, 95)
    crop = _cut(image_path, GeometryKind.BOX, thin)
    _assert_is_window(crop, _source(image_path), 16, 5, 90)
    assert tuple(crop[45, 45]) == (61, 50, 255)


def test_a_polygon_is_squared_on_the_bounds_of_its_points(image_path: Path) -> None:
    """Points spanning 40 x 50 px: a 75 px square around the bounds' centre (40, 35)."""
    polygon = [[[0.1, 0.1], [0.3, 0.2], [0.2, 0.6]]]

    crop = _cut(image_path, GeometryKind.POLYLINE, polygon)

    _assert_is_window(crop, _source(image_path), 3, -2, 75)


def test_a_dot_gets_its_fixed_window_even_at_the_image_corner(image_path: Path) -> None:
    """The window is 10 % of the shorter side (10 px) around the dot, off-grid dots too; at
    the corner the same 10 px square is three quarters padding."""
    source = _source(image_path)

    _assert_is_window(_cut(image_path, GeometryKind.DOT, [[0.5, 0.5]]), source, 95, 45, 10)
    _assert_is_window(_cut(image_path, GeometryKind.DOT, [[0.503, 0.517]]), source, 96, 47, 10)
    _assert_is_window(_cut(image_path, GeometryKind.DOT, [[0.0, 0.0]]), source, -5, -5, 10)


def test_tiny_boxes_and_dots_grow_to_the_minimum_size(image_path: Path) -> None:
    """A 2 x 2 px box, a zero-size box and a 10 px dot window all become 32 px squares."""
    rule = CropRule(margin=0.25, min_size=32, dot_window=0.1)
    source = _source(image_path)

    tiny = _cut(image_path, GeometryKind.BOX, [0.5, 0.5, 0.01, 0.02], rule)
    _assert_is_window(tiny, source, 85, 35, 32)
    point = _cut(image_path, GeometryKind.BOX, [0.5, 0.5, 0.0, 0.0], rule)
    _assert_is_window(point, source, 84, 34, 32)
    _assert_is_window(_cut(image_path, GeometryKind.DOT, [[0.5, 0.5]], rule), source, 84, 34,
                      32)


def test_labels_outside_the_image_or_without_geometry_are_skipped_with_reasons(
        image_path: Path) -> None:
    """Only labels with no pixel of the image, or no finite geometry, are left out."""
    targets = [
        CropTarget("left", GeometryKind.BOX, [-0.5, 0.2, 0.3, 0.3]),
        CropTarget("past", GeometryKind.BOX, [1.0, 0.2, 0.3, 0.3]),
        CropTarget("nan", GeometryKind.DOT, [[float("nan"), float("nan")]]),
        CropTarget("none", GeometryKind.BOX, None),
        CropTarget("edge", GeometryKind.BOX, [0.9, 0.5, 0.5, 0.2]),
    ]

    cut = cut_image_crops(image_path, targets, RULE)

    assert cut.skipped == {
        "left": "empty crop: the box covers no pixel of the image",
        "past": "empty crop: the box covers no pixel of the image",
        "nan": "empty crop: the dot has no finite points",
        "none": "empty crop: the box has no bounding_box",
    }
    assert list(cut.crops) == ["edge"]
    with pytest.raises(CropSkipped):
        crop_window(targets[0], WIDTH, HEIGHT, RULE)


def test_the_upload_and_a_crop_file_are_the_same_pixels(image_path: Path) -> None:
    """cut_crop (for crop files) and the job's PNG uploads agree, byte for byte, every time."""
    target = CropTarget("b", GeometryKind.BOX, [0.9, 0.5, 0.5, 0.2])
    with Image.open(image_path) as image:
        crop_file = cut_crop(image, target, RULE)

    uploads = [cut_image_crops(image_path, [target], RULE).crops["b"] for _ in range(2)]

    assert uploads[0] == uploads[1] == encode_png(crop_file)
    _assert_is_window(np.asarray(crop_file), _source(image_path), 175, 45, 30)


def test_a_missing_image_skips_all_its_labels(tmp_path: Path) -> None:
    """A media file gone from the cache is a reason per label, not an exception."""
    targets = [CropTarget(key, GeometryKind.BOX, [0.1, 0.1, 0.2, 0.2]) for key in "ab"]
    cut = cut_image_crops(tmp_path / "absent.png", targets, RULE)
    assert cut.skipped == {"a": "media file missing from the cache",
                           "b": "media file missing from the cache"}


def test_the_digest_follows_geometry_and_the_crop_rule_of_its_kind() -> None:
    """A change of geometry, or of the rule a kind's crop uses, re-embeds; nothing else."""
    rule = CropRule(margin=0.1, min_size=32, dot_window=0.05)
    other_window = CropRule(margin=0.1, min_size=32, dot_window=0.5)
    other_margin = CropRule(margin=0.2, min_size=32, dot_window=0.05)
    other_minimum = CropRule(margin=0.1, min_size=64, dot_window=0.05)

    box = geometry_digest(GeometryKind.BOX, [0.1, 0.1, 0.2, 0.2], rule)
    assert box == geometry_digest(GeometryKind.BOX, [0.1, 0.1, 0.2, 0.2], other_window)
    assert box != geometry_digest(GeometryKind.BOX, [0.1, 0.1, 0.2, 0.3], rule)
    assert box != geometry_digest(GeometryKind.BOX, [0.1, 0.1, 0.2, 0.2], other_margin)
    assert box != geometry_digest(GeometryKind.BOX, [0.1, 0.1, 0.2, 0.2], other_minimum)
    dot = geometry_digest(GeometryKind.DOT, [[0.5, 0.5]], rule)
    assert dot == geometry_digest(GeometryKind.DOT, [[0.5, 0.5]], other_margin)
    assert dot != geometry_digest(GeometryKind.DOT, [[0.5, 0.5]], other_window)
