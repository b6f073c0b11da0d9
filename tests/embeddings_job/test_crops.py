"""Crops: clipped boxes, square dot windows, polyline bounds, reasons for the empty ones."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from fiftyone_sync.embeddings.crops import (
    CropTarget,
    GeometryKind,
    cut_image_crops,
    geometry_digest,
)
from tests.embeddings_job.builders import write_image


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_each_kind_is_cut_to_its_rule(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    write_image(path, (200, 100), seed=1)
    targets = [
        CropTarget("box", GeometryKind.BOX, [0.9, 0.5, 0.5, 0.2]),
        CropTarget("dot", GeometryKind.DOT, [[0.5, 0.5]]),
        CropTarget("poly", GeometryKind.POLYLINE, [[[0.1, 0.1], [0.3, 0.2], [0.2, 0.6]]]),
        CropTarget("flat", GeometryKind.POLYLINE, [[[0.1, 0.5], [0.6, 0.5]]]),
        CropTarget("gone", GeometryKind.BOX, [-0.5, 0.2, 0.3, 0.3]),
        CropTarget("nan", GeometryKind.DOT, [[float("nan"), float("nan")]]),
    ]

    cut = cut_image_crops(path, targets, dot_window=0.1)

    assert _size(cut.crops["box"]) == (20, 20)
    assert _size(cut.crops["dot"]) == (10, 10)
    off_grid = cut_image_crops(path, [CropTarget("d", GeometryKind.DOT, [[0.503, 0.517]])], 0.1)
    assert _size(off_grid.crops["d"]) == (10, 10)
    assert _size(cut.crops["poly"]) == (40, 50)
    assert set(cut.skipped) == {"flat", "gone", "nan"}
    assert cut.skipped["nan"] == "empty crop: the dot has no finite points"
    again = cut_image_crops(path, targets[:1], dot_window=0.1)
    assert again.crops["box"] == cut.crops["box"]


def test_a_missing_image_skips_all_its_labels(tmp_path: Path) -> None:
    targets = [CropTarget(key, GeometryKind.BOX, [0.1, 0.1, 0.2, 0.2]) for key in "ab"]
    cut = cut_image_crops(tmp_path / "absent.png", targets, 0.05)
    assert cut.skipped == {"a": "media file missing from the cache",
                           "b": "media file missing from the cache"}


def test_the_digest_follows_geometry_and_the_dot_window() -> None:
    box = geometry_digest(GeometryKind.BOX, [0.1, 0.1, 0.2, 0.2], 0.05)
    assert box == geometry_digest(GeometryKind.BOX, [0.1, 0.1, 0.2, 0.2], 0.5)
    assert box != geometry_digest(GeometryKind.BOX, [0.1, 0.1, 0.2, 0.3], 0.05)
    dot = geometry_digest(GeometryKind.DOT, [[0.5, 0.5]], 0.05)
    assert dot != geometry_digest(GeometryKind.DOT, [[0.5, 0.5]], 0.1)
