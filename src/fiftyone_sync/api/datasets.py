"""``DELETE /datasets?project_id=&version_id=``: delete one version's FiftyOne dataset.

Deleting loses every edit made in FiftyOne and not yet pushed, for every reviewer of the
project, so it needs **Full Control** in the project (a pull needs only Can Edit). The API
never imports FiftyOne, so the deletion runs as a ``delete_dataset`` job in a worker, under
the dataset's lock (never during a pull, push or embedding job of the same dataset). It
deletes the dataset and its sync state, and the project's cached media that no remaining
dataset uses (other versions' datasets share the cache; see
:mod:`fiftyone_sync.dataset.deletion`). The answer is
``{job_id, status, database_name, dataset}`` with HTTP 202.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from fiftyone_sync.api.deps import CredentialDep
from fiftyone_sync.api.targets import submit_job, version_target
from fiftyone_sync.auth.tator_auth import FULL_CONTROL
from fiftyone_sync.jobs.kinds import DELETE_DATASET

router = APIRouter(tags=["jobs"])


@router.delete("/datasets", status_code=202)
def delete_dataset(
    request: Request,
    credential: CredentialDep,
    project_id: Annotated[str, Query(description="The Tator project id.")],
    version_id: Annotated[str, Query(description="The version whose dataset to delete.")],
    database_name: Annotated[str | None, Query(
        description="A database override an operator allowed.")] = None,
) -> dict[str, Any]:
    """Queues the deletion of the project version's dataset, its sync state and the cached
    media only it used."""
    target = version_target(request, credential, project_id, version_id, database_name,
                            FULL_CONTROL)
    return target.answer(submit_job(request, credential, target, DELETE_DATASET))
