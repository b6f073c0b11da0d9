"""The HTTP calls the Tator plugin makes to our API, as the reviewer.

The plugin has no pull or push code of its own: it queues the API's jobs (``POST /sync``,
``POST /push``), follows them with ``GET /jobs/{id}`` and reads plans with
``GET /push/plans/{id}``, all with the reviewer's ``Authorization`` header. Operators run in
a worker thread of the App server, so waiting for a job blocks only that call; each wait
has a deadline, after which the operator reports the job id and its state.
"""

from __future__ import annotations

import logging
import time
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
        """Makes a push plan (the dry run) and returns its header and first items."""
        job = self._finished(self._call("POST", "/push", {**self._target, "dry_run": "true"}),
                             wait)
        plan_id = (job.get("result") or {}).get("plan_id")
        if not plan_id:
            raise ApiError(f"the plan job {job['id']} gave no plan id")
        return self._call("GET", f"/push/plans/{plan_id}",
                          {"project_id": str(self._project), "page_size": str(PLAN_PAGE_SIZE)})

    def push(self, plan_id: str, wait: float) -> dict[str, Any]:
        """Applies a reviewed plan; returns the finished job (its result lists outcomes)."""
        queued = self._call("POST", "/push", {**self._target, "plan_id": plan_id})
        return self._finished(queued, wait)

    def pull(self, wait: float) -> dict[str, Any]:
        """Queues a pull of the version; returns the job, finished unless ``wait`` ran out."""
        queued = self._call("POST", "/sync", self._target)
        return self.follow(queued["job_id"], wait)

    def follow(self, job_id: str, wait: float) -> dict[str, Any]:
        """The job's record once it ended, or its current record after ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            record = self._call("GET", f"/jobs/{job_id}", None)
            if record.get("state") in FINAL_STATES or time.monotonic() >= deadline:
                return record
            time.sleep(POLL_INTERVAL)

    def _finished(self, queued: dict[str, Any], wait: float) -> dict[str, Any]:
        """Waits for a queued job and returns it if it succeeded.

        Raises:
            ApiError: the job failed, was cancelled, or did not end within ``wait``.
        """
        record = self.follow(queued["job_id"], wait)
        if record.get("state") == "succeeded":
            return record
        if record.get("state") in FINAL_STATES:
            raise ApiError(f"job {record['id']} {record['state']}: {record.get('error')}")
        raise ApiError(f"job {record['id']} is still {record.get('state')} after {wait:.0f} s;"
                       " follow it in the Tator applet")

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


def _detail(response: httpx.Response) -> str:
    """The API's ``detail`` message, or the start of the body."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    return str(detail)
