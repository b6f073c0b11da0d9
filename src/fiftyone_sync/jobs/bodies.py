"""Adapters from the job system's calling convention to the product's job bodies.

The job system calls ``body(ctx, params) -> dict`` (see :mod:`fiftyone_sync.jobs.kinds`);
the pull itself (:func:`fiftyone_sync.dataset.pull.pull`) takes a typed request and returns
a typed result. The imports happen inside the adapters, after the process bound its
database, because the pull imports ``fiftyone``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fiftyone_sync.jobs.context import JobContext


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
    """Deletes the context's FiftyOne dataset, its sync state and the project's cached media
    that no remaining dataset uses (``DELETE /datasets``).

    Args:
        ctx: the job's context; its ``dataset_name`` names the dataset to delete.
        params: unused (no options yet).

    Returns:
        The :class:`fiftyone_sync.dataset.deletion.DeletionResult` as a dict: ``deleted`` is
        false when there was no such dataset.
    """
    from fiftyone_sync.dataset.deletion import delete_dataset

    return dataclasses.asdict(delete_dataset(ctx))
