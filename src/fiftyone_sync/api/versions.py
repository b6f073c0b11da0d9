"""``GET /versions?project_id=``: the project's Tator versions, as the caller sees them.

The applet offers these to choose what to pull; ``POST /sync`` uses the same listing to
check that the version it is asked for belongs to the project.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import requests
from fastapi import APIRouter, HTTPException, Query, Request
from tator.exceptions import ApiException

from fiftyone_sync.api.deps import CredentialDep, check_access, get_tator_client
from fiftyone_sync.auth.tator_auth import VIEW
from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)

router = APIRouter(tags=["jobs"])


def project_versions(request: Request, credential: Credential,
                     project_id: int) -> list[dict[str, Any]]:
    """The project's versions from Tator, using the caller's token, lowest number first.

    Raises:
        HTTPException: 502 when Tator refuses the listing, 503 when it cannot be reached.
    """
    api = get_tator_client(request).api(credential)
    try:
        versions = api.get_version_list(project_id)
    except ApiException as exc:
        logger.warning("Tator refused the versions of project %s: HTTP %s", project_id,
                       exc.status)
        raise HTTPException(502, f"Tator answered HTTP {exc.status} listing the versions of "
                                 f"project {project_id}") from None
    except requests.RequestException as exc:
        logger.warning("Tator did not answer a version listing: %s", type(exc).__name__)
        raise HTTPException(503, f"Tator is unreachable ({type(exc).__name__}); "
                                 "try again") from None

    rows = [{"id": v.get("id"), "name": v.get("name"), "number": v.get("number"),
             "description": v.get("description")} for v in versions]
    return sorted(rows, key=lambda row: (row["number"] is None, row["number"] or 0))


@router.get("/versions")
def list_versions(
    request: Request,
    credential: CredentialDep,
    project_id: Annotated[str, Query(description="The Tator project id.")],
) -> list[dict[str, Any]]:
    """``[{id, name, number, description}]`` for every version of the project."""
    access = check_access(request, credential, project_id, VIEW)
    return project_versions(request, credential, access.project_id)
