"""Turns the product's domain exceptions into HTTP answers that say what went wrong."""

from __future__ import annotations

import logging

import pymongo.errors
import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fiftyone_sync.logging_setup import redact_text
from fiftyone_sync.naming import NamingError
from fiftyone_sync.stores.embedded import EmbeddedStoreError

logger = logging.getLogger(__name__)


async def naming_error(request: Request, error: Exception) -> JSONResponse:
    """A project id or database name that breaks the naming rules: 422 with the reason."""
    return JSONResponse(status_code=422, content={"detail": str(error)})


async def store_error(request: Request, error: Exception) -> JSONResponse:
    """An embedded MongoDB/Redis that cannot run: 503, so clients retry later."""
    logger.error("%s %s: embedded store unavailable: %s", request.method, request.url.path,
                 error)
    return JSONResponse(status_code=503, content={"detail": str(error)})


async def redis_error(request: Request, error: Exception) -> JSONResponse:
    """Redis (job queue, job records, access codes) did not answer: 503, retry later.

    A Redis restart loses queued jobs (README "Security and reliability"); the request that
    met it can simply be sent again once Redis is back.
    """
    logger.error("%s %s: Redis unavailable: %s", request.method, request.url.path,
                 redact_text(f"{type(error).__name__}: {error}"))
    return JSONResponse(status_code=503, content={
        "detail": f"Redis is unavailable ({type(error).__name__}); try again"})


async def mongo_error(request: Request, error: Exception) -> JSONResponse:
    """MongoDB did not answer: 503 without the server's message (it may name the URI)."""
    logger.error("%s %s: MongoDB unavailable: %s", request.method, request.url.path,
                 type(error).__name__)
    return JSONResponse(status_code=503, content={
        "detail": f"MongoDB is unavailable ({type(error).__name__}); try again"})


def install_error_handlers(app: FastAPI) -> None:
    """Registers every domain exception handler on ``app``."""
    app.add_exception_handler(NamingError, naming_error)
    app.add_exception_handler(EmbeddedStoreError, store_error)
    app.add_exception_handler(redis.RedisError, redis_error)
    app.add_exception_handler(pymongo.errors.PyMongoError, mongo_error)
