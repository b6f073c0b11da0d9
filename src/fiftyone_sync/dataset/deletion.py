"""Deleting one version's dataset, with its sync state and the cached media it alone used.

The media cache is shared by every dataset of a project: the versions' datasets, and any
dataset a user derived from them (a clone, or a copy in a review database), reference the
same files. A deletion therefore removes the files of the project's cache that no remaining
dataset references, in every database that may hold the project's datasets. Files left
behind by earlier pulls (a media whose file changed in Tator) go too.

Steps, in an order that loses nothing on failure:

1. take the project's cache lock exclusively (:mod:`.media_lock`), waiting for pulls of
   other versions to finish;
2. read which cached files the other datasets reference (a failure here deletes nothing);
3. delete the dataset and its sync state;
4. remove the unreferenced files and the folders they leave empty.

This module imports FiftyOne: load it only in a job's process, whose database is bound.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

import fiftyone as fo
import pymongo

from fiftyone_sync import naming, stores
from fiftyone_sync.dataset import media_lock
from fiftyone_sync.dataset.media_cache import MediaCache
from fiftyone_sync.dataset.sync_state import SyncState
from fiftyone_sync.jobs.context import JobContext

logger = logging.getLogger(__name__)


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
        pymongo.errors.PyMongoError: a database could not be read; nothing was deleted.
    """
    name = ctx.dataset_name
    if name is None:
        raise ValueError(f"job {ctx.job_id} names no dataset to delete")
    started = time.monotonic()
    cache = MediaCache(ctx.settings.media_dir, ctx.project_id)

    with media_lock.held_by_job(ctx, exclusive=True), \
            pymongo.MongoClient(stores.mongo_uri(ctx.settings)) as client:
        ctx.progress("deleting", 0, 2)
        databases = naming.project_databases(ctx.project_id, ctx.settings,
                                             client.list_database_names())
        databases = sorted(set(databases) | {ctx.database_name})
        referenced = referenced_files(client, databases, cache.project_dir,
                                      skip=(ctx.database_name, name))

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


def referenced_files(client: pymongo.MongoClient, databases: Iterable[str], folder: Path,
                     skip: tuple[str, str]) -> set[str]:
    """The absolute paths under ``folder`` that samples of the databases' datasets use.

    Args:
        client: a client of the deployment's MongoDB.
        databases: the databases to read.
        folder: a project's media cache folder.
        skip: ``(database, dataset)`` of the dataset being deleted, which does not count.
    """
    prefix = os.path.abspath(folder) + os.sep
    under_folder = {"filepath": {"$regex": "^" + re.escape(prefix)}}
    found: set[str] = set()

    for database in databases:
        db = client[database]
        for doc in db["datasets"].find({}, {"name": 1, "sample_collection_name": 1}):
            if (database, doc.get("name")) == skip or not doc.get("sample_collection_name"):
                continue
            samples = db[doc["sample_collection_name"]].find(under_folder,
                                                             {"filepath": 1, "_id": 0})
            found.update(os.path.abspath(sample["filepath"]) for sample in samples)
    return found
