"""Queueing embedding jobs: on demand (API) and as the follow-up of a successful pull.

The embedding job runs after each pull in its own job, so a pull never waits for Fast-VSS.
:func:`queue_after_pull` is what the pull's job adapter calls once the pull succeeded; it
queues an ``embed`` job for the same dataset when the project has a Fast-VSS project
(``fastvss_project_map``) and ``embed_after_pull`` is on, and never fails the pull: a queue
that cannot be reached is logged and reported as no follow-up. This module must not import
``fiftyone`` (the API imports it).

Known limit: a pull run in the foreground (``fiftyone-sync pull``) also queues its follow-up
for the workers; without a running worker it waits in the queue (``fiftyone-sync embed``
runs one here instead).
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from fiftyone_sync.embeddings.fastvss import fastvss_project
from fiftyone_sync.jobs.context import JobContext
from fiftyone_sync.jobs.kinds import EMBED
from fiftyone_sync.jobs.queue import JobQueue, new_record
from fiftyone_sync.jobs.state import JobRecord
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)


def queue_embed(queue: JobQueue, project_id: int, version_id: int, database_name: str,
                credential: Credential, requested_by: str,
                params: dict[str, Any] | None = None) -> JobRecord:
    """Queues an ``embed`` job for one dataset.

    Args:
        queue: the deployment's job queue.
        project_id: the Tator project.
        version_id: the Tator version (its dataset is embedded).
        database_name: the project's database, already validated.
        credential: the identity the job acts for (sealed in its record).
        requested_by: who asked, for the record.
        params: the job's parameters (``force``, ``fields``, ``recompute_map``).

    Returns:
        The queued record.
    """
    record = new_record(EMBED, project_id, version_id, database_name, requested_by,
                        params=params)
    return queue.submit(record, credential)


def wants_follow_up(settings: Settings, project_id: int) -> bool:
    """Whether a pull of ``project_id`` should be followed by an embedding job."""
    return settings.embed_after_pull and fastvss_project(settings, project_id) is not None


def queue_after_pull(ctx: JobContext) -> str | None:
    """Queues the embedding job that follows a successful pull; returns its id.

    Args:
        ctx: the pull's context (project, version, database, credential).

    Returns:
        The embed job's id, or None when no follow-up is wanted or it could not be queued.
    """
    if ctx.version_id is None or not wants_follow_up(ctx.settings, ctx.project_id):
        return None
    try:
        record = queue_embed(JobQueue(ctx.settings), ctx.project_id, ctx.version_id,
                             ctx.database_name, ctx.credential,
                             requested_by=f"after pull job {ctx.job_id}")
    except redis.RedisError as exc:
        logger.warning("Pull job %s: the follow-up embedding job could not be queued: %s",
                       ctx.job_id, exc)
        return None
    logger.info("Pull job %s: embedding job %s queued", ctx.job_id, record.id)
    return record.id
