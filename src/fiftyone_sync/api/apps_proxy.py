"""The access path to App servers: ``/apps/{project_id}/...`` (DESIGN.md section 9).

FiftyOne's App server has no authentication and serves any file its process can read, so
it listens on loopback and browsers reach it only through this reverse proxy:

* ``GET /apps/{p}/?code=...`` redeems a one-time code from ``/launch`` for a short-lived,
  project-scoped, HttpOnly cookie (``Path=/apps/{p}``) and redirects to the App with
  ``?proxy=/apps/{p}``, the App's own path-prefix switch.
* Every other request needs that cookie. It is forwarded to the project's App server with
  the cookie and ``Authorization`` header removed, streaming both ways (the App's
  ``POST /events`` is a long-lived stream: no buffering, no read timeout), and refreshes the
  server's last-access time, which the idle policy reads.
* ``/media`` is served only for a ``filepath`` inside the project's media cache.

The cookie is ``SameSite=Lax`` for the new-tab flow, which works cross-site because opening
the link is a top-level navigation. Embedding the App in Tator's iframe is cross-site and
needs ``access_cookie_cross_site`` (``SameSite=None; Secure; Partitioned``) behind HTTPS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import threading
import time
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode

import httpx
import redis
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from fiftyone_sync import naming, stores
from fiftyone_sync.apps.manager import AppManager, IdleReaper
from fiftyone_sync.apps.process import connect_host
from fiftyone_sync.auth.access import (
    COOKIE_NAME,
    PLUGIN_GRANT_PARAM,
    AccessCodes,
    AccessDenied,
    AccessGrant,
    plugin_secret,
    read_cookie,
    sign_cookie,
)
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

EVENTS_PATH = "events"
OPERATORS_PATH = "operators"
MEDIA_PATH = "media"
REQUEST_READ_TIMEOUT = 300.0
REAPER_MAX_INTERVAL = 60.0
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade",
}
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "cookie", "authorization"}
_NOT_RELAYED = _HOP_BY_HOP | {"date", "server"}


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Stops the idle reaper and closes the proxy's connections when the API stops."""
    yield

    state = app.state
    reaper = getattr(state, "app_reaper", None)
    if reaper is not None:
        await run_in_threadpool(reaper.stop)
    client = getattr(state, "app_http_client", None)
    if client is not None:
        await client.aclose()


router = APIRouter(lifespan=_lifespan)


_MANAGER_LOCK = threading.Lock()
"""Makes the first concurrent requests (route threads) share one manager and one reaper."""


def get_app_manager(request: Request) -> AppManager:
    """The process's App manager; the first call also starts the idle reaper thread."""
    state = request.app.state
    with _MANAGER_LOCK:
        if getattr(state, "app_manager", None) is None:
            settings: Settings = state.settings
            manager = AppManager(settings, lambda: stores.mongo_uri(settings))
            if settings.app_idle_timeout > 0:
                interval = min(REAPER_MAX_INTERVAL, max(0.5, settings.app_idle_timeout / 4))
                state.app_reaper = IdleReaper(manager, interval)
                state.app_reaper.start()
            state.app_manager = manager
    return state.app_manager


def get_access_codes(request: Request) -> AccessCodes:
    """The one-time code store of this process (Redis)."""
    state = request.app.state
    if getattr(state, "app_access_codes", None) is None:
        settings: Settings = state.settings
        client = redis.Redis.from_url(stores.redis_url(settings))
        state.app_access_codes = AccessCodes(client, settings.access_code_ttl)
    return state.app_access_codes


def _http_client(request: Request) -> httpx.AsyncClient:
    state = request.app.state
    if getattr(state, "app_http_client", None) is None:
        state.app_http_client = httpx.AsyncClient(
            timeout=httpx.Timeout(REQUEST_READ_TIMEOUT, connect=5.0), follow_redirects=False)
    return state.app_http_client


def entry_path(project_id: int) -> str:
    """The access path's prefix for a project, which is also the App's ``?proxy=`` value."""
    return f"/apps/{project_id}"


def access_url(settings: Settings, project_id: int, code: str, dataset: str | None = None) -> str:
    """The link that redeems ``code`` and opens the App (on ``dataset``, if given)."""
    query = {"code": code} if dataset is None else {"code": code, "dataset": dataset}
    return f"{settings.public_url}{entry_path(project_id)}/?{urlencode(query)}"


