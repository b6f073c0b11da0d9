"""Concurrent, bounded media downloads from Tator with timeouts, retries and atomic writes.

``tator.util.download_media`` retries and then ends silently without a file when anything
goes wrong (reference tator-api.md 4.5), sets no timeout and downloads one file at a time.
This module instead:

- turns object keys into presigned URLs with ``DownloadInfo`` in batches (it needs Tator's
  Can Transfer permission: a 403 becomes :class:`DownloadPermissionError`, a readable reason);
- fetches absolute ``http(s)`` paths as they are and ``/``-rooted legacy paths from the Tator
  host with the user's token;
- runs at most ``concurrency`` transfers at once on one ``httpx`` client, each with a timeout,
  retrying transport errors (a timeout among them), 429 and 5xx with exponential backoff;
  several downloaders of one pull (images, video frames) can share one bound (``slots``);
- writes each file to a temporary name in the target directory and renames it into place, so
  a cache never holds a half-written file;
- reports every failure (media id and reason) instead of hiding it (field case F29).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from tator.exceptions import ApiException

from fiftyone_sync.tator.client import Credential

logger = logging.getLogger(__name__)

INFO_BATCH = 100
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class DownloadPermissionError(PermissionError):
    """The user may not download media of this project (Tator's Can Transfer is needed)."""


class DownloadError(RuntimeError):
    """One transfer that failed for good (after retries, or with a non-retryable status)."""


@dataclasses.dataclass
class DownloadTask:
    """One file to fetch.

    Attributes:
        media_id: the media it belongs to (for reports).
        dest: where the file goes.
        path: a Tator ``media_files`` path (object key, ``http(s)`` URL or ``/`` path), or
            None when ``url`` is set.
        url: a Tator REST URL to fetch with the user's token (e.g. ``GetFrame``).
        finish: called in the worker thread with the written path (e.g. to normalise it).
    """

    media_id: int
    dest: Path
    path: str | None = None
    url: str | None = None
    finish: Callable[[Path], None] | None = None


@dataclasses.dataclass
class DownloadFailure:
    """A task that did not produce a file, and why."""

    media_id: int
    dest: Path
    reason: str


@dataclasses.dataclass
class DownloadReport:
    """What a batch of downloads did."""

    done: list[DownloadTask] = dataclasses.field(default_factory=list)
    failed: list[DownloadFailure] = dataclasses.field(default_factory=list)
    bytes: int = 0


class Downloader:
    """Downloads media files of one project as one user.

    Args:
        api: the user's tator-py API object (for ``DownloadInfo``).
        host: the Tator base URL.
        credential: the user's credential (for ``/``-rooted paths and REST URLs).
        project: the project id.
        concurrency: transfers at once.
        timeout: seconds for connect and for each read.
        retries: extra attempts after the first for retryable failures.
        slots: the transfers-at-once bound, shared with other downloaders that run at the
            same time (default: one of ``concurrency`` slots for this downloader alone).
    """

    def __init__(self, api: Any, host: str, credential: Credential, project: int,
                 concurrency: int = 8, timeout: float = 60.0, retries: int = 4,
                 slots: threading.Semaphore | None = None) -> None:
        self.api = api
        self.host = host.rstrip("/")
        self.credential = credential
        self.project = project
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = 0.5
        self.slots = slots if slots is not None else threading.Semaphore(self.concurrency)

    def presign(self, keys: Sequence[str]) -> dict[str, str]:
        """Presigned URLs of object keys, asked for in batches.

        Raises:
            DownloadPermissionError: when Tator refuses (the user lacks Can Transfer).
            DownloadError: on any other refusal.
        """
        urls: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        for offset in range(0, len(unique), INFO_BATCH):
            batch = unique[offset:offset + INFO_BATCH]
            try:
                infos = self.api.get_download_info(self.project, {"keys": batch})
            except ApiException as exc:
                if exc.status == 403:
                    raise DownloadPermissionError(
                        f"Tator refused to hand out download links for project "
                        f"{self.project}: downloading media needs the 'Can Transfer' "
                        "permission (or higher) in this project") from exc
                raise DownloadError(f"DownloadInfo answered {exc.status}: {exc.body}") from exc
            for info in infos:
                urls[str(info["key"])] = str(info["url"])
        return urls

    def _resolve(self, tasks: Sequence[DownloadTask]) -> list[tuple[DownloadTask, str, dict]]:
        keys = [t.path for t in tasks
                if t.url is None and t.path and not t.path.startswith(("http://", "https://",
                                                                      "/"))]
        presigned = self.presign(keys) if keys else {}
        auth = {"Authorization": self.credential.header}
        resolved = []
        for task in tasks:
            if task.url is not None:
                resolved.append((task, task.url, auth))
            elif task.path.startswith(("http://", "https://")):
                resolved.append((task, task.path, {}))
            elif task.path.startswith("/"):
                resolved.append((task, self.host + task.path, auth))
            else:
                resolved.append((task, presigned[task.path], {}))
        return resolved

    def run(self, tasks: Sequence[DownloadTask],
            on_done: Callable[[int, int], None] | None = None) -> DownloadReport:
        """Fetches every task; failures are reported, not raised.

        Args:
            tasks: the files to fetch.
            on_done: called in the calling thread with ``(finished, total)``; an exception
                it raises (e.g. a cancellation) stops the remaining transfers.

        Raises:
            DownloadPermissionError: before any transfer, when presigning is refused.
        """
        report = DownloadReport()
        if not tasks:
            return report
        resolved = self._resolve(tasks)
        started = time.monotonic()
        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        with httpx.Client(timeout=httpx.Timeout(self.timeout), limits=limits,
                          follow_redirects=True) as client, \
                concurrent.futures.ThreadPoolExecutor(self.concurrency) as pool:
            futures = {pool.submit(self._fetch, client, task, url, headers): task
                       for task, url, headers in resolved}
            try:
                self._collect(futures, report, on_done)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        logger.info("Downloaded %d files (%d bytes, %d failed) in %.2f s", len(report.done),
                    report.bytes, len(report.failed), time.monotonic() - started)
        return report

    def _collect(self, futures: dict, report: DownloadReport,
                 on_done: Callable[[int, int], None] | None) -> None:
        finished = 0
        for future in concurrent.futures.as_completed(futures):
            task = futures[future]
            try:
                report.bytes += future.result()
                report.done.append(task)
            except DownloadError as exc:
                report.failed.append(DownloadFailure(task.media_id, task.dest, str(exc)))
            finished += 1
            if on_done is not None:
                on_done(finished, len(futures))

    def _fetch(self, client: httpx.Client, task: DownloadTask, url: str,
               headers: dict[str, str]) -> int:
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 2))
            try:
                with self.slots:
                    size = self._fetch_once(client, url, headers, task.dest)
            except httpx.HTTPStatusError as exc:
                last = f"HTTP {exc.response.status_code}"
                if exc.response.status_code not in RETRY_STATUSES:
                    break
                continue
            except httpx.TimeoutException as exc:
                last = f"timed out: no answer within {self.timeout:g} s ({type(exc).__name__})"
                continue
            except (httpx.TransportError, _ShortBody) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if task.finish is not None:
                try:
                    task.finish(task.dest)
                except (OSError, ValueError) as exc:
                    task.dest.unlink(missing_ok=True)
                    raise DownloadError(f"media {task.media_id}: unreadable file: {exc}") \
                        from exc
            return size
        logger.warning("Download of media %d failed after %d attempts: %s", task.media_id,
                       attempt + 1, last)
        raise DownloadError(f"media {task.media_id}: {last} (after {attempt + 1} attempts)")

    @staticmethod
    def _fetch_once(client: httpx.Client, url: str, headers: dict[str, str],
                    dest: Path) -> int:
        dest.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".part-", delete=False)
        written = 0
        try:
            with handle, client.stream("GET", url, headers=headers) as response:
                response.raise_for_status()
                expected = response.headers.get("content-length")
                for chunk in response.iter_bytes(1 << 20):
                    handle.write(chunk)
                    written += len(chunk)
            if expected is not None and int(expected) != written:
                raise _ShortBody(f"got {written} of {expected} bytes")
            os.replace(handle.name, dest)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return written


class _ShortBody(Exception):
    """A response that ended before its ``Content-Length``."""
