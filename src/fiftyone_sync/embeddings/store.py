"""Reading labels to embed from a dataset and writing their vectors back, by label id.

Every label field of the dataset (``fo.Detections``, ``fo.Keypoints``, ``fo.Polylines``) gets
two declared label attributes: ``embedding`` (a ``VectorField``) and ``embedding_geometry``
(the digest of the geometry the vector was made from, see
:func:`fiftyone_sync.embeddings.crops.geometry_digest`). Declaring ``embedding`` first matters:
FiftyOne's brain treats an undeclared embeddings path as absent and tries to download a model.

A label needs a vector when it has none, or when its stored digest differs from the digest
of its current geometry. Writes go through ``set_label_values`` addressed by sample and label
id (never by re-saving a stale sample the App may be editing): a label deleted meanwhile is
simply not found, and a label moved meanwhile keeps the old digest and is re-embedded next
time.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

import fiftyone as fo
import numpy as np
from fiftyone import ViewField as F

from fiftyone_sync.embeddings.crops import CropRule, CropTarget, GeometryKind, geometry_digest

logger = logging.getLogger(__name__)

VECTOR_ATTR = "embedding"
DIGEST_ATTR = "embedding_geometry"

_LIST_TYPES: dict[type, tuple[str, GeometryKind, str]] = {
    fo.Detections: ("detections", GeometryKind.BOX, "bounding_box"),
    fo.Keypoints: ("keypoints", GeometryKind.DOT, "points"),
    fo.Polylines: ("polylines", GeometryKind.POLYLINE, "points"),
}


@dataclasses.dataclass(frozen=True)
class LabelField:
    """One label field of the dataset and where its labels keep geometry and vectors.

    Attributes:
        name: the sample field (e.g. ``boxes``).
        list_key: the list inside it (``detections``, ``keypoints`` or ``polylines``).
        kind: the geometry kind of its labels.
        geometry_attr: the label attribute holding the geometry.
    """

    name: str
    list_key: str
    kind: GeometryKind
    geometry_attr: str

    @property
    def root(self) -> str:
        """The path of the label list, e.g. ``boxes.detections``."""
        return f"{self.name}.{self.list_key}"

    def path(self, attr: str) -> str:
        """The path of a label attribute, e.g. ``boxes.detections.embedding``."""
        return f"{self.root}.{attr}"


@dataclasses.dataclass(frozen=True)
class LabelToEmbed:
    """A label that needs a vector: where it lives and what to crop.

    Attributes:
        field: its label field.
        sample_id: its sample.
        filepath: the sample's cached image.
        target: what to crop (its key is the label id).
        digest: the digest of its current geometry (stored with the new vector).
        stale: it holds a vector made from other geometry (cleared if no new one comes).
    """

    field: LabelField
    sample_id: str
    filepath: str
    target: CropTarget
    digest: str
    stale: bool


@dataclasses.dataclass
class FieldScan:
    """What one label field holds: its labels needing vectors, and how many are current."""

    field: LabelField
    total: int = 0
    current: int = 0
    pending: list[LabelToEmbed] = dataclasses.field(default_factory=list)


def label_fields(dataset: fo.Dataset, only: Iterable[str] | None = None) -> list[LabelField]:
    """The dataset's label fields that hold boxes, dots or polylines.

    Args:
        dataset: the dataset.
        only: restrict to these field names (None: all).
    """
    wanted = set(only) if only is not None else None
    fields = []
    schema = dataset.get_field_schema(embedded_doc_type=tuple(_LIST_TYPES))
    for name, field in sorted(schema.items()):
        if wanted is not None and name not in wanted:
            continue
        list_key, kind, geometry_attr = _LIST_TYPES[field.document_type]
        fields.append(LabelField(name, list_key, kind, geometry_attr))
    return fields


def declare_vector_fields(dataset: fo.Dataset, field: LabelField) -> None:
    """Declares ``embedding`` and ``embedding_geometry`` on the field's labels (idempotent)."""
    declared = [(VECTOR_ATTR, fo.VectorField, "Fast-VSS embedding of the label's crop"),
                (DIGEST_ATTR, fo.StringField, "digest of the geometry the embedding was made of")]
    for attr, ftype, description in declared:
        path = field.path(attr)
        if not dataset.has_field(path):
            dataset.add_sample_field(path, ftype, description=description)
            logger.info("Declared %s on dataset %s", path, dataset.name)


