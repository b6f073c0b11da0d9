"""The push job bodies: make a plan, apply a plan, resolve conflicts.

The job system calls ``body(ctx, params) -> dict`` (:mod:`fiftyone_sync.jobs.kinds`). The
push works on the project database with plain ``pymongo`` (sample documents are written by
label id, like the pull does), so these bodies need no FiftyOne import; they still run
under the dataset's lock like every job of the dataset.
"""

from __future__ import annotations

import logging
from typing import Any

import pymongo
from pymongo.database import Database

from fiftyone_sync import stores
from fiftyone_sync.jobs.context import JobContext
from fiftyone_sync.push import plan as plans

logger = logging.getLogger(__name__)

FIRST_PAGE = 50


def project_db(ctx: JobContext) -> tuple[pymongo.MongoClient, Database]:
    """A client of the deployment's MongoDB and the job's project database."""
    client: pymongo.MongoClient = pymongo.MongoClient(stores.mongo_uri(ctx.settings),
                                                      tz_aware=False)
    return client, client[ctx.database_name]


def _api(ctx: JobContext) -> Any:
    from fiftyone_sync.dataset.pull import tator_client

    return tator_client(ctx.settings.tator_url, ctx.settings.tator_timeout).api(ctx.credential)


def _dataset(ctx: JobContext) -> str:
    from fiftyone_sync import naming

    return ctx.dataset_name or naming.dataset_name(ctx.project_id, int(ctx.version_id or 0))


def plan_body(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Makes and stores a push plan; returns its summary and first page.

    Args:
        ctx: the job context (project, version, credential).
        params: unused (reserved for a scope).
    """
    from fiftyone_sync.push.diff import Differ

    client, db = project_db(ctx)
    try:
        ctx.progress("planning", 0, None)
        plan = Differ(db, _dataset(ctx), _api(ctx), ctx.project_id,
                      int(ctx.version_id or 0)).run()
        plans.PlanStore(db).save(plan)
        ctx.progress("planning", len(plan.items), len(plan.items))
        first = [item.to_doc() for item in plan.items[:FIRST_PAGE]]
        return {**plan.summary(), "items": first, "page_size": FIRST_PAGE}
    finally:
        client.close()


def apply_body(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Applies the stored plan ``params["plan_id"]``; returns the push result."""
    from fiftyone_sync.push.apply import Applier

    client, db = project_db(ctx)
    try:
        applier = Applier(db, _dataset(ctx), _api(ctx), ctx.project_id,
                          int(ctx.version_id or 0), ctx.settings, ctx.progress)
        return applier.run(str(params["plan_id"])).to_dict()
    finally:
        client.close()


def resolve_body(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Resolves conflicts: ``params`` = ``{"elemental_ids": [...] | "all", "choice": ...}``."""
    from fiftyone_sync.push.resolve import Resolver

    client, db = project_db(ctx)
    try:
        resolver = Resolver(db, _dataset(ctx), _api(ctx), ctx.project_id,
                            int(ctx.version_id or 0), ctx.settings)
        return resolver.run(params["elemental_ids"], str(params["choice"])).to_dict()
    finally:
        client.close()
