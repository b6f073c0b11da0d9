"""Cross-origin access for the Tator applet.

Tator shows the applet in an iframe through ``srcdoc``, so the applet's page has Tator's
origin and every call it makes to this API is cross-origin. The browser lets those calls
through only for the origins listed in the ``cors_origins`` setting (Tator's origin), with
the ``Authorization`` header the Tator token travels in. No cookies are involved: the applet
sends the token itself, so credentials stay off.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

ALLOWED_METHODS = ["GET", "POST", "OPTIONS"]
ALLOWED_HEADERS = ["Authorization", "Content-Type"]
PREFLIGHT_MAX_AGE = 600


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Lets pages of ``settings.cors_origins`` call the API with an ``Authorization`` header.

    Args:
        app: the API application.
        settings: its settings; without origins nothing is added (same-origin only).
    """
    origins = [origin.rstrip("/") for origin in settings.cors_origins]
    if not origins:
        return

    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=ALLOWED_METHODS,
                       allow_headers=ALLOWED_HEADERS, allow_credentials=False,
                       max_age=PREFLIGHT_MAX_AGE)
    logger.info("CORS open to %d origin(s): %s", len(origins), ", ".join(origins))
