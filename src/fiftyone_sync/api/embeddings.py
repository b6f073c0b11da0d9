"""``POST /embeddings``: queue the embedding job of one Tator project version's dataset.

Checks exactly what ``POST /sync`` checks before anything is queued (the token, an editing
role in the project, the database name, that the version belongs to the project), then
queues an ``embed`` job (see :mod:`fiftyone_sync.embeddings.job`) and answers ``{job_id,
status, database_name, dataset}`` with HTTP 202; ``GET /jobs/{job_id}`` follows it. The job
embeds only labels without a current vector unless ``force`` is set.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from fiftyone_sync.api.deps import CredentialDep
from fiftyone_sync.api.targets import submit_job, version_target
from fiftyone_sync.jobs.kinds import EMBED

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
    target = version_target(request, credential, project_id, version_id, database_name)
    record = submit_job(request, credential, target, EMBED,
                        {"force": force, "recompute_map": recompute_map})
    return target.answer(record)
