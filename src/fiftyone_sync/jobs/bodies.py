"""Adapters from the job system's calling convention to the product's job bodies.

The job system calls ``body(ctx, params) -> dict`` (see :mod:`fiftyone_sync.jobs.kinds`);
the pull itself (:func:`fiftyone_sync.dataset.pull.pull`) takes a typed request and returns
a typed result. The imports happen inside the adapters, after the process bound its
database, because the pull imports ``fiftyone``.
"""

from __future__ import annotations

import logging
from typing import Any

from fiftyone_sync.jobs.context import JobContext

logger = logging.getLogger(__name__)


def pull_body(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Pulls the context's project version from Tator into its FiftyOne dataset.

    Args:
        ctx: the job's context; its ``project_id`` and ``version_id`` name the dataset.
        params: the pull's options (``force``, scope lists ``media_ids``, ``sections``,
            ``type_ids``...), as :class:`fiftyone_sync.dataset.pull.PullRequest` names them.

    Returns:
        The pull's result as a JSON-able dict; ``embed_job_id`` names the embedding job
        queued after it, if any (see :mod:`fiftyone_sync.embeddings.followup`).
    """
    from fiftyone_sync.dataset.pull import PullRequest, pull
    from fiftyone_sync.embeddings.followup import queue_after_pull

    request = PullRequest.from_dict({**params, "version_id": ctx.version_id})
    result = pull(ctx, request).to_dict()
    embed_job = queue_after_pull(ctx)
    if embed_job is not None:
        result["embed_job_id"] = embed_job
    return result


def delete_dataset_body(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Deletes the context's FiftyOne dataset and its sync state (``DELETE /datasets``).

    The project's media cache is kept: other versions' datasets share it, and a pull of
    another version may be writing to it right now.

    Args:
        ctx: the job's context; its ``dataset_name`` names the dataset to delete.
        params: unused (no options yet).

    Returns:
        ``{"dataset", "deleted"}``: ``deleted`` is false when there was no such dataset.
    """
    import fiftyone as fo
    import pymongo

    from fiftyone_sync import stores
    from fiftyone_sync.dataset.sync_state import SyncState

    name = ctx.dataset_name
    if name is None:
        raise ValueError(f"job {ctx.job_id} names no dataset to delete")

    ctx.progress("deleting", 0, 1)
    existed = fo.dataset_exists(name)
    if existed:
        fo.delete_dataset(name)
    with pymongo.MongoClient(stores.mongo_uri(ctx.settings)) as client:
        SyncState(client[ctx.database_name]).drop(name)
    ctx.progress("deleting", 1, 1)
    logger.info("job %s: dataset %s %s, sync state dropped", ctx.job_id, name,
                "deleted" if existed else "was already gone")
    return {"dataset": name, "deleted": existed}
