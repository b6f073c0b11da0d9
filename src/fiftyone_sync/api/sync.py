"""``POST /sync``: queue a pull of one Tator project version into its FiftyOne dataset.

Checks, in order, before anything is queued: the token (``Authorization`` header only) and
an editing role in the project, with Tator; the database name (the query override must be
allowed) and the version id; that the version belongs to the project. Then it queues a
``pull`` job, optionally scoped to media, sections or localization types (without a scope
the pull reuses the one stored with the dataset), and answers ``{job_id, status,
database_name, dataset, port}`` with HTTP 202; ``GET /jobs/{job_id}`` follows it.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import requests
from fastapi import APIRouter, HTTPException, Query, Request
from tator.exceptions import ApiException

from fiftyone_sync import naming
from fiftyone_sync.api.deps import CredentialDep, check_access, get_tator_client
from fiftyone_sync.api.jobs import get_job_queue
from fiftyone_sync.api.versions import project_versions
from fiftyone_sync.auth.tator_auth import EDIT
from fiftyone_sync.jobs.kinds import PULL
from fiftyone_sync.jobs.queue import new_record
from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)

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
    settings = request.app.state.settings
    access = check_access(request, credential, project_id, EDIT)
    project = access.project_id
    try:
        database = naming.database_name(project, settings, database_name)
        dataset = naming.dataset_name(project, version_id)
        port = naming.app_port(project, settings.app_base_port)
    except naming.NamingError as exc:
        raise HTTPException(422, str(exc)) from None

    version = int(version_id)
    known = {row["id"] for row in project_versions(request, credential, project)}
    if version not in known:
        raise HTTPException(422, f"version {version} is not a version of project {project}")

    params: dict[str, Any] = {"force": force}
    scope = {"media_ids": media_id, "sections": section, "type_ids": type_id}
    params.update({name: ids for name, ids in scope.items() if ids})
    record = new_record(PULL, project, version, database, _username(request, credential),
                        params=params)
    get_job_queue(request).submit(record, credential)
    return {"job_id": record.id, "status": record.state.value, "database_name": database,
            "dataset": dataset, "port": port}


def _username(request: Request, credential: Credential) -> str:
    """The caller's Tator username, for the job record (empty if Tator will not say)."""
    try:
        user = get_tator_client(request).api(credential).whoami()
    except (ApiException, requests.RequestException) as exc:
        logger.warning("Tator did not say who the caller is: %s", type(exc).__name__)
        return ""
    return user.get("username") or ""
