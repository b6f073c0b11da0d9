"""The project version a job route acts on, checked with Tator, and queueing a job on it.

``/sync``, ``/push``, ``/embeddings`` and ``DELETE /datasets`` all check the same things, in
the same order, before anything is queued: the caller's token and role in the project (with
Tator), the database name (an override must be allowed) and the version id, and that the
version belongs to the project.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import requests
from fastapi import HTTPException, Request
from tator.exceptions import ApiException

from fiftyone_sync import naming
from fiftyone_sync.api.deps import check_access, get_tator_client
from fiftyone_sync.api.jobs import get_job_queue
from fiftyone_sync.api.versions import project_versions
from fiftyone_sync.auth.tator_auth import EDIT
from fiftyone_sync.jobs.queue import new_record
from fiftyone_sync.jobs.state import JobRecord
from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VersionTarget:
    """Where one Tator project version's data lives."""

    project: int
    version: int
    database: str
    dataset: str

    def answer(self, record: JobRecord) -> dict[str, Any]:
        """The body a job route answers with once ``record`` is queued."""
        return {"job_id": record.id, "status": record.state.value,
                "database_name": self.database, "dataset": self.dataset}


def version_target(request: Request, credential: Credential, project_id: str,
                   version_id: str, database_name: str | None,
                   needed: str = EDIT) -> VersionTarget:
    """Checks the caller and the names, then says where the version's data lives.

    Raises:
        HTTPException: the access check's status; 422 for a bad name or id, or a version of
            another project.
    """
    access = check_access(request, credential, project_id, needed)
    project = access.project_id
    try:
        database = naming.database_name(project, request.app.state.settings, database_name)
        dataset = naming.dataset_name(project, version_id)
    except naming.NamingError as exc:
        raise HTTPException(422, str(exc)) from None

    version = int(version_id)
    known = {row["id"] for row in project_versions(request, credential, project)}
    if version not in known:
        raise HTTPException(422, f"version {version} is not a version of project {project}")
    return VersionTarget(project, version, database, dataset)


def submit_job(request: Request, credential: Credential, target: VersionTarget, kind: str,
               params: dict[str, Any] | None = None) -> JobRecord:
    """Queues a ``kind`` job on the target for the caller and returns its record."""
    record = new_record(kind, target.project, target.version, target.database,
                        caller_username(request, credential), params=params)
    get_job_queue(request).submit(record, credential)
    return record


def caller_username(request: Request, credential: Credential) -> str:
    """The caller's Tator username, for the job record (empty if Tator will not say)."""
    try:
        user = get_tator_client(request).api(credential).whoami()
    except (ApiException, requests.RequestException) as exc:
        logger.warning("Tator did not say who the caller is: %s", type(exc).__name__)
        return ""
    return user.get("username") or ""
