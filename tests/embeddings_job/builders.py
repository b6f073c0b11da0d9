"""Test datasets for the embedding job: real PNG images with Tator-identified labels.

Every function takes the ``fiftyone`` module as an argument, so importing this module never
imports FiftyOne (the session fixture binds the database first).
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fiftyone_sync.embeddings.crops import CropRule, CropTarget, GeometryKind, cut_image_crops
from fiftyone_sync.settings import Settings

BOXES, DOTS, LINES = "boxes", "dots", "lines"
KINDS = {BOXES: ("detections", GeometryKind.BOX, "bounding_box"),
         DOTS: ("keypoints", GeometryKind.DOT, "points"),
         LINES: ("polylines", GeometryKind.POLYLINE, "points")}
_ids = itertools.count(1000)


@dataclasses.dataclass
class DatasetSpec:
    """How many images and labels per image a test dataset has."""

    images: int = 2
    boxes: int = 3
    dots: int = 1
    lines: int = 1
    size: tuple[int, int] = (160, 120)


def write_image(path: Path, size: tuple[int, int], seed: int) -> None:
    """A PNG of coloured noise: every crop of it looks different."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def identity() -> dict[str, Any]:
    """Tator identity attributes of a pulled label."""
    return {"tator_elemental_id": str(uuid.uuid4()), "tator_version": 1,
            "tator_id": next(_ids), "tator_mark": 0}


def box(fo: Any, number: int) -> Any:
    """A box, placed by its number."""
    x, y = 0.05 + 0.25 * (number % 4), 0.1 + 0.05 * (number % 5)
    return fo.Detection(label="Copepod", bounding_box=[x, y, 0.2, 0.3], **identity())


def dot(fo: Any, number: int) -> Any:
    """A dot, placed by its number."""
    return fo.Keypoint(label="Salp", points=[[0.3 + 0.1 * (number % 5), 0.6]],
                       **identity())


def line(fo: Any, number: int) -> Any:
    """A diagonal line, placed by its number."""
    x = 0.1 + 0.1 * (number % 5)
    return fo.Polyline(label="Diatom", points=[[[x, 0.2], [x + 0.3, 0.7]]], closed=False,
                       filled=False, **identity())


def build_dataset(fo: Any, name: str, folder: Path, spec: DatasetSpec) -> Any:
    """A dataset of ``spec.images`` noise images with boxes, dots and lines."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for index in range(spec.images):
        path = folder / f"image_{index:03d}.png"
        write_image(path, spec.size, seed=index + 7)
        samples.append(fo.Sample(
            filepath=str(path),
            boxes=fo.Detections(detections=[box(fo, i) for i in range(spec.boxes)]),
            dots=fo.Keypoints(keypoints=[dot(fo, i) for i in range(spec.dots)]),
            lines=fo.Polylines(polylines=[line(fo, i) for i in range(spec.lines)])))
    dataset = fo.Dataset(name)
    dataset.add_samples(samples)
    return dataset


def label_rows(dataset: Any, field: str) -> list[dict[str, Any]]:
    """Every label of a field: sample id, filepath, label id, geometry, vector."""
    key, _, geometry = KINDS[field]
    columns = dataset.values(["id", "filepath", f"{field}.{key}.id",
                              f"{field}.{key}.{geometry}", f"{field}.{key}.embedding"])
    rows = []
    for sample_id, filepath, ids, geometries, vectors in zip(*columns, strict=True):
        for label_id, geom, vector in zip(ids or [], geometries or [], vectors or [], strict=True):
            rows.append({"sample_id": sample_id, "filepath": filepath, "id": label_id,
                         "geometry": geom, "vector": vector})
    return rows


def default_rule() -> CropRule:
    """The crop rule of the default settings (the ``embed_settings`` fixture's)."""
    return CropRule.from_settings(Settings.model_construct())


def crop_bytes(row: dict[str, Any], field: str, rule: CropRule | None = None) -> bytes:
    """The crop of one label, cut locally the way the job cuts it (default settings)."""
    kind = KINDS[field][1]
    cut = cut_image_crops(row["filepath"], [CropTarget(row["id"], kind, row["geometry"])],
                          rule or default_rule())
    return cut.crops[row["id"]]
