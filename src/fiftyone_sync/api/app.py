"""Builds the FastAPI application from its routers."""

from __future__ import annotations

from fastapi import FastAPI

from fiftyone_sync import __version__
from fiftyone_sync.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API with every router mounted; ``settings`` defaults to the process settings."""
    settings = settings or get_settings()
    app = FastAPI(title="FiftyOne Sync for Tator", version=__version__)
    app.state.settings = settings
    return app
