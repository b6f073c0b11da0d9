"""Deleting one version's dataset, with its sync state and the cached media it alone used.

The media cache is shared by every dataset of a project: the versions' datasets, and any
dataset a user derived from them (a clone, or a copy in a review database), reference the
same files. A deletion therefore removes the files of the project's cache that no remaining
dataset references, in any database of the deployment. Files left behind by earlier pulls
(a media whose file changed in Tator) go too.

Steps, in an order that loses nothing on failure:

1. take the project's cache lock exclusively (:mod:`.media_lock`), waiting for pulls of
   other versions to finish;
2. read which cached files the other datasets reference (a failure here deletes nothing);
3. delete the dataset and its sync state;
4. remove the unreferenced files and the folders they leave empty.

A failure after step 3 has begun leaves the rest undone; a re-run of the deletion finishes
it, finding the dataset already gone.

This module imports FiftyOne: load it only in a job's process, whose database is bound.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

import fiftyone as fo
import pymongo
import pymongo.database
import pymongo.errors

from fiftyone_sync import stores
from fiftyone_sync.dataset import media_lock
from fiftyone_sync.dataset.media_cache import MediaCache
from fiftyone_sync.dataset.sync_state import SyncState
from fiftyone_sync.jobs.context import JobContext

logger = logging.getLogger(__name__)

SYSTEM_DATABASES = frozenset({"admin", "config", "local"})
"""MongoDB's own databases, which hold no dataset."""

UNAUTHORIZED = 13
"""MongoDB's error code for an operation the user has no privilege for."""


@dataclasses.dataclass
class DeletionResult:
    """What a deletion removed.

    Attributes:
        dataset: the dataset's name.
        deleted: False when there was no such dataset (its sync state and unused media
            are cleared all the same).
        cache_files_removed: cached files no remaining dataset references.
        cache_bytes_removed: their total size.
    """

    dataset: str
    deleted: bool
    cache_files_removed: int = 0
    cache_bytes_removed: int = 0


def delete_dataset(ctx: JobContext) -> DeletionResult:
    """Deletes the context's dataset, its sync state and its project's unused media.

    Raises:
        fiftyone_sync.dataset.media_lock.MediaCacheBusy: pulls of other versions kept the
            cache busy for ``Settings.job_lock_wait`` seconds; nothing was deleted.
        PermissionError: the MongoDB user may not read a database that may hold datasets;
            nothing was deleted.
        pymongo.errors.PyMongoError: MongoDB failed; if it failed before the dataset was
            deleted, nothing was, and otherwise a re-run finishes the deletion.
    """
    name = ctx.dataset_name
    if name is None:
        raise ValueError(f"job {ctx.job_id} names no dataset to delete")
    started = time.monotonic()
    cache = MediaCache(ctx.settings.media_dir, ctx.project_id)

    with media_lock.held_by_job(ctx, exclusive=True), \
            pymongo.MongoClient(stores.mongo_uri(ctx.settings)) as client:
        ctx.progress("deleting", 0, 2)
        databases = _dataset_databases(client, ctx.database_name)
        referenced = referenced_files(client, databases, cache, skip=(ctx.database_name, name))

        existed = fo.dataset_exists(name)
        if existed:
            fo.delete_dataset(name)
        SyncState(client[ctx.database_name]).drop(name)
        ctx.progress("deleting", 1, 2)

        files, size = cache.remove_unreferenced(referenced)
        ctx.progress("deleting", 2, 2)

    logger.info("Deleted dataset %s (%s) and its sync state in %.2f s; removed %d cached "
                "files (%d bytes) that no dataset of %d databases references", name,
                "existed" if existed else "was already gone", time.monotonic() - started,
                files, size, len(databases))
    return DeletionResult(name, existed, files, size)


def _dataset_databases(client: pymongo.MongoClient, own: str) -> list[str]:
    """Every database that may hold datasets: ``own``, and all but MongoDB's own ones.

    Not only the project's: an operator may since have changed which databases a project
    may use, and a dataset elsewhere that still shows the project's files must keep them.
    """
    names = set(client.list_database_names()) - SYSTEM_DATABASES
    return sorted(names | {own})


def referenced_files(client: pymongo.MongoClient, databases: Iterable[str],
                     cache: MediaCache, skip: tuple[str, str]) -> set[str]:
    """The files of ``cache``'s project folder that the databases' datasets use, as paths
    relative to that folder.

    An absolute sample path counts when it leads into the folder on this host, as written
    or through symlinks (found among the paths that name a ``p{project}`` folder); one that
    leads elsewhere (another deployment's cache) does not. A relative path, whose base was
    the unknown working directory of the process that wrote it, counts by its tail under a
    ``p{project}`` folder (``{media_id}/{md5}/{file}``): it may keep a file, never remove
    one. Values that are no path at all are ignored. Not recognised: a path that reaches the
    folder only through a link under another name, or another host's mount of the cache (the
    App on this host could not show such a file either).

    Args:
        client: a client of the deployment's MongoDB.
        databases: the databases to read.
        cache: the project's media cache.
        skip: ``(database, dataset)`` of the dataset being deleted, which does not count.

    Raises:
        PermissionError: the MongoDB user may not read one of the databases.
    """
    in_folder = f"(?:^|/){re.escape(cache.project_dir.name)}/"
    candidates = {"filepath": {"$regex": in_folder}}
    tail = re.compile(in_folder + "([^/]+/[^/]+/[^/]+)$")
    bases = (os.path.abspath(cache.project_dir) + os.sep,
             os.path.realpath(cache.project_dir) + os.sep)
    found: set[str] = set()

    for database in databases:
        for path in _sample_paths(client[database], candidates, skip):
            inside = _inside(path, *bases) if os.path.isabs(path) else _tail(path, tail)
            if inside is not None:
                found.add(inside)
    return found


def _sample_paths(db: pymongo.database.Database, query: dict[str, Any],
                  skip: tuple[str, str]) -> Iterator[str]:
    """The ``filepath`` strings matching ``query`` in the database's datasets but ``skip``.

    Raises:
        PermissionError: the MongoDB user may not read the database.
    """
    try:
        for doc in db["datasets"].find({}, {"name": 1, "sample_collection_name": 1}):
            collection = doc.get("sample_collection_name")
            if (db.name, doc.get("name")) == skip or not isinstance(collection, str):
                continue
            for sample in db[collection].find(query, {"filepath": 1, "_id": 0}):
                if isinstance(sample.get("filepath"), str):
                    yield sample["filepath"]
    except pymongo.errors.OperationFailure as error:
        if error.code != UNAUTHORIZED:
            raise
        raise PermissionError(
            f"cannot read database {db.name!r} to learn which cached files its datasets use "
            f"({error}); deleting needs read access to every database") from error


def _tail(path: str, tail: re.Pattern[str]) -> str | None:
    """The ``{media_id}/{md5}/{file}`` a relative ``path`` ends with, if any."""
    match = tail.search(posixpath.normpath(path))
    return match.group(1) if match else None


def _inside(path: str, written: str, resolved: str) -> str | None:
    """The absolute ``path`` relative to the project folder if it leads into it: as written
    (the usual case, checked without touching the disk), or through symlinks.

    Args:
        path: an absolute sample path.
        written: the folder's path as configured, ending with a separator.
        resolved: the folder's path with symlinks resolved, ending with a separator.
    """
    for spell, base in ((os.path.normpath, written), (os.path.realpath, resolved)):
        try:
            candidate = spell(path)
        except ValueError:
            return None  # a NUL byte: no file has such a path
        if candidate.startswith(base):
            return candidate[len(base):]
    return None
