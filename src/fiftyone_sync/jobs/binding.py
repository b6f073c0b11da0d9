"""Binds a fresh process to one project's MongoDB database before FiftyOne loads.

FiftyOne reads its configuration when it is first imported and binds its database (and
runs its migrations) at the first connection, for the rest of the process. So a process
that works on a project must set the database in its environment before anything imports
``fiftyone``: the RQ work-horse does it first thing, and so does ``fiftyone-sync pull``.
Both call :func:`bind_database`; nothing else should set these variables.
"""

from __future__ import annotations

import logging
import os
import sys

from fiftyone_sync import stores
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)


class DatabaseBindingError(RuntimeError):
    """This process already loaded FiftyOne for another database; it cannot switch."""


def bind_database(settings: Settings, database_name: str) -> None:
    """Points this process's FiftyOne at ``database_name`` on the deployment's MongoDB.

    Args:
        settings: the process settings (they give the MongoDB URI).
        database_name: the project's database, already validated.

    Raises:
        DatabaseBindingError: FiftyOne was imported before with another database.
    """
    if "fiftyone" in sys.modules:
        _check_loaded_config(database_name)
        return

    os.environ["FIFTYONE_DATABASE_URI"] = stores.mongo_uri(settings)
    os.environ["FIFTYONE_DATABASE_NAME"] = database_name
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    # The bundled mongod (6.0) is older than FiftyOne's preferred version; the check
    # only warns on every connection, so it is turned off.
    os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
    logger.debug("Bound this process to database %s", database_name)


def _check_loaded_config(database_name: str) -> None:
    """Accepts an already loaded FiftyOne only if it uses ``database_name``."""
    import fiftyone as fo

    if fo.config.database_name != database_name:
        raise DatabaseBindingError(
            f"this process already uses FiftyOne database {fo.config.database_name!r}; "
            f"a job on {database_name!r} needs a fresh process")
