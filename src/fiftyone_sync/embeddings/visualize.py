"""The 2-D embeddings map and the similarity index of each label field, kept current.

For every label field with vectors, two FiftyOne brain runs serve the App on that field's
patches: a visualization (``compute_visualization``: UMAP when ``umap-learn`` imports and
there are enough labels, PCA otherwise, the outcome saying why) and a similarity index
(``compute_similarity`` with the ``sklearn`` backend) behind "sort by similarity". Both run
on a view that keeps only the labels holding a vector, so a label without one is left out
rather than given a zero vector.

Both are costly (UMAP on 10k vectors takes seconds to tens of seconds), so they are recomputed
only when the set of embedded labels changed: a digest of the embedded labels' ids and
geometry digests per field is kept in the dataset's info under ``tator_embeddings``; a
missing brain run also forces a recompute.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import importlib
import logging
import re
import time
from collections.abc import Iterable

import fiftyone as fo
import fiftyone.brain as fob

from fiftyone_sync.embeddings.store import VECTOR_ATTR, LabelField, embedded_labels, embedded_view

logger = logging.getLogger(__name__)

INFO_KEY = "tator_embeddings"
"""The dataset info entry holding, per label field, what the current brain runs were made of."""

MAP_MIN_LABELS = 3
"""Fewer embedded labels than this get no map and no index (nothing worth looking at)."""

UMAP_MIN_LABELS = 32
"""UMAP needs a neighbourhood (15 by default) and is unstable on tiny sets: PCA below this."""


class MapStatus(str, enum.Enum):
    """What the map step did for one label field."""

    RECOMPUTED = "recomputed"
    UNCHANGED = "unchanged"
    TOO_FEW = "too_few"


@dataclasses.dataclass
class MapOutcome:
    """The map step's account of one label field (an item of the job's result)."""

    field: str
    status: MapStatus
    labels: int
    method: str | None = None
    map_key: str | None = None
    similarity_key: str | None = None
    seconds: float = 0.0
    requested: str | None = None
    fallback: str | None = None
    """Why ``method`` is not the ``requested`` one (e.g. umap-learn missing), else None."""

    def to_dict(self) -> dict:
        """The JSON form."""
        return {**dataclasses.asdict(self), "status": self.status.value,
                "seconds": round(self.seconds, 3)}


def brain_keys(field: LabelField) -> tuple[str, str]:
    """The brain keys of a field's map and similarity index (valid identifiers)."""
    safe = re.sub(r"\W", "_", field.name)
    return f"tator_map_{safe}", f"tator_sim_{safe}"


def embeddings_digest(labels: Iterable[tuple[str, str]]) -> str:
    """A digest of a set of embedded labels: their ids and the geometry behind each vector."""
    hasher = hashlib.sha256()
    for label_id, digest in sorted(labels):
        hasher.update(f"{label_id}:{digest};".encode())
    return hasher.hexdigest()


def umap_problem() -> str | None:
    """Why UMAP cannot run in this process (umap-learn missing or broken), or None.

    The module is really imported (once per process; numba makes it take a second or two),
    not just looked up: an installed umap-learn whose numba or llvmlite does not load must
    fall back too, rather than fail the map step.
    """
    try:
        importlib.import_module("umap")
    except Exception as exc:  # noqa: BLE001 - any failure to load it means "no UMAP"
        return f"umap-learn is not importable ({type(exc).__name__}: {exc})"
    return None


def choose_method(wanted: str, count: int) -> tuple[str, str | None]:
    """The map method to use, and why it is not ``wanted`` (None when it is).

    UMAP falls back to PCA when umap-learn does not import, or for fewer than
    :data:`UMAP_MIN_LABELS` labels.

    Args:
        wanted: the ``embed_map_method`` setting (``umap``, ``pca`` or ``tsne``).
        count: how many labels the map will hold.
    """
    if wanted != "umap":
        return wanted, None
    if count < UMAP_MIN_LABELS:
        return "pca", f"fewer than {UMAP_MIN_LABELS} labels for UMAP"
    problem = umap_problem()
    if problem is not None:
        logger.warning("%s; the embeddings map uses PCA", problem)
        return "pca", problem
    return "umap", None


