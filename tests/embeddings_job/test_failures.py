"""Fast-VSS failing, lying or gone: the job still succeeds, says why, and never mislabels."""

from __future__ import annotations

import numpy as np

from fiftyone_sync.emulators.fastvss import image_vector
from tests.embeddings_job.builders import BOXES, DatasetSpec, crop_bytes, label_rows

BOXES_ONLY = DatasetSpec(images=3, boxes=4, dots=0, lines=0)


def _vectors(dataset) -> dict:
    return {row["id"]: row["vector"] for row in label_rows(dataset, BOXES)}


def test_one_failed_batch_is_missing_and_the_rerun_fills_only_it(
        fo, make_dataset, make_ctx, embed_settings, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset(BOXES_ONLY)
    settings = embed_settings.model_copy(update={"fastvss_batch_size": 4})
    fastvss_emulator.set(fail_batch=2)

    first = embed(make_ctx(dataset.name, settings), EmbedRequest(version_id=1))

    assert first.to_dict()["fastvss"] == "partial"
    assert (first.embedded, sum(first.failed.values())) == (8, 4)
    assert (first.batches, first.failed_batches) == (3, 1)
    missing = [label_id for label_id, vector in _vectors(dataset).items() if vector is None]
    assert len(missing) == 4
    assert dataset.load_brain_results(f"tator_map_{BOXES}").points.shape == (8, 2)

    fastvss_emulator.set(fail_batch=None)
    submitted = fastvss_emulator.state.submissions
    second = embed(make_ctx(dataset.name, settings), EmbedRequest(version_id=1))

    assert (second.embedded, second.current, second.batches) == (4, 8, 1)
    assert fastvss_emulator.state.submissions == submitted + 1
    assert all(vector is not None for vector in _vectors(dataset).values())
    assert second.to_dict()["maps"][BOXES]["labels"] == 12


def test_shuffled_answers_still_reach_their_own_labels(
        fo, make_dataset, make_ctx, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset(BOXES_ONLY)
    fastvss_emulator.set(shuffle=True)

    result = embed(make_ctx(dataset.name), EmbedRequest(version_id=1))

    assert result.embedded == 12
    rows = label_rows(dataset, BOXES)
    expected = [image_vector(crop_bytes(row, BOXES)) for row in rows]
    assert len({tuple(np.round(vector, 6)) for vector in expected}) == 12
    for row, vector in zip(rows, expected, strict=True):
        assert np.allclose(row["vector"], vector, atol=1e-6), row["id"]


def test_missing_and_nan_vectors_leave_labels_without_embedding(
        fo, make_dataset, make_ctx, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset(DatasetSpec(images=1, boxes=5, dots=0, lines=0))
    fastvss_emulator.set(missing_vectors=1, nan_vectors=1)

    result = embed(make_ctx(dataset.name), EmbedRequest(version_id=1)).to_dict()

    assert (result["embedded"], result["failed"]) == (3, 2)
    assert any("NaN" in reason for reason in result["failed_reasons"])
    assert any("missing" in reason for reason in result["failed_reasons"])
    vectors = _vectors(dataset)
    empty = [label_id for label_id, vector in vectors.items() if vector is None]
    assert len(empty) == 2
    for vector in vectors.values():
        if vector is not None:
            assert np.isfinite(vector).all() and np.any(vector)
    assert dataset.has_field(f"{BOXES}.detections.embedding")
    points = dataset.load_brain_results(result["maps"][BOXES]["map_key"])
    assert points.points.shape == (3, 2)
    assert not set(empty) & set(points.current_label_ids)


def test_fastvss_down_is_reported_not_raised_and_the_rerun_embeds(
        fo, make_dataset, make_ctx, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset(BOXES_ONLY)
    fastvss_emulator.stop()

    down = embed(make_ctx(dataset.name), EmbedRequest(version_id=1)).to_dict()

    assert down["fastvss"] == "unavailable"
    assert (down["embedded"], down["failed"]) == (0, 12)
    assert all("unavailable" in reason for reason in down["failed_reasons"])
    assert all(vector is None for vector in _vectors(dataset).values())

    fastvss_emulator.start()
    up = embed(make_ctx(dataset.name), EmbedRequest(version_id=1))
    assert (up.embedded, up.to_dict()["fastvss"]) == (12, "ok")


def test_moved_label_loses_its_stale_vector_when_no_new_one_comes(
        fo, make_dataset, make_ctx, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset(BOXES_ONLY)
    embed(make_ctx(dataset.name), EmbedRequest(version_id=1))
    moved = label_rows(dataset, BOXES)[0]["id"]
    dataset.set_label_values(f"{BOXES}.detections.bounding_box", {moved: [0.6, 0.6, 0.2, 0.2]})
    fastvss_emulator.stop()

    result = embed(make_ctx(dataset.name), EmbedRequest(version_id=1))

    assert (result.embedded, result.stale_cleared, result.current) == (0, 1, 11)
    assert _vectors(dataset)[moved] is None
    assert result.to_dict()["maps"][BOXES]["labels"] == 11


def test_empty_crops_are_skipped_with_a_reason_and_not_sent(
        fo, make_dataset, make_ctx, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset(DatasetSpec(images=1, boxes=3, dots=0, lines=0))
    outside = label_rows(dataset, BOXES)[0]["id"]
    dataset.set_label_values(f"{BOXES}.detections.bounding_box",
                             {outside: [1.2, 0.1, 0.2, 0.2]})

    result = embed(make_ctx(dataset.name), EmbedRequest(version_id=1)).to_dict()

    assert (result["embedded"], result["skipped"], result["failed"]) == (2, 1, 0)
    assert list(result["skipped_reasons"]) == ["empty crop: the box covers no pixel of the image"]
    assert _vectors(dataset)[outside] is None


def test_silent_fastvss_fails_its_batches_after_the_idle_gap(
        fo, make_dataset, make_ctx, embed_settings, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed

    dataset = make_dataset(DatasetSpec(images=1, boxes=3, dots=0, lines=0))
    settings = embed_settings.model_copy(update={
        "fastvss_timeout": 0.3, "fastvss_idle_timeout": 1.0})
    fastvss_emulator.set(poll_hang=2.0)

    result = embed(make_ctx(dataset.name, settings), EmbedRequest(version_id=1)).to_dict()

    assert (result["embedded"], result["failed"], result["failed_batches"]) == (0, 3, 1)
    assert any("idle timeout" in reason for reason in result["failed_reasons"])


def test_new_vectors_of_another_length_than_the_stored_ones_are_refused(
        fo, make_dataset, make_ctx, fastvss_emulator) -> None:
    from fiftyone_sync.embeddings.job import EmbedRequest, embed
    from tests.embeddings_job.builders import box

    dataset = make_dataset(BOXES_ONLY)
    embed(make_ctx(dataset.name), EmbedRequest(version_id=1))
    sample = dataset.first()
    sample[BOXES].detections.extend([box(fo, 9), box(fo, 10)])
    sample.save()
    fastvss_emulator.set(short_vectors=2)

    result = embed(make_ctx(dataset.name), EmbedRequest(version_id=1)).to_dict()

    assert (result["embedded"], result["failed"]) == (0, 2)
    assert list(result["failed_reasons"]) == ["the vector has 767 values, expected 768"]
    assert result["maps"][BOXES]["status"] == "unchanged"
