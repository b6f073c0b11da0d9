"""Builds the FastAPI application from its routers."""

from __future__ import annotations

from fastapi import FastAPI

from fiftyone_sync import __version__
from fiftyone_sync.api import apps_proxy, health, launch, launcher, metrics
from fiftyone_sync.api import datasets as dataset_routes
from fiftyone_sync.api import embed as embed_routes
from fiftyone_sync.api import embeddings as embeddings_routes
from fiftyone_sync.api import jobs as job_routes
from fiftyone_sync.api import push as push_routes
from fiftyone_sync.api import sync as sync_routes
from fiftyone_sync.api import versions as version_routes
from fiftyone_sync.api.cors import install_cors
from fiftyone_sync.api.errors import install_error_handlers
from fiftyone_sync.api.limits import BodySizeLimit
from fiftyone_sync.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API with every router mounted; ``settings`` defaults to the process settings."""
    settings = settings or get_settings()
    app = FastAPI(title="FiftyOne Sync for Tator", version=__version__)
    app.state.settings = settings

    install_error_handlers(app)
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    install_cors(app, settings)

    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(launcher.router)
    app.include_router(embed_routes.router)
    app.include_router(launch.router)
    app.include_router(apps_proxy.router)
    app.include_router(sync_routes.router)
    app.include_router(push_routes.router)
    app.include_router(embeddings_routes.router)
    app.include_router(job_routes.router)
    app.include_router(version_routes.router)
    app.include_router(dataset_routes.router)
    return app
