"""Runs a job in the calling process (``fiftyone-sync pull``) the way a work-horse would.

The job gets a record like a queued one (so ``GET /jobs`` shows it and its dataset lock
keeps workers off the dataset meanwhile), the process binds the project's database with
the same :func:`~fiftyone_sync.jobs.binding.bind_database` as a work-horse, and
:func:`~fiftyone_sync.jobs.runner.execute` runs the body. The credential stays in memory:
the record carries none.
"""

from __future__ import annotations

import getpass
from typing import Any

from fiftyone_sync import stores
from fiftyone_sync.jobs.binding import bind_database
from fiftyone_sync.jobs.progress import ProgressHook
from fiftyone_sync.jobs.queue import new_record
from fiftyone_sync.jobs.runner import execute
from fiftyone_sync.jobs.state import JobRecord
from fiftyone_sync.jobs.store import JobStore
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential


def run_in_foreground(settings: Settings, kind: str, project_id: int, version_id: int,
                      database_name: str, credential: Credential,
                      params: dict[str, Any] | None = None,
                      hook: ProgressHook | None = None) -> JobRecord:
    """Runs one job here and now; returns its final record.

    Args:
        settings: the process settings.
        kind: the job kind (``pull``...).
        project_id: the Tator project.
        version_id: the Tator version.
        database_name: the project's database (validated by the caller's naming rules).
        credential: the Tator identity the body acts as.
        params: the body's parameters.
        hook: receives every progress report.

    Raises:
        UnknownJobKind: no body is registered for ``kind``.
        NamingError: bad ids or database name.
        DatabaseBindingError: this process already loaded FiftyOne for another database.
    """
    record = new_record(kind, project_id, version_id, database_name,
                        requested_by=f"{getpass.getuser()} (command line)", params=params,
                        runner="cli")
    bind_database(settings, record.database_name)

    store = JobStore.from_url(stores.redis_url(settings), settings.job_record_ttl)
    store.create(record, sealed_credential=None)
    return execute(store, record, settings, credential, hook=hook)
