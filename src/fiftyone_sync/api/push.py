"""Push routes: plan (dry run), review the plan in pages, apply it, resolve conflicts.

- ``POST /push?project_id&version_id&dry_run=true`` queues a ``push_plan`` job; its result
  carries the ``plan_id`` and the plan's counts.
- ``GET /push/plans/{plan_id}?project_id&page&page_size`` reads a stored plan, a page at a
  time (page size at most 500).
- ``POST /push?project_id&version_id&plan_id=...`` queues a ``push_apply`` job for exactly
  that plan; 409 when the dataset changed since the plan was made or it was applied.
- ``POST /push/conflicts/resolve?project_id&version_id`` with ``{"elemental_ids": [...] |
  "all", "choice": "mine" | "theirs"}`` queues a ``push_resolve`` job.

Every route checks the token and a role that can edit in the project with Tator first (as
``/sync`` does). The API reads plans with plain ``pymongo`` (it never loads FiftyOne).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import pymongo
from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from fiftyone_sync import stores
from fiftyone_sync.api.deps import CredentialDep, check_access, project_database
from fiftyone_sync.api.targets import VersionTarget, submit_job, version_target
from fiftyone_sync.auth.tator_auth import EDIT
from fiftyone_sync.jobs.kinds import PUSH_APPLY, PUSH_PLAN, PUSH_RESOLVE
from fiftyone_sync.push import plan as plans
from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)

router = APIRouter(tags=["push"])

PLAN_ID_PATTERN = r"^[0-9a-f]{32}$"


MAX_RESOLVE_IDS = 10_000
"""Most elemental ids one resolution names (more: resolve "all", or in several calls)."""
ElementalId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""A Tator elemental id (a UUID in practice; 128 characters leave room for others)."""


class ResolveBody(BaseModel):
    """Which conflicts to resolve, and how."""

    elemental_ids: Annotated[list[ElementalId], Field(max_length=MAX_RESOLVE_IDS)
                             ] | Literal["all"]
    choice: Literal["mine", "theirs"]


def _database(request: Request, database: str) -> Any:
    settings = request.app.state.settings
    state = request.app.state
    if getattr(state, "push_mongo", None) is None:
        state.push_mongo = pymongo.MongoClient(stores.mongo_uri(settings))
    return state.push_mongo[database]


def _queue(request: Request, credential: Credential, target: VersionTarget, kind: str,
           params: dict[str, Any]) -> dict[str, Any]:
    record = submit_job(request, credential, target, kind, params)
    return {**target.answer(record), "kind": kind, **params}


@router.post("/push", status_code=202)
def push(
    request: Request,
    credential: CredentialDep,
    project_id: Annotated[str, Query(description="The Tator project id.")],
    version_id: Annotated[str, Query(description="The Tator version id.")],
    dry_run: Annotated[bool, Query(description="Make a plan to review.")] = False,
    plan_id: Annotated[str | None, Query(pattern=PLAN_ID_PATTERN,
                                         description="The reviewed plan to apply.")] = None,
    database_name: Annotated[str | None, Query(
        description="A database override an operator allowed.")] = None,
) -> dict[str, Any]:
    """Queues a plan (``dry_run=true``) or the application of a reviewed plan."""
    target = version_target(request, credential, project_id, version_id, database_name)
    if dry_run:
        return _queue(request, credential, target, PUSH_PLAN, {})
    if plan_id is None:
        raise HTTPException(422, "review first: make a plan with dry_run=true, then apply it "
                                 "with plan_id=<its id>")
    db = _database(request, target.database)
    try:
        header = plans.PlanStore(db).header(plan_id, target.dataset)
        plans.check_ready(header, plans.fingerprint(db, target.dataset))
    except plans.PlanNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except plans.PlanStale as exc:
        raise HTTPException(409, str(exc)) from None
    except plans.PlanError as exc:
        raise HTTPException(422, str(exc)) from None
    return _queue(request, credential, target, PUSH_APPLY, {"plan_id": plan_id})


@router.get("/push/plans/{plan_id}")
def read_plan(
    request: Request,
    credential: CredentialDep,
    plan_id: Annotated[str, Path(pattern=PLAN_ID_PATTERN)],
    project_id: Annotated[str, Query(description="The Tator project id.")],
    page: Annotated[int, Query(ge=0, description="Page number, from 0.")] = 0,
    page_size: Annotated[int, Query(ge=1, le=plans.MAX_PAGE_SIZE)] = 100,
    database_name: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """One page of a stored plan, with its header (counts, status)."""
    access = check_access(request, credential, project_id, EDIT)
    database = project_database(access.project_id, request.app.state.settings, database_name)
    store = plans.PlanStore(_database(request, database))
    try:
        header = store.header(plan_id)
    except plans.PlanNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    if int(header.get("project", -1)) != access.project_id:
        raise HTTPException(404, f"no push plan {plan_id} in project {access.project_id}")
    items = [item.to_doc() for item in store.page(plan_id, page, page_size)]
    summary = {k: header.get(k) for k in ("plan_id", "dataset", "project", "version",
                                          "status", "counts", "total")}
    return {**summary, "created_at": str(header.get("created_at")), "page": page,
            "page_size": page_size, "items": items}


@router.post("/push/conflicts/resolve", status_code=202)
def resolve(
    request: Request,
    credential: CredentialDep,
    project_id: Annotated[str, Query(description="The Tator project id.")],
    version_id: Annotated[str, Query(description="The Tator version id.")],
    body: Annotated[ResolveBody, Body()],
    database_name: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Queues the resolution of conflicts ("keep mine" or "take theirs")."""
    target = version_target(request, credential, project_id, version_id, database_name)
    if body.elemental_ids != "all" and not body.elemental_ids:
        raise HTTPException(422, "name the elemental ids to resolve, or \"all\"")
    return _queue(request, credential, target, PUSH_RESOLVE,
                  {"elemental_ids": body.elemental_ids, "choice": body.choice})
