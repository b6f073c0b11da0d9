"""The HTTP calls the Tator plugin makes to our API, as the reviewer.

The plugin has no pull or push code of its own: it queues the API's jobs (``POST /sync``,
``POST /push``), follows them with ``GET /jobs/{id}`` and reads plans with
``GET /push/plans/{id}``, all with the reviewer's ``Authorization`` header. Operators run in
a worker thread of the App server, so following a job blocks only that call; each wait has
a deadline, after which the operator reports the job id and its state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx

from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 30.0
POLL_INTERVAL = 0.5
FINAL_STATES = ("succeeded", "failed", "cancelled")
PLAN_PAGE_SIZE = 20


class ApiError(Exception):
    """Our API refused a call, or a job ended without succeeding; the message says why."""


class SyncApi:
    """Our API, called with one reviewer's credential.

    Args:
        base_url: the API's base URL (``FIFTYONE_SYNC_API_URL``).
        credential: the reviewer's Tator credential.
        project_id: the App's project.
        version_id: the dataset's Tator version.
    """

    def __init__(self, base_url: str, credential: Credential, project_id: int,
                 version_id: int) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": credential.header}
        self._target = {"project_id": str(project_id), "version_id": str(version_id)}
        self._project = project_id

    def review(self, wait: float) -> dict[str, Any]:
        """Makes a push plan (the dry run) and returns its header and first items.

        Raises:
            ApiError: the plan job failed, was cancelled, or did not end within ``wait``.
        """
        queued = self._call("POST", "/push", {**self._target, "dry_run": "true"})
        job = _succeeded(_last(self.watch(queued["job_id"], wait)), wait)
        plan_id = (job.get("result") or {}).get("plan_id")
        if not plan_id:
            raise ApiError(f"the plan job {job['id']} gave no plan id")
        return self._call("GET", f"/push/plans/{plan_id}",
                          {"project_id": str(self._project), "page_size": str(PLAN_PAGE_SIZE)})

    def start_push(self, plan_id: str) -> str:
        """Queues the job that applies a reviewed plan; returns its id."""
        return self._call("POST", "/push", {**self._target, "plan_id": plan_id})["job_id"]

    def start_pull(self) -> str:
        """Queues a pull of the version; returns the job's id."""
        return self._call("POST", "/sync", self._target)["job_id"]

    def watch(self, job_id: str, wait: float) -> Iterator[dict[str, Any]]:
        """The job's record at each poll, until it ends or ``wait`` seconds have passed.

        The last record yielded is the final one, or the current one when time ran out.
        """
        deadline = time.monotonic() + wait
        while True:
            record = self._call("GET", f"/jobs/{job_id}", None)
            yield record
            if record.get("state") in FINAL_STATES or time.monotonic() >= deadline:
                return
            time.sleep(POLL_INTERVAL)

    def _call(self, method: str, path: str, query: dict[str, str] | None) -> dict[str, Any]:
        """One API call; the answer's JSON, or :class:`ApiError` with the API's reason."""
        try:
            response = httpx.request(method, self._base + path, params=query,
                                     headers=self._headers, timeout=REQUEST_TIMEOUT)
        except httpx.HTTPError as error:
            logger.warning("FiftyOne Sync API did not answer %s %s: %s", method, path,
                           type(error).__name__)
            raise ApiError(f"the FiftyOne Sync API did not answer ({type(error).__name__})"
                           ) from None

        if response.status_code >= 400:
            raise ApiError(f"the FiftyOne Sync API refused {method} {path}: "
                           f"HTTP {response.status_code} {_detail(response)}")
        return response.json()


def _last(records: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """The last record a :meth:`SyncApi.watch` yields."""
    record: dict[str, Any] = {}
    for record in records:
        pass
    return record


def _succeeded(record: dict[str, Any], wait: float) -> dict[str, Any]:
    """``record`` if its job succeeded.

    Raises:
        ApiError: the job failed, was cancelled, or did not end within ``wait`` seconds.
    """
    if record.get("state") == "succeeded":
        return record
    if record.get("state") in FINAL_STATES:
        raise ApiError(f"job {record['id']} {record['state']}: {record.get('error')}")
    raise ApiError(f"job {record['id']} is still {record.get('state')} after {wait:.0f} s;"
                   " follow it in the Tator applet")


def _detail(response: httpx.Response) -> str:
    """The API's ``detail`` message, or the start of the body."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    return str(detail)
