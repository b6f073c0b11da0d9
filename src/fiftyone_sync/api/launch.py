"""``GET /launch``: make sure a project's App server runs, and hand out links to it.

The caller's Tator token (``Authorization`` header) must hold a role that can edit in the
project. The answer's ``url`` opens the App through the access path with a one-time code
(in "direct" mode, where the operator exposes App ports behind their own proxy, it is the
App's own address instead); ``datasets`` lists each dataset of the project's database with
its own link. Dataset names are read with plain ``pymongo``: this process never connects
FiftyOne to a project database.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated
from urllib.parse import quote, urlsplit

import pymongo
import pymongo.errors
import redis
from fastapi import APIRouter, HTTPException, Query, Request

from fiftyone_sync import naming, stores
from fiftyone_sync.api.apps_proxy import access_url, get_access_codes, get_app_manager
from fiftyone_sync.api.deps import CredentialDep, check_access, project_database
from fiftyone_sync.apps.datasets import dataset_names
from fiftyone_sync.apps.manager import AppPortBusy, AppStartError, EnsureResult
from fiftyone_sync.auth.access import subject_of
from fiftyone_sync.auth.tator_auth import EDIT
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

MONGO_TIMEOUT_MS = 5000

router = APIRouter()


@router.get("/launch")
def launch(
    request: Request,
    credential: CredentialDep,
    project_id: Annotated[str, Query(description="The Tator project id.")],
    database_name: Annotated[str | None, Query(
        description="A database override an operator allowed.")] = None,
) -> dict:
    """Ensures the project's App server runs and returns links that open it."""
    settings: Settings = request.app.state.settings
    access = check_access(request, credential, project_id, EDIT)
    project = access.project_id
    database = project_database(project, settings, database_name)

    began = time.monotonic()
    result = _ensure(request, project, database)
    names = _dataset_names(request, settings, database)
    links = _links(request, settings, project, result.record.port, credential.header, names)
    logger.info("launch project %d: port %d, database %s, %d datasets, %s in %.1f s",
                project, result.record.port, database, len(names),
                "restarted" if result.restarted else "started" if result.started else "running",
                time.monotonic() - began)

    return {
        "project_id": project,
        "port": result.record.port,
        "url": links["url"],
        "database_name": database,
        "datasets": links["datasets"],
        "restarted": result.restarted,
        "restart_reason": result.reason if result.restarted else None,
        "mode": settings.app_mode,
    }


def _ensure(request: Request, project: int, database: str) -> EnsureResult:
    """Runs the manager's ensure, mapping its failures to HTTP errors."""
    try:
        return get_app_manager(request).ensure(project, database)
    except AppPortBusy as error:
        raise HTTPException(409, str(error)) from None
    except AppStartError as error:
        raise HTTPException(503, str(error)) from None
    except naming.NamingError as error:
        raise HTTPException(422, str(error)) from None


def _dataset_names(request: Request, settings: Settings, database: str) -> list[str]:
    """The datasets of ``database``, via this process's pymongo client."""
    state = request.app.state
    if getattr(state, "apps_mongo_client", None) is None:
        state.apps_mongo_client = pymongo.MongoClient(
            stores.mongo_uri(settings), serverSelectionTimeoutMS=MONGO_TIMEOUT_MS)
    try:
        return dataset_names(state.apps_mongo_client, database)
    except pymongo.errors.PyMongoError as error:
        logger.error("could not list the datasets of %s: %s", database, type(error).__name__)
        raise HTTPException(503, "MongoDB did not answer; try again") from None


def _links(request: Request, settings: Settings, project: int, port: int, token_header: str,
           names: list[str]) -> dict:
    """The App link and one link per dataset, each with its own one-time code."""
    if settings.app_mode == "direct":
        host = urlsplit(settings.public_url).hostname or settings.app_address
        base = f"http://{host}:{port}"
        return {"url": f"{base}/", "datasets": [
            {"name": name, "url": f"{base}/datasets/{quote(name, safe='')}"} for name in names]}

    codes = get_access_codes(request)
    subject = subject_of(token_header)
    try:
        url = access_url(settings, project, codes.issue(subject, project))
        datasets = [{"name": name,
                     "url": access_url(settings, project, codes.issue(subject, project), name)}
                    for name in names]
    except redis.RedisError as error:
        logger.error("could not store App access codes: %s", type(error).__name__)
        raise HTTPException(503, "Redis did not answer; try again") from None
    return {"url": url, "datasets": datasets}
