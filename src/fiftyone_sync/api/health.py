"""Liveness (``/health``) and readiness (``/ready``) of the API.

``/ready`` checks the stores every request needs (MongoDB, Redis) with short timeouts using
plain ``pymongo``/``redis`` (never FiftyOne, which would bind a database to this process),
and the free space of the data dir. Fast-VSS is reported but does not make the API unready:
only embedding features need it. ``/ready`` never starts an embedded store; it reports one
that is not running.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pymongo
import pymongo.errors
import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fiftyone_sync import __version__, stores
from fiftyone_sync.logging_setup import redact_text, redact_uri
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 1.5
MIN_FREE_BYTES = 1024**3

router = APIRouter(tags=["operations"])


@dataclasses.dataclass
class Check:
    """The outcome of one readiness check, as shown in ``/ready``'s JSON."""

    ok: bool
    detail: str
    required: bool = True
    seconds: float = 0.0


@router.get("/health")
def health() -> dict:
    """The process is alive; says which version runs."""
    return {"status": "ok", "version": __version__}


@router.get("/ready")
def ready(request: Request) -> JSONResponse:
    """200 when MongoDB, Redis and disk space are fine, else 503; details per check."""
    settings: Settings = request.app.state.settings
    probes: dict[str, Callable[[Settings], Check]] = {
        "mongodb": check_mongodb, "redis": check_redis, "disk": check_disk,
        "fastvss": check_fastvss,
    }
    with ThreadPoolExecutor(len(probes)) as pool:
        futures = {name: pool.submit(_timed, probe, settings) for name, probe in probes.items()}
        checks = {name: future.result() for name, future in futures.items()}

    is_ready = all(check.ok for check in checks.values() if check.required)
    for name, check in checks.items():
        if check.required and not check.ok:
            logger.warning("readiness check %s failed: %s", name, check.detail)
    body = {
        "status": "ready" if is_ready else "unready",
        "version": __version__,
        "checks": {name: dataclasses.asdict(check) for name, check in checks.items()},
    }
    return JSONResponse(body, status_code=200 if is_ready else 503)


def check_mongodb(settings: Settings) -> Check:
    """Pings the deployment's MongoDB."""
    uri = stores.known_mongo_uri(settings)
    if uri is None:
        return Check(False, "embedded mongod is not running (start it with `fiftyone-sync serve`)")

    timeout_ms = int(CHECK_TIMEOUT * 1000)
    client: pymongo.MongoClient = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
    )
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as error:
        return Check(False, f"{redact_uri(uri)}: {type(error).__name__}: {_short(error)}")
    finally:
        client.close()
    return Check(True, redact_uri(uri))


def check_redis(settings: Settings) -> Check:
    """Pings the deployment's Redis."""
    url = stores.known_redis_url(settings)
    if url is None:
        return Check(False, "embedded Redis is not running (start it with `fiftyone-sync serve`)")

    client = redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT,
                                  socket_connect_timeout=CHECK_TIMEOUT)
    try:
        client.ping()
    except redis.RedisError as error:
        return Check(False, f"{redact_uri(url)}: {type(error).__name__}: {_short(error)}")
    finally:
        client.close()
    return Check(True, redact_uri(url))


def check_disk(settings: Settings) -> Check:
    """Free space where the data dir lives (media cache, embedded databases)."""
    path = _existing_ancestor(settings.data_dir)
    free = shutil.disk_usage(path).free
    detail = f"{free / 1024**3:.1f} GiB free at {path}"
    if free < MIN_FREE_BYTES:
        return Check(False, f"{detail}; need at least {MIN_FREE_BYTES / 1024**3:.0f} GiB")
    return Check(True, detail)


def check_fastvss(settings: Settings) -> Check:
    """Whether Fast-VSS answers; reported only, since only embeddings need it."""
    url = f"{settings.fastvss_api_url}/health"
    try:
        response = httpx.get(url, timeout=CHECK_TIMEOUT)
    except httpx.HTTPError as error:
        return Check(False, f"{redact_uri(url)}: {type(error).__name__}", required=False)
    return Check(response.is_success, f"{redact_uri(url)}: HTTP {response.status_code}",
                 required=False)


def _timed(probe: Callable[[Settings], Check], settings: Settings) -> Check:
    """Runs ``probe`` and records how long it took."""
    started = time.perf_counter()
    check = probe(settings)
    check.seconds = round(time.perf_counter() - started, 3)
    return check


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest existing parent (the data dir may not exist yet)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _short(error: Exception, limit: int = 200) -> str:
    """The first ``limit`` characters of an error message."""
    text = redact_text(str(error))
    return text if len(text) <= limit else text[:limit] + "..."
