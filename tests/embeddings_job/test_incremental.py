"""The embedding job embeds what lacks a current vector, and only that; maps follow."""

from __future__ import annotations

import numpy as np

from fiftyone_sync.emulators.fastvss import image_vector
from tests.embeddings_job.builders import BOXES, DOTS, KINDS, LINES, box, crop_bytes, label_rows


def test_first_run_embeds_every_label_and_second_run_nothing(
        fo, make_dataset, make_ctx, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset()
    progress: list = []
    first = embed(make_ctx(dataset.name, progress=progress), EmbedRequest(version_id=1))

    assert first.to_dict()["fastvss"] == "ok"
    assert (first.labels, first.embedded, first.current) == (10, 10, 0)
    assert not first.failed and not first.skipped
    for field in (BOXES, DOTS, LINES):
        assert dataset.has_field(f"{field}.{KINDS[field][0]}.embedding")
        for row in label_rows(dataset, field):
            expected = image_vector(crop_bytes(row, field))
            assert np.allclose(row["vector"], expected, atol=1e-6), (field, row["id"])
    phases = {phase for phase, _, _ in progress}
    assert {"cropping", "embedding", "storing", "map"} <= phases
    maps = first.to_dict()["maps"]
    assert maps[BOXES]["status"] == "recomputed" and maps[BOXES]["labels"] == 6
    assert maps[DOTS]["status"] == "too_few"
    submitted = fastvss_emulator.state.submissions

    second = embed(make_ctx(dataset.name), EmbedRequest(version_id=1))

    assert (second.embedded, second.current) == (0, 10)
    assert second.to_dict()["fastvss"] == "not_needed"
    assert fastvss_emulator.state.submissions == submitted
    assert {m.status.value for m in second.maps} == {"unchanged"}


def test_map_and_similarity_serve_the_patches(fo, make_dataset, make_ctx) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset()
    result = embed(make_ctx(dataset.name), EmbedRequest(version_id=1)).to_dict()

    outcome = result["maps"][BOXES]
    assert outcome["method"] == "pca"
    assert {outcome["map_key"], outcome["similarity_key"]} <= set(dataset.list_brain_runs())
    points = dataset.load_brain_results(outcome["map_key"])
    box_ids = {row["id"] for row in label_rows(dataset, BOXES)}
    assert set(points.current_label_ids) == box_ids and points.points.shape == (6, 2)

    patches = dataset.to_patches(BOXES)
    query = next(iter(box_ids))
    nearest = patches.sort_by_similarity(query, k=2, brain_key=outcome["similarity_key"])
    assert nearest.values(f"{BOXES}.id")[0] == query


def test_added_and_moved_labels_are_embedded_and_the_map_recomputed(
        fo, make_dataset, make_ctx, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset()
    embed(make_ctx(dataset.name), EmbedRequest(version_id=1))
    map_key = f"tator_map_{BOXES}"
    before = dataset.get_brain_info(map_key).timestamp
    old_vectors = {row["id"]: row["vector"] for row in label_rows(dataset, BOXES)}

    sample = dataset.first()
    sample[BOXES].detections.extend([box(fo, 7), box(fo, 8)])
    sample.save()
    last = dataset.last()
    last[DOTS].keypoints.append(fo.Keypoint(label="Salp", points=[[0.5, 0.5]]))
    last.save()
    moved = [row["id"] for row in label_rows(dataset, BOXES)[:2]]
    dataset.set_label_values(f"{BOXES}.detections.bounding_box",
                             {label_id: [0.5, 0.5, 0.25, 0.25] for label_id in moved})

    result = embed(make_ctx(dataset.name), EmbedRequest(version_id=1))

    assert (result.labels, result.embedded, result.current) == (13, 5, 8)
    maps = result.to_dict()["maps"]
    assert maps[BOXES]["status"] == "recomputed" and maps[BOXES]["labels"] == 8
    assert maps[DOTS]["status"] == "recomputed" and maps[DOTS]["labels"] == 3
    assert dataset.get_brain_info(map_key).timestamp > before
    for row in label_rows(dataset, BOXES):
        assert np.allclose(row["vector"], image_vector(crop_bytes(row, BOXES)), atol=1e-6)
        if row["id"] in moved:
            assert not np.allclose(row["vector"], old_vectors[row["id"]])

    after = dataset.get_brain_info(map_key).timestamp
    again = embed(make_ctx(dataset.name), EmbedRequest(version_id=1))

    assert again.embedded == 0
    assert {m.status.value for m in again.maps} == {"unchanged"}
    assert dataset.get_brain_info(map_key).timestamp == after


def test_a_cancelled_job_keeps_the_chunks_it_stored_and_the_rerun_does_the_rest(
        fo, make_dataset, make_ctx, embed_settings) -> None:
    import pytest

    from fiftyone_sync.embeddings.job import EmbedRequest, embed
    from fiftyone_sync.jobs.context import JobCancelled
    from tests.embeddings_job.builders import DatasetSpec

    dataset = make_dataset(DatasetSpec(images=3, boxes=4, dots=0, lines=0))
    settings = embed_settings.model_copy(update={"embed_chunk_labels": 4})
    progress: list = []
    ctx = make_ctx(dataset.name, settings, progress)
    ctx.is_cancelled = lambda: ("storing", 4, 12) in progress

    with pytest.raises(JobCancelled):
        embed(ctx, EmbedRequest(version_id=1))

    stored = [row for row in label_rows(dataset, BOXES) if row["vector"] is not None]
    assert len(stored) == 4
    rerun = embed(make_ctx(dataset.name, settings), EmbedRequest(version_id=1))
    assert (rerun.embedded, rerun.current) == (8, 4)
