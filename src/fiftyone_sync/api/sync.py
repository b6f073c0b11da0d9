"""``POST /sync``: queue a pull of one Tator project version into its FiftyOne dataset.

Checks, in order, before anything is queued: the token (``Authorization`` header only) and
an editing role in the project, with Tator; the database name (the query override must be
allowed) and the version id; that the version belongs to the project. Then it queues a
``pull`` job, optionally scoped to media, sections or localization types (without a scope
the pull reuses the one stored with the dataset), and answers ``{job_id, status,
database_name, dataset, port}`` with HTTP 202; ``GET /jobs/{job_id}`` follows it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from fiftyone_sync import naming
from fiftyone_sync.api.deps import CredentialDep
from fiftyone_sync.api.targets import submit_job, version_target
from fiftyone_sync.jobs.kinds import PULL

router = APIRouter(tags=["jobs"])


@router.post("/sync", status_code=202)
def sync(
    request: Request,
    credential: CredentialDep,
    project_id: Annotated[str, Query(description="The Tator project id.")],
    version_id: Annotated[str, Query(description="The Tator version id to pull.")],
    database_name: Annotated[str | None, Query(
        description="A database override an operator allowed.")] = None,
    force: Annotated[bool, Query(description="Re-pull every element.")] = False,
    media_id: Annotated[list[int] | None, Query(
        description="Scope: only these media (repeat the parameter).")] = None,
    section: Annotated[list[int] | None, Query(
        description="Scope: only media in these sections.")] = None,
    type_id: Annotated[list[int] | None, Query(
        description="Scope: only these localization types.")] = None,
) -> dict[str, Any]:
    """Queues a pull job for the project version and says where its data will land."""
    target = version_target(request, credential, project_id, version_id, database_name)
    port = naming.app_port(target.project, request.app.state.settings.app_base_port)

    params: dict[str, Any] = {"force": force}
    scope = {"media_ids": media_id, "sections": section, "type_ids": type_id}
    params.update({name: ids for name, ids in scope.items() if ids})
    record = submit_job(request, credential, target, PULL, params)
    return {**target.answer(record), "port": port}
