"""``POST /embeddings``: queue the embedding job of one Tator project version's dataset.

Checks exactly what ``POST /sync`` checks before anything is queued (the token, an editing
role in the project, the database name, that the version belongs to the project), then
queues an ``embed`` job (see :mod:`fiftyone_sync.embeddings.job`) and answers ``{job_id,
status, database_name, dataset}`` with HTTP 202; ``GET /jobs/{job_id}`` follows it. The job
embeds only labels without a current vector unless ``force`` is set.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from fiftyone_sync import naming
from fiftyone_sync.api.deps import CredentialDep, check_access
from fiftyone_sync.api.jobs import get_job_queue
from fiftyone_sync.api.sync import _username as caller_name
from fiftyone_sync.api.versions import project_versions
from fiftyone_sync.auth.tator_auth import EDIT
from fiftyone_sync.embeddings.followup import queue_embed

router = APIRouter(tags=["jobs"])


@router.post("/embeddings", status_code=202)
def embeddings(
    request: Request,
    credential: CredentialDep,
    project_id: Annotated[str, Query(description="The Tator project id.")],
    version_id: Annotated[str, Query(description="The Tator version whose dataset to embed.")],
    database_name: Annotated[str | None, Query(
        description="A database override an operator allowed.")] = None,
    force: Annotated[bool, Query(description="Re-embed every label.")] = False,
    recompute_map: Annotated[bool, Query(
        description="Recompute maps and similarity indexes even if nothing changed.")] = False,
) -> dict[str, Any]:
    """Queues an embedding job for the project version's dataset."""
    settings = request.app.state.settings
    access = check_access(request, credential, project_id, EDIT)
    project = access.project_id
    try:
        database = naming.database_name(project, settings, database_name)
        dataset = naming.dataset_name(project, version_id)
    except naming.NamingError as exc:
        raise HTTPException(422, str(exc)) from None

    version = int(version_id)
    known = {row["id"] for row in project_versions(request, credential, project)}
    if version not in known:
        raise HTTPException(422, f"version {version} is not a version of project {project}")

    record = queue_embed(get_job_queue(request), project, version, database, credential,
                         caller_name(request, credential),
                         params={"force": force, "recompute_map": recompute_map})
    return {"job_id": record.id, "status": record.state.value, "database_name": database,
            "dataset": dataset}
