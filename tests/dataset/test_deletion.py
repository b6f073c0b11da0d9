"""Deleting a version's dataset: its sync state, and the cached media no dataset still uses,
against the Tator emulator and the session's mongod (version 1 holds the standard project's
labels, version 2 none: its dataset has the three images and no video frame)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest

from fiftyone_sync import naming
from fiftyone_sync.dataset.media_cache import MediaCache
from fiftyone_sync.dataset.media_lock import MediaCacheBusy
from fiftyone_sync.jobs.context import JobContext
from tests.dataset.helpers import lock_held_elsewhere, pull

V1, V2 = naming.dataset_name(1, 1), naming.dataset_name(1, 2)


def _deletion(make_ctx: Any, version: int, **settings: Any) -> JobContext:
    """The context of a deletion job of one version of project 1."""
    ctx = make_ctx()
    return dataclasses.replace(
        ctx, version_id=version, dataset_name=naming.dataset_name(1, version),
        settings=ctx.settings.model_copy(update=settings))


def _delete(ctx: JobContext) -> Any:
    from fiftyone_sync.dataset.deletion import delete_dataset

    return delete_dataset(ctx)


def _files(folder: Path) -> set[str]:
    return {os.path.abspath(p) for p in folder.rglob("*") if p.is_file()}


def _filepaths(fo: Any, name: str) -> set[str]:
    return set(fo.load_dataset(name).values("filepath"))


@pytest.fixture
def cache(pull_settings: Any) -> MediaCache:
    return MediaCache(pull_settings.media_dir, 1)


def test_deleting_a_version_keeps_what_the_other_uses_and_removes_the_rest(
        fo: Any, make_ctx: Any, cache: MediaCache, clean_db: Any) -> None:
    pull(make_ctx, version_id=1)
    pull(make_ctx, version_id=2)
    v1_files, v2_files = _filepaths(fo, V1), _filepaths(fo, V2)
    stale = cache.media_dir(1, "an-older-revision") / "image.jpg"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * 10)
    assert len(v1_files) == 6 and len(v2_files) == 3 and v2_files < v1_files
    assert _files(cache.project_dir) == v1_files | {str(stale)}

    first = _delete(_deletion(make_ctx, 1))

    assert first.deleted and first.dataset == V1
    assert first.cache_files_removed == len(v1_files - v2_files) + 1
    assert first.cache_bytes_removed > 10
    assert _files(cache.project_dir) == v2_files
    assert not fo.dataset_exists(V1)
    assert clean_db["tator_sync_state"].count_documents({"dataset": V1}) == 0
    assert clean_db["tator_sync_state"].count_documents({"dataset": V2}) > 0

    second = _delete(_deletion(make_ctx, 2))

    assert second.deleted and second.cache_files_removed == 3
    assert not cache.project_dir.exists() and not fo.dataset_exists(V2)
    again = _delete(_deletion(make_ctx, 2))
    assert (again.deleted, again.cache_files_removed) == (False, 0)


def test_a_clone_keeps_the_files_it_shows(fo: Any, make_ctx: Any, cache: MediaCache) -> None:
    pull(make_ctx, version_id=1)
    fo.load_dataset(V1).clone("tator-p1-v1-review-copy")

    result = _delete(_deletion(make_ctx, 1))

    assert result.deleted and result.cache_files_removed == 0
    assert _files(cache.project_dir) == _filepaths(fo, "tator-p1-v1-review-copy")


@pytest.fixture
def review_database(mongo_uri: str) -> Iterator[pymongo.database.Database]:
    """A database that no setting allows for project 1, as after an operator changed them."""
    with pymongo.MongoClient(mongo_uri) as client:
        client.drop_database("deletion_tests_review")
        yield client["deletion_tests_review"]
        client.drop_database("deletion_tests_review")


def test_files_a_dataset_in_any_database_shows_are_kept_however_it_spells_them(
        fo: Any, make_ctx: Any, cache: MediaCache, review_database: Any,
        tmp_path: Path) -> None:
    pull(make_ctx, version_id=1)
    images = sorted(_filepaths(fo, V1))
    mount = tmp_path / "the-cache-mounted-elsewhere"
    mount.symlink_to(cache.root, target_is_directory=True)
    spellings = [images[0],
                 os.path.relpath(images[1]),
                 str(mount / os.path.relpath(images[2], cache.root)),
                 "/media/p1-old/" + os.path.relpath(images[3], cache.project_dir),
                 str(tmp_path / "another-deployment" / os.path.relpath(images[3], cache.root))]
    review_database["datasets"].insert_one(
        {"name": "review", "sample_collection_name": "samples.review"})
    review_database["samples.review"].insert_many([{"filepath": p} for p in spellings])

    result = _delete(_deletion(make_ctx, 1))

    assert result.cache_files_removed == 3
    assert _files(cache.project_dir) == set(images[:3])


def test_a_deletion_beside_a_running_pull_fails_and_deletes_nothing(
        fo: Any, make_ctx: Any, cache: MediaCache, pull_settings: Any, clean_db: Any) -> None:
    pull(make_ctx, version_id=1)
    before = _files(cache.project_dir)

    with lock_held_elsewhere(pull_settings.media_dir, 1, exclusive=False):
        with pytest.raises(MediaCacheBusy, match="project 1"):
            _delete(_deletion(make_ctx, 1, job_lock_wait=1.0))

    assert fo.dataset_exists(V1) and _files(cache.project_dir) == before
    assert clean_db["tator_sync_state"].count_documents({"dataset": V1}) > 0


def test_a_pull_waits_while_a_deletion_holds_the_cache(
        fo: Any, make_ctx: Any, pull_settings: Any) -> None:
    from fiftyone_sync.dataset.media_lock import WAITING_PHASE
    from fiftyone_sync.dataset.pull import PullRequest
    from fiftyone_sync.dataset.pull import pull as run

    progress: list = []
    ctx = dataclasses.replace(make_ctx(progress=progress),
                              settings=pull_settings.model_copy(update={"job_lock_wait": 1.0}))

    with lock_held_elsewhere(pull_settings.media_dir, 1, exclusive=True):
        with pytest.raises(MediaCacheBusy):
            run(ctx, PullRequest(version_id=1))

    assert not fo.dataset_exists(V1)
    assert progress and {phase for phase, _, _ in progress} == {WAITING_PHASE}
    assert run(ctx, PullRequest(version_id=1)).samples_created == 6


def test_which_spellings_of_a_sample_path_keep_a_cached_file(
        fo: Any, review_database: Any, tmp_path: Path) -> None:
    from fiftyone_sync.dataset.deletion import referenced_files

    real = tmp_path / "media"
    (real / "p1").mkdir(parents=True)
    link = tmp_path / "media-link"
    link.symlink_to(real, target_is_directory=True)
    keeps = {str(real / "p1/1/a/image.jpg"): "1/a/image.jpg",
             str(link / "p1/2/a/image.jpg"): "2/a/image.jpg",
             f"{link}/p1//3/a/../a/image.jpg": "3/a/image.jpg",
             "data/media/p1/4/a/image.jpg": "4/a/image.jpg",
             "p1/./5/a/image.jpg": "5/a/image.jpg"}
    ignored = ["p10/6/a/image.jpg", "xp1/7/a/image.jpg", "/elsewhere/p1/8/a/image.jpg",
               str(link / "p10/9/a/image.jpg"), "/p1/a\0/b/image.jpg",
               ["p1/10/a/image.jpg"], None]
    review_database["datasets"].insert_many([
        {"name": "review", "sample_collection_name": "samples.review"},
        {"name": "odd", "sample_collection_name": 5}])
    review_database["samples.review"].insert_many(
        [{"filepath": path} for path in [*keeps, *ignored]])

    found = referenced_files(review_database.client, [review_database.name],
                             MediaCache(link, 1), skip=("", ""))

    assert found == set(keeps.values())


class _Unreadable:
    """A database whose reads MongoDB refuses, as for a user without the privilege."""

    name = "someone_elses"

    def __getitem__(self, collection: str) -> Any:
        return self

    def find(self, *args: Any) -> Any:
        raise pymongo.errors.OperationFailure("not authorized on someone_elses", code=13)


def test_a_database_the_user_may_not_read_is_named_in_the_error(fo: Any) -> None:
    from fiftyone_sync.dataset import deletion

    client = {"someone_elses": _Unreadable()}

    with pytest.raises(PermissionError, match="'someone_elses'.*read access to every"):
        deletion.referenced_files(client, ["someone_elses"], MediaCache(Path("/m"), 1),
                                  skip=("", ""))