@router.api_route("/apps/{project_id}", methods=["GET", "HEAD"], include_in_schema=False)
async def add_slash(project_id: int, request: Request) -> Response:
    """Redirects ``/apps/{p}`` to ``/apps/{p}/`` so relative asset URLs resolve."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"{entry_path(project_id)}/{query}", status_code=307)


@router.api_route("/apps/{project_id}/{path:path}", methods=METHODS, include_in_schema=False)
async def proxy(project_id: int, path: str, request: Request) -> Response:
    """Redeems an access code, or forwards a cookie holder's request to the project's App."""
    settings: Settings = request.app.state.settings
    try:
        naming.validate_project_id(project_id)
    except naming.NamingError as error:
        return _refuse(422, str(error))

    code = request.query_params.get("code")
    if path == "" and code:
        return await _redeem(request, settings, project_id, code)

    try:
        grant = read_cookie(request.cookies.get(COOKIE_NAME), project_id,
                            settings.resolved_secret_key())
    except AccessDenied as error:
        return _refuse(401, str(error))

    refusal = _path_refusal(path, request, settings, project_id)
    if refusal is not None:
        return refusal

    if _is_page_without_prefix(request, path):
        query = [*request.query_params.multi_items(), ("proxy", entry_path(project_id))]
        return RedirectResponse(f"{quote(request.url.path)}?{urlencode(query)}", status_code=307)

    get_app_manager(request).touch(project_id)
    body = await _operator_body(request, path, grant, settings)
    response = await _forward(request, settings, project_id, path, body)
    _refresh_cookie(response, grant, settings)
    return response


async def _redeem(request: Request, settings: Settings, project_id: int, code: str) -> Response:
    """Exchanges a one-time code for the project's cookie and redirects into the App."""
    codes = get_access_codes(request)
    try:
        subject = await run_in_threadpool(codes.redeem, code, project_id)
    except AccessDenied as error:
        logger.info("refused an App access code for project %d: %s", project_id, error)
        return _refuse(401, str(error))
    except redis.RedisError as error:
        logger.error("Redis failed while redeeming an App access code: %s", error)
        return _refuse(503, "the access service is unavailable; try again")

    prefix = entry_path(project_id)
    dataset = request.query_params.get("dataset")
    target = f"{prefix}/datasets/{quote(dataset, safe='')}" if dataset else f"{prefix}/"
    response = RedirectResponse(f"{target}?{urlencode({'proxy': prefix})}", status_code=303)

    now = time.time()
    grant = AccessGrant(subject, project_id, now + settings.access_cookie_ttl, issued_at=now)
    _set_cookie(response, grant, settings)
    logger.info("opened App access for project %d (user %s)", project_id, subject)
    return response


def _set_cookie(response: Response, grant: AccessGrant, settings: Settings) -> None:
    """Sets the project-scoped HttpOnly access cookie on ``response``.

    Cross-site cookies get ``Partitioned`` appended here: Starlette's ``partitioned=True``
    raises before Python 3.14 (``http.cookies`` lacks the attribute there).
    """
    cross_site = settings.access_cookie_cross_site
    response.set_cookie(
        COOKIE_NAME, sign_cookie(grant, settings.resolved_secret_key()),
        max_age=max(1, int(grant.expires_at - time.time())), path=entry_path(grant.project_id),
        httponly=True, samesite="none" if cross_site else "lax", secure=cross_site,
    )
    if cross_site:
        name, value = response.raw_headers[-1]
        response.raw_headers[-1] = (name, value + b"; Partitioned")


def _refresh_cookie(response: Response, grant: AccessGrant, settings: Settings) -> None:
    """Renews a cookie past half its life, so an active session does not expire mid-edit.

    Never past ``access_session_max_age`` after the session began: the cookie carries no
    token to check again, so this bounds how long a revoked Tator user keeps access.
    """
    now = time.time()
    if grant.expires_at - now >= settings.access_cookie_ttl / 2:
        return
    expires_at = min(now + settings.access_cookie_ttl,
                     grant.issued_at + settings.access_session_max_age)
    if expires_at > grant.expires_at:
        _set_cookie(response, AccessGrant(grant.subject, grant.project_id, expires_at,
                                          grant.issued_at), settings)


