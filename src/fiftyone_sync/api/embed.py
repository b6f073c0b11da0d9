"""The ``/embed`` routes of the original contract: embed uploaded images through Fast-VSS.

``POST /embed`` (multipart ``files`` + form ``project``) answers ``{"uuid": ...}`` once every
batch is queued in Fast-VSS; ``GET /embed/{uuid}`` answers ``{"status", "embeddings",
"error", "filenames"}`` from Redis (see :mod:`fiftyone_sync.embeddings.proxy`).

Uploads are checked before Fast-VSS sees them: at least one file (422), at most
``embed_max_files`` files (413), each at most ``embed_max_file_bytes`` (413), non-empty (422)
and decodable by Pillow (415). When Fast-VSS cannot take the request at once, ``POST /embed``
answers 503 (unreachable), 504 (timed out) or 502 (it answered an error, e.g. an unknown
project) and stores nothing; failures after that (a failed job, a timeout while collecting,
an unusable vector) end the record ``failed`` with the reason.

``project`` is a Fast-VSS project name; a number is read as a Tator project id and mapped
through ``fastvss_project_map``. With ``embed_require_token`` on, both routes need a Tator
token with access to the Tator project mapped to the Fast-VSS project.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import threading
import uuid as uuidlib
from collections.abc import AsyncIterator
from typing import Annotated

import redis
from fastapi import APIRouter, FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from PIL import Image
from pydantic import BaseModel

from fiftyone_sync.api.deps import check_access, get_credential
from fiftyone_sync.auth.tator_auth import VIEW
from fiftyone_sync.embeddings.fastvss import (
    FastVSSClient,
    FastVSSError,
    FastVSSTimeout,
    FastVSSUnavailable,
)
from fiftyone_sync.embeddings.proxy import EmbedProxy, EmbedStore, Upload
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import redis_url

logger = logging.getLogger(__name__)

PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_proxy_lock = threading.Lock()


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Stops this process's collectors on shutdown so another process resumes them."""
    yield
    proxy = getattr(app.state, "embed_proxy", None)
    if proxy is not None:
        proxy.close()


router = APIRouter(tags=["embed"], lifespan=_lifespan)


class EmbedAccepted(BaseModel):
    """The answer to ``POST /embed``."""

    uuid: str


class EmbedResult(BaseModel):
    """The answer to ``GET /embed/{uuid}``; ``embeddings`` in upload order once completed."""

    status: str
    embeddings: list[list[float]] | None
    error: str | None
    filenames: list[str]


def get_proxy(request: Request) -> EmbedProxy:
    """The process's embed proxy, built on first use from the app's settings."""
    state = request.app.state
    with _proxy_lock:
        if getattr(state, "embed_proxy", None) is None:
            settings: Settings = state.settings
            store = EmbedStore(redis.Redis.from_url(
                redis_url(settings), socket_timeout=10, socket_connect_timeout=5))
            state.embed_proxy = EmbedProxy(
                settings, FastVSSClient.from_settings(settings), store)
        return state.embed_proxy


def _fastvss_project(settings: Settings, project: str) -> str:
    """The Fast-VSS project a request names: a name, or a mapped Tator project id."""
    project = project.strip()
    if project.isdigit():
        mapped = settings.fastvss_project_map.get(int(project))
        if mapped is None:
            raise HTTPException(422, f"Tator project {project} has no Fast-VSS project "
                                     "(setting FIFTYONE_SYNC_FASTVSS_PROJECT_MAP)")
        return mapped
    if not PROJECT_NAME.match(project):
        raise HTTPException(422, f"invalid Fast-VSS project name {project[:130]!r}")
    return project


def _authorize(request: Request, authorization: str | None, project: str) -> int | None:
    """With ``embed_require_token``, checks the caller may view the mapped Tator project."""
    settings: Settings = request.app.state.settings
    if not settings.embed_require_token:
        return None

    credential = get_credential(authorization)
    tator_ids = [pid for pid, name in settings.fastvss_project_map.items() if name == project]
    if not tator_ids:
        raise HTTPException(403, f"Fast-VSS project {project} belongs to no Tator project "
                                 "(setting FIFTYONE_SYNC_FASTVSS_PROJECT_MAP)")
    check_access(request, credential, tator_ids[0], VIEW)
    return tator_ids[0]


def _read_upload(upload: UploadFile, max_bytes: int) -> Upload:
    """The upload's bytes, refused when empty, too large or not an image."""
    name = upload.filename or "(unnamed)"
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HTTPException(413, f"{name} is larger than {max_bytes} bytes")
    if not data:
        raise HTTPException(422, f"{name} is empty")

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Image.DecompressionBombError:
        raise HTTPException(413, f"{name} has too many pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise HTTPException(415, f"{name} is not an image Pillow can read: {exc}") from None
    return Upload(name, data)


def _refusal(status: int, message: str) -> HTTPException:
    """An outside service failed a request: logged with its cause, answered with it."""
    logger.warning("/embed answered %d: %s", status, message)
    return HTTPException(status, message)


@router.post("/embed")
def post_embed(
    request: Request,
    project: Annotated[str, Form(description="Fast-VSS project name, or a Tator project id")],
    files: Annotated[list[UploadFile] | None, File(description="the images")] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> EmbedAccepted:
    """Queues the images in Fast-VSS and answers the uuid to poll."""
    settings: Settings = request.app.state.settings
    name = _fastvss_project(settings, project)
    tator_project_id = _authorize(request, authorization, name)

    if not files:
        raise HTTPException(422, "no files uploaded: send images in the multipart field 'files'")
    if len(files) > settings.embed_max_files:
        raise HTTPException(413, f"{len(files)} files uploaded, at most "
                                 f"{settings.embed_max_files} allowed")
    uploads = [_read_upload(upload, settings.embed_max_file_bytes) for upload in files]

    try:
        record = get_proxy(request).submit(name, uploads, tator_project_id)
    except FastVSSUnavailable as exc:
        raise _refusal(503, f"Fast-VSS is unavailable: {exc}") from None
    except FastVSSTimeout as exc:
        raise _refusal(504, str(exc)) from None
    except FastVSSError as exc:
        raise _refusal(502, f"Fast-VSS refused the request: {exc}") from None
    except redis.RedisError as exc:
        raise _refusal(503, f"Redis is unavailable: {exc}") from None
    return EmbedAccepted(uuid=record.uuid)


@router.get("/embed/{uuid}")
def get_embed(
    request: Request, uuid: str, authorization: Annotated[str | None, Header()] = None
) -> EmbedResult:
    """The request's state; the vectors once completed.

    With ``embed_require_token`` a token is required before anything is looked up, so an
    anonymous caller learns nothing, not even whether a request exists.
    """
    settings: Settings = request.app.state.settings
    credential = get_credential(authorization) if settings.embed_require_token else None
    try:
        uuidlib.UUID(uuid)
    except ValueError:
        raise HTTPException(404, f"no embed request {uuid[:40]!r}") from None

    try:
        record = get_proxy(request).status(uuid)
    except redis.RedisError as exc:
        raise _refusal(503, f"Redis is unavailable: {exc}") from None
    if record is None:
        raise HTTPException(404, f"no embed request {uuid} (unknown, or expired)")
    if record.tator_project_id is not None:
        check_access(request, credential or get_credential(authorization),
                     record.tator_project_id, VIEW)
    return EmbedResult(**record.answer())