def scan_field(dataset: fo.Dataset, field: LabelField, rule: CropRule,
               force: bool = False) -> FieldScan:
    """Finds the field's labels whose vector is missing or stale.

    Args:
        dataset: the dataset.
        field: the label field.
        rule: the crop rule in force (part of every label's digest).
        force: treat every label as needing a new vector.
    """
    has_vector = F(field.root).map(F(VECTOR_ATTR).exists())
    sample_ids, filepaths, label_ids, geometries, digests, flags = dataset.values(
        ["id", "filepath", field.path("id"), field.path(field.geometry_attr),
         field.path(DIGEST_ATTR), has_vector])

    scan = FieldScan(field)
    for sample_id, filepath, *labels in zip(sample_ids, filepaths, label_ids, geometries,
                                            digests, flags, strict=True):
        columns = (column or [] for column in labels)
        for label_id, geometry, stored, present in zip(*columns, strict=True):
            scan.total += 1
            target = CropTarget(label_id, field.kind, geometry)
            digest = geometry_digest(field.kind, geometry, rule)
            if present and stored == digest and not force:
                scan.current += 1
                continue
            scan.pending.append(LabelToEmbed(field, sample_id, filepath, target, digest,
                                             stale=bool(present)))
    return scan


def write_vectors(dataset: fo.Dataset, field: LabelField,
                  stored: Sequence[tuple[LabelToEmbed, Sequence[float]]]) -> None:
    """Attaches vectors to their labels by id, then their geometry digests.

    The digest goes second: a job interrupted in between leaves a vector without a digest,
    which the next job re-embeds.
    """
    if not stored:
        return
    vectors = [_entry(label, np.asarray(vector, dtype=np.float32)) for label, vector in stored]
    digests = [_entry(label, label.digest) for label, _ in stored]
    dataset.set_label_values(field.path(VECTOR_ATTR), vectors)
    dataset.set_label_values(field.path(DIGEST_ATTR), digests)


def clear_vectors(dataset: fo.Dataset, field: LabelField,
                  labels: Sequence[LabelToEmbed]) -> None:
    """Removes stale vectors (made from other geometry) that could not be replaced."""
    if not labels:
        return
    for attr in (VECTOR_ATTR, DIGEST_ATTR):
        dataset.set_label_values(field.path(attr), [_entry(label, None) for label in labels])


def _entry(label: LabelToEmbed, value: object) -> dict:
    """One item of ``set_label_values``'s list form."""
    return {"sample_id": label.sample_id, "label_id": label.target.key, "value": value}


def embedded_labels(dataset: fo.Dataset, field: LabelField) -> list[tuple[str, str]]:
    """``(label id, geometry digest)`` of every label of the field that holds a vector."""
    view = embedded_view(dataset, field)
    label_ids, digests = view.values([field.path("id"), field.path(DIGEST_ATTR)], unwind=True)
    return list(zip(label_ids, digests, strict=True))


def stored_dimension(dataset: fo.Dataset, fields: Iterable[LabelField]) -> int | None:
    """The length of the vectors already stored (None when there are none yet).

    New vectors must have this length too, or the maps could not hold them all; after a
    change of Fast-VSS model, a forced run re-embeds everything at the new length.
    """
    for field in fields:
        for vectors in embedded_view(dataset, field).limit(1).values(field.path(VECTOR_ATTR)):
            for vector in vectors or []:
                if vector is not None:
                    return len(vector)
    return None


def embedded_view(dataset: fo.Dataset, field: LabelField) -> fo.DatasetView:
    """The samples with embedded labels of the field, holding only those labels."""
    return dataset.filter_labels(field.name, F(VECTOR_ATTR).exists())
