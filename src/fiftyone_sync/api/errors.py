"""Turns the product's domain exceptions into HTTP answers that say what went wrong."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


def install_error_handlers(app: FastAPI) -> None:
    """Registers every domain exception handler on ``app``."""
    app.add_exception_handler(NamingError, naming_error)
    app.add_exception_handler(EmbeddedStoreError, store_error)
