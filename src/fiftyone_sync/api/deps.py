"""FastAPI dependencies shared by the routers: settings, the Tator client, caller checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from fiftyone_sync.auth.tator_auth import EDIT, AccessChecker, AuthError, ProjectAccess
from fiftyone_sync.naming import NamingError, database_name, validate_project_id
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential, CredentialError, TatorClient, timeouts


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


def get_tator_client(request: Request) -> TatorClient:
    """The process's one Tator client, built on first use."""
    state = request.app.state
    if getattr(state, "tator_client", None) is None:
        state.tator_client = TatorClient(state.settings.tator_url,
                                         timeouts(state.settings.tator_timeout))
    return state.tator_client


def get_access_checker(request: Request) -> AccessChecker:
    """The process's token-check cache."""
    state = request.app.state
    if getattr(state, "access_checker", None) is None:
        state.access_checker = AccessChecker(
            get_tator_client(request), state.settings.token_cache_ttl)
    return state.access_checker


def get_credential(authorization: Annotated[str | None, Header()] = None) -> Credential:
    """The caller's Tator token, from the ``Authorization`` header only (never the URL)."""
    try:
        return Credential.from_header(authorization)
    except CredentialError as exc:
        raise HTTPException(401, str(exc)) from None


def check_access(
    request: Request, credential: Credential, project_id: object, needed: str = EDIT
) -> ProjectAccess:
    """Checks with Tator that the caller holds at least ``needed`` in the project.

    Raises:
        HTTPException: 422 for an invalid or out-of-range project id; the
            :class:`AuthError` status otherwise.
    """
    try:
        project = validate_project_id(project_id)
    except NamingError as exc:
        raise HTTPException(422, str(exc)) from None

    try:
        return get_access_checker(request).check(credential, project, needed)
    except AuthError as exc:
        raise HTTPException(exc.status, exc.message) from None


def project_database(project_id: int, settings: Settings, requested: str | None = None) -> str:
    """The project's database (see :func:`fiftyone_sync.naming.database_name`).

    Raises:
        HTTPException: 422 naming what is wrong with a requested override.
    """
    try:
        return database_name(project_id, settings, requested)
    except NamingError as exc:
        raise HTTPException(422, str(exc)) from None


CredentialDep = Annotated[Credential, Depends(get_credential)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