def _is_page_without_prefix(request: Request, path: str) -> bool:
    """Whether this is an App page opened without ``?proxy=`` (the App would call ``/``)."""
    is_page = path == "" or (path.startswith("datasets/") and "/assets/" not in f"/{path}")
    return request.method == "GET" and is_page and "proxy" not in request.query_params


def _path_refusal(path: str, request: Request, settings: Settings,
                  project_id: int) -> Response | None:
    """A refusal for a path that could escape the App or its media cache, else ``None``."""
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments) or "\\" in path:
        return _refuse(400, "paths with '.' or '..' segments are not forwarded")

    if posixpath.normpath("/" + path).strip("/").lower() != MEDIA_PATH:
        return None

    filepaths = request.query_params.getlist("filepath")
    if len(filepaths) != 1:
        return _refuse(400, "/media takes exactly one filepath")
    # The pull caches project P's media in media_dir/p{P} (dataset.media_cache.MediaCache).
    root = os.path.realpath(settings.media_dir / f"p{project_id}")
    real = os.path.realpath(filepaths[0])
    if os.path.commonpath([root, real]) != root or real == root:
        logger.warning("refused /media outside project %d's media cache", project_id)
        return _refuse(403, f"only files in project {project_id}'s media cache are served")
    return None


async def _operator_body(request: Request, path: str, grant: AccessGrant,
                         settings: Settings) -> bytes | None:
    """An ``/operators/*`` call's JSON body with the reviewer's grant in ``params``.

    The Tator plugin acts for a reviewer only with this grant (``plugin.identity``): signed
    with the plugin key for this cookie's subject and project. A value the caller put there
    is replaced. ``None`` (forward the body as is) for every other request.
    """
    if request.method != "POST" or path.strip("/").split("/")[0] != OPERATORS_PATH:
        return None

    raw = await request.body()
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        return raw
    if not isinstance(payload, dict):
        return raw

    if not isinstance(payload.get("params"), dict):
        payload["params"] = {}
    payload["params"][PLUGIN_GRANT_PARAM] = sign_cookie(
        grant, plugin_secret(settings.resolved_secret_key()))
    return json.dumps(payload).encode()


async def _forward(request: Request, settings: Settings, project_id: int, path: str,
                   body: bytes | None = None) -> Response:
    """Streams the request (or ``body`` in its place) to the project's App and back."""
    port = naming.app_port(project_id, settings.app_base_port)
    url = f"http://{connect_host(settings.app_address)}:{port}/{quote(path)}"
    if request.url.query:
        url += f"?{request.url.query}"

    dropped = _NOT_FORWARDED if body is None else _NOT_FORWARDED | {"content-length"}
    headers = [(name, value) for name, value in request.headers.items()
               if name.lower() not in dropped]
    read_timeout = None if path.strip("/") == EVENTS_PATH else REQUEST_READ_TIMEOUT
    client = _http_client(request)
    upstream_request = client.build_request(
        request.method, url, headers=headers,
        content=body if body is not None else await _body(request),
        timeout=httpx.Timeout(read_timeout, connect=5.0))

    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.HTTPError as error:
        logger.warning("App for project %d on port %d did not answer: %s",
                       project_id, port, type(error).__name__)
        return _refuse(502, f"the App server of project {project_id} is not running; "
                            "open it again from Tator")

    response = StreamingResponse(_relay(upstream), status_code=upstream.status_code)
    response.raw_headers = [(name, value) for name, value in upstream.headers.raw
                            if name.decode("latin-1").lower() not in _NOT_RELAYED]
    return response


async def _body(request: Request) -> AsyncIterator[bytes] | bytes | None:
    """The request body to forward, framed so the App's server accepts it.

    The App's server (hypercorn) resets connections that carry a chunked body on a GET, so a
    request without a body is forwarded without one; a sized body is streamed under its
    ``Content-Length``; a chunked one (rare from browsers) is read first.
    """
    if "content-length" in request.headers:
        return request.stream()
    if "transfer-encoding" in request.headers:
        return await request.body()
    return None


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """Yields the App's bytes as they come (still encoded), closing the upstream at the end."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    finally:
        await upstream.aclose()


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)
