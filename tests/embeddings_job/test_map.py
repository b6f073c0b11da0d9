"""The 2-D map with ``embed_map_method="umap"``: UMAP when umap-learn works, else PCA and why.

umap-learn is the optional extra ``map`` of the package: a deployment without it, or with a
numba that cannot compile, must still get a map (PCA), and the job's result must say that
it fell back and why, so nobody mistakes a PCA map for a UMAP one.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.embeddings_job.builders import BOXES, DatasetSpec

UMAP_SIZED = DatasetSpec(images=8, boxes=4, dots=0, lines=0)
"""32 boxes: the fewest labels UMAP is used for (``visualize.UMAP_MIN_LABELS``)."""


def _embed_with_umap(make_dataset, make_ctx, embed_settings):
    """Embeds a fresh 32-box dataset with the map method set to UMAP."""
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset(UMAP_SIZED)
    settings = embed_settings.model_copy(update={"embed_map_method": "umap"})
    result = embed(make_ctx(dataset.name, settings), EmbedRequest(version_id=1))
    return dataset, result.to_dict()


def _map_points(dataset, outcome: dict) -> np.ndarray:
    """The stored map's points, after checking the brain run used the reported method."""
    info = dataset.get_brain_info(outcome["map_key"])
    assert info.config.method == outcome["method"]
    points = dataset.load_brain_results(outcome["map_key"]).points
    assert np.isfinite(points).all()
    return points


def test_umap_draws_the_map_of_32_labels_when_umap_learn_is_installed(
        fo, make_dataset, make_ctx, embed_settings) -> None:
    """With umap-learn importable, 32 embedded boxes get a UMAP map and no fallback."""
    pytest.importorskip(
        "umap", reason="umap-learn (the package's optional extra 'map') is not installed in "
                       "this environment; install it with `pip install -e .[map]`")

    dataset, result = _embed_with_umap(make_dataset, make_ctx, embed_settings)

    outcome = result["maps"][BOXES]
    assert result["embedded"] == 32
    assert (outcome["status"], outcome["method"], outcome["fallback"]) == (
        "recomputed", "umap", None)
    assert _map_points(dataset, outcome).shape == (32, 2)


def test_umap_falls_back_to_pca_and_says_so_when_umap_learn_cannot_be_imported(
        fo, make_dataset, make_ctx, embed_settings, monkeypatch) -> None:
    """``import umap`` failing (as without the extra) gives a PCA map; the result says why."""
    monkeypatch.setitem(sys.modules, "umap", None)  # makes ``import umap`` raise ImportError

    dataset, result = _embed_with_umap(make_dataset, make_ctx, embed_settings)

    outcome = result["maps"][BOXES]
    assert (outcome["status"], outcome["requested"], outcome["method"]) == (
        "recomputed", "umap", "pca")
    assert outcome["fallback"].startswith("umap-learn is not importable (")
    assert _map_points(dataset, outcome).shape == (32, 2)
    assert dataset.info["tator_embeddings"][BOXES]["fallback"] == outcome["fallback"]


def test_a_umap_that_fails_while_computing_falls_back_to_pca(
        fo, make_dataset, make_ctx, embed_settings, monkeypatch) -> None:
    """A UMAP that imports but raises (e.g. numba cannot compile) still leaves a PCA map."""
    from fiftyone_sync.embeddings import visualize

    real = visualize.fob.compute_visualization

    def umap_breaks(*args, **kwargs):
        if kwargs.get("method") == "umap":
            raise RuntimeError("numba could not compile")
        return real(*args, **kwargs)

    monkeypatch.setattr(visualize, "umap_problem", lambda: None)
    monkeypatch.setattr(visualize.fob, "compute_visualization", umap_breaks)

    dataset, result = _embed_with_umap(make_dataset, make_ctx, embed_settings)

    outcome = result["maps"][BOXES]
    assert (outcome["method"], outcome["fallback"]) == (
        "pca", "UMAP failed (RuntimeError: numba could not compile)")
    assert _map_points(dataset, outcome).shape == (32, 2)
    assert outcome["similarity_key"] in dataset.list_brain_runs()
