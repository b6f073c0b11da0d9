"""``GET /jobs/{job_id}``, ``POST /jobs/{job_id}/cancel``, ``GET /jobs?project_id=``.

A job's record is shown only to a token with access to the job's own project (checked with
Tator against the project in the record, not a query parameter): viewing needs any role,
cancelling needs one that can edit. The list lets a reloaded applet find the project's
running and recent work.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request

from fiftyone_sync.api.deps import CredentialDep, check_access
from fiftyone_sync.auth.tator_auth import EDIT, VIEW
from fiftyone_sync.jobs import metrics
from fiftyone_sync.jobs.queue import MAX_LIST, JobNotCancellable, JobQueue
from fiftyone_sync.jobs.state import JobRecord
from fiftyone_sync.tator.client import Credential

router = APIRouter(tags=["jobs"])

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"


def get_job_queue(request: Request) -> JobQueue:
    """The process's job queue, built on first use."""
    state = request.app.state
    if getattr(state, "job_queue", None) is None:
        state.job_queue = JobQueue(state.settings)
        metrics.watch_queue(state.job_queue.rq_queue)
    return state.job_queue


def _visible_job(request: Request, credential: Credential, job_id: str,
                 needed: str) -> JobRecord:
    """The job's record if the caller holds ``needed`` in the job's project."""
    record = get_job_queue(request).get(job_id)
    if record is None:
        raise HTTPException(404, f"no job {job_id} (unknown, or expired)")
    check_access(request, credential, record.project_id, needed)
    return record


@router.get("/jobs/{job_id}")
def get_job(request: Request, credential: CredentialDep,
            job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN)]) -> dict[str, Any]:
    """The job's state, progress, and result or error."""
    return _visible_job(request, credential, job_id, VIEW).public()


@router.post("/jobs/{job_id}/cancel", status_code=202)
def cancel_job(request: Request, credential: CredentialDep,
               job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN)]) -> dict[str, Any]:
    """Cancels a queued job at once, or asks a running one to stop (it ends ``cancelled``)."""
    _visible_job(request, credential, job_id, EDIT)
    try:
        record = get_job_queue(request).cancel(job_id)
    except JobNotCancellable as exc:
        raise HTTPException(409, str(exc)) from None
    if record is None:
        raise HTTPException(404, f"no job {job_id} (unknown, or expired)")
    return record.public()


@router.get("/jobs")
def list_jobs(
    request: Request,
    credential: CredentialDep,
    project_id: Annotated[str, Query(description="The Tator project id.")],
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 20,
) -> dict[str, Any]:
    """The project's most recent jobs, newest first (running ones included)."""
    access = check_access(request, credential, project_id, VIEW)
    records = get_job_queue(request).recent(access.project_id, limit)
    return {"project_id": access.project_id, "jobs": [record.public() for record in records]}