def refresh_map(dataset: fo.Dataset, field: LabelField, method: str,
                force: bool = False) -> MapOutcome:
    """Recomputes the field's map and similarity index if its embedded labels changed.

    Args:
        dataset: the dataset.
        field: the label field (its ``embedding`` attribute is declared).
        method: the ``embed_map_method`` setting.
        force: recompute even if nothing changed.
    """
    labels = embedded_labels(dataset, field)
    digest = embeddings_digest(labels)
    map_key, sim_key = brain_keys(field)
    record = (dataset.info.get(INFO_KEY) or {}).get(field.name) or {}
    runs = set(dataset.list_brain_runs())
    too_few = len(labels) < MAP_MIN_LABELS
    runs_present = too_few or {map_key, sim_key} <= runs

    if not force and record.get("digest") == digest and runs_present:
        return MapOutcome(field.name, MapStatus.UNCHANGED, len(labels), record.get("method"),
                          record.get("map_key"), record.get("similarity_key"),
                          requested=method, fallback=record.get("fallback"))

    started = time.monotonic()
    for key in (map_key, sim_key):
        if key in runs:
            dataset.delete_brain_run(key)
    if too_few:
        outcome = MapOutcome(field.name, MapStatus.TOO_FEW, len(labels))
    else:
        chosen, fallback = choose_method(method, len(labels))
        outcome = _compute(dataset, field, chosen, len(labels))
        outcome.requested, outcome.fallback = method, outcome.fallback or fallback
    outcome.seconds = time.monotonic() - started
    _remember(dataset, field, digest, outcome)
    return outcome


def _compute(dataset: fo.Dataset, field: LabelField, method: str, count: int) -> MapOutcome:
    """Computes the map and the similarity index on the field's embedded labels.

    A UMAP that fails while computing (numba cannot compile or cache, a bad install) is
    replaced by PCA, the outcome's ``fallback`` saying why: the map step never fails on it.
    """
    map_key, sim_key = brain_keys(field)
    view = embedded_view(dataset, field)
    fallback = None
    try:
        _visualize(view, field, method, map_key, count)
    except Exception as exc:  # any UMAP failure falls back, others raise
        if method != "umap":
            raise
        fallback = f"UMAP failed ({type(exc).__name__}: {exc})"
        logger.warning("Embeddings map of %s: %s; using PCA", field.name, fallback)
        if map_key in dataset.list_brain_runs():
            dataset.delete_brain_run(map_key)
        method = "pca"
        _visualize(view, field, method, map_key, count)

    started = time.monotonic()
    fob.compute_similarity(view, patches_field=field.name, embeddings=VECTOR_ATTR,
                           backend="sklearn", metric="cosine", brain_key=sim_key,
                           progress=False)
    logger.info("Similarity index of %s (%d labels) computed in %.1f s", field.name, count,
                time.monotonic() - started)
    return MapOutcome(field.name, MapStatus.RECOMPUTED, count, method, map_key, sim_key,
                      fallback=fallback)


def _visualize(view: fo.DatasetView, field: LabelField, method: str, map_key: str,
               count: int) -> None:
    """Runs ``compute_visualization`` for the field's 2-D map under ``map_key``."""
    started = time.monotonic()
    # No seed: a seeded UMAP runs on one core; the layout need not repeat across recomputes.
    extra = {"verbose": False} if method == "umap" else {}
    fob.compute_visualization(view, patches_field=field.name, embeddings=VECTOR_ATTR,
                              method=method, brain_key=map_key, num_dims=2, progress=False,
                              **extra)
    logger.info("Embeddings map of %s (%d labels, %s) computed in %.1f s", field.name, count,
                method, time.monotonic() - started)


def _remember(dataset: fo.Dataset, field: LabelField, digest: str, outcome: MapOutcome) -> None:
    """Records in the dataset's info what the field's brain runs were made of."""
    dataset.reload()
    entries = dict(dataset.info.get(INFO_KEY) or {})
    entries[field.name] = {
        "digest": digest, "labels": outcome.labels, "method": outcome.method,
        "map_key": outcome.map_key, "similarity_key": outcome.similarity_key,
        "fallback": outcome.fallback,
        "computed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    dataset.info[INFO_KEY] = entries
    dataset.save()
