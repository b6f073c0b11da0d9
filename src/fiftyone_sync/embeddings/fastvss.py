"""Client of Fast-VSS, the embedding service: submit images, poll jobs, check the vectors.

Fast-VSS (reference/fastvss.md) queues every embed call as a job and answers errors with HTTP
200 and ``{"error": ...}``. This client turns those answers into explicit states and specific
exceptions, sets a timeout on every call, supports both embed paths (``POST /embed/{p}`` and
the older ``POST /embeddings/{p}/``), and matches vectors to inputs by file name, never by
position. :meth:`FastVSSClient.embed` is the whole loop the embedding job and the ``/embed``
proxy rely on: batches, an idle-gap timeout per job, a total deadline, per-item validation.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Self
from urllib.parse import quote

import httpx

from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

CURRENT_EMBED_PATH = "/embed/{project}"
OLDER_EMBED_PATH = "/embeddings/{project}/"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
"""File names we send: Fast-VSS passes them back, so they must survive multipart as is."""

_embed_paths: dict[str, str] = {}
_embed_paths_lock = threading.Lock()


class FastVSSError(Exception):
    """Fast-VSS answered with an error, or with something this client cannot use.

    Attributes:
        url: the URL called, when the error belongs to one call.
        job_id: the Fast-VSS job concerned, if any.
    """

    def __init__(self, message: str, *, url: str | None = None, job_id: str | None = None):
        super().__init__(message)
        self.url = url
        self.job_id = job_id


class FastVSSUnavailable(FastVSSError):
    """Fast-VSS could not be reached, or answered with a server error (5xx)."""


class FastVSSTimeout(FastVSSError):
    """Fast-VSS did not answer within the call's timeout."""


class _RouteMissing(FastVSSError):
    """The server has no such route (404/405): an older or newer Fast-VSS."""


class JobStatus(str, enum.Enum):
    """Where a Fast-VSS job stands, as this client reads it."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class JobState:
    """One answer about a job: ``result`` is set when DONE, ``error`` when FAILED."""

    status: JobStatus
    result: dict | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Timing:
    """How long to wait, and for what.

    Attributes:
        request: timeout of one HTTP call.
        poll_interval: pause between rounds of polls.
        idle_gap: a job fails when Fast-VSS has said nothing about it for this long (a
            ``pending`` answer counts as an answer).
        deadline: a whole :meth:`FastVSSClient.embed` run fails its unfinished jobs after this.
    """

    request: float = 30.0
    poll_interval: float = 0.5
    idle_gap: float = 120.0
    deadline: float = 1800.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Timing:
        """The timing the deployment configured."""
        return cls(
            request=settings.fastvss_timeout,
            poll_interval=settings.fastvss_poll_interval,
            idle_gap=settings.fastvss_idle_timeout,
            deadline=settings.fastvss_job_deadline,
        )


@dataclasses.dataclass
class JobWatch:
    """A submitted job being waited on: its id, the file names sent, when it last answered."""

    job_id: str
    names: list[str]
    last_answer: float = dataclasses.field(default_factory=time.monotonic)


@dataclasses.dataclass(frozen=True)
class BatchVectors:
    """The usable vectors of one job's result by file name, and why the others were refused."""

    vectors: dict[str, list[float]]
    rejected: dict[str, str]


@dataclasses.dataclass
class EmbedOutcome:
    """What an :meth:`FastVSSClient.embed` run produced.

    Attributes:
        vectors: a checked vector per key that got one.
        failures: for every other key, why it got none (its batch failed, or its vector was
            refused).
        batches: how many Fast-VSS jobs the run needed.
        failed_batches: how many of them failed as a whole.
        dimension: the vector length of the run (given, or the one Fast-VSS answered with).
    """

    vectors: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    batches: int = 0
    failed_batches: int = 0
    dimension: int | None = None


def file_mime(data: bytes) -> str:
    """The MIME type of an encoded image, from its first bytes."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _vector_problem(vector: object, dimension: int) -> str | None:
    """Why ``vector`` cannot be stored, or None when it is a usable embedding."""
    if not isinstance(vector, list) or not all(
            isinstance(value, (int, float)) and not isinstance(value, bool) for value in vector):
        return "the vector is not a list of numbers"
    if len(vector) != dimension:
        return f"the vector has {len(vector)} values, expected {dimension}"
    if not all(math.isfinite(value) for value in vector):
        return "the vector contains NaN or infinity"
    if not any(vector):
        return "the vector is all zeros"
    return None


def result_dimension(result: dict) -> int | None:
    """The most common vector length in a job's result (the longest on a tie)."""
    lengths = collections.Counter(
        len(vector) for vector in result.get("embeddings") or [] if isinstance(vector, list))
    if not lengths:
        return None
    return max(lengths, key=lambda length: (lengths[length], length))


def check_vectors(names: Sequence[str], result: dict, dimension: int) -> BatchVectors:
    """Matches a job's vectors to the names sent, by name, and refuses the unusable ones.

    Args:
        names: the file names sent in the job.
        result: the job's result, ``{"filenames": [...], "embeddings": [[...], ...]}``.
        dimension: the length every vector must have.

    Returns:
        The usable vectors by name; every other sent name with its reason.

    Raises:
        FastVSSError: when the result cannot be matched at all (not two lists of one length).
    """
    filenames, vectors = result.get("filenames"), result.get("embeddings")
    if not isinstance(filenames, list) or not isinstance(vectors, list):
        raise FastVSSError("Fast-VSS's result lacks 'filenames' or 'embeddings' lists")
    if len(filenames) != len(vectors):
        raise FastVSSError(
            f"Fast-VSS's result has {len(filenames)} file names but {len(vectors)} vectors")

    sent = set(names)
    counts = collections.Counter(filenames)
    accepted: dict[str, list[float]] = {}
    rejected: dict[str, str] = {}
    for name, vector in zip(filenames, vectors, strict=True):
        if name not in sent:
            logger.warning("Fast-VSS answered for a file it was not sent: %r", name)
        elif counts[name] > 1:
            rejected[name] = "Fast-VSS answered more than one vector for it"
        elif (problem := _vector_problem(vector, dimension)) is not None:
            rejected[name] = problem
        else:
            accepted[name] = [float(value) for value in vector]

    for name in names:
        if name not in accepted and name not in rejected:
            rejected[name] = "missing from Fast-VSS's result"
    return BatchVectors(accepted, rejected)


def fastvss_project(settings: Settings, tator_project_id: int) -> str | None:
    """The Fast-VSS project that serves a Tator project, from ``fastvss_project_map``."""
    return settings.fastvss_project_map.get(tator_project_id)


class FastVSSClient:
    """Calls one Fast-VSS server; thread-safe, reuse one per process.

    Args:
        base_url: Fast-VSS's base URL, e.g. ``http://localhost:8000``.
        timing: timeouts and polling pace.
        batch_size: the most files per embed call (Fast-VSS refuses more than its own).
        max_in_flight: how many jobs :meth:`embed` keeps submitted at once.
        submit_attempts: tries per batch when Fast-VSS is unreachable or times out.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timing: Timing | None = None,
        batch_size: int = 32,
        max_in_flight: int = 4,
        submit_attempts: int = 2,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timing = timing or Timing()
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.submit_attempts = submit_attempts
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timing.request, connect=min(self.timing.request, 10.0)),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> FastVSSClient:
        """A client configured from the deployment's settings."""
        return cls(settings.fastvss_api_url, timing=Timing.from_settings(settings),
                   batch_size=settings.fastvss_batch_size)

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: object) -> dict:
        """One HTTP call; returns the JSON body or raises the matching FastVSSError."""
        url = f"{self.base_url}{path}"
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise FastVSSTimeout(
                f"Fast-VSS did not answer {method} {path} within {self.timing.request:g} s "
                f"({type(exc).__name__})", url=url) from exc
        except httpx.TransportError as exc:
            raise FastVSSUnavailable(
                f"Fast-VSS at {self.base_url} is unreachable: {exc!r}", url=url) from exc

        if response.status_code in (404, 405):
            raise _RouteMissing(f"Fast-VSS has no route {method} {path}", url=url)
        if response.status_code >= 500:
            raise FastVSSUnavailable(
                f"Fast-VSS answered HTTP {response.status_code} to {method} {path}", url=url)
        if response.status_code >= 400:
            raise FastVSSError(
                f"Fast-VSS refused {method} {path} with HTTP {response.status_code}: "
                f"{response.text[:300]}", url=url)
        return self._body(response, url)

    @staticmethod
    def _body(response: httpx.Response, url: str) -> dict:
        """The answer as a dict, or FastVSSError for garbage and for ``{"error": ...}``."""
        try:
            body = response.json()
        except ValueError as exc:
            raise FastVSSError(f"Fast-VSS answered with non-JSON: {response.text[:200]!r}",
                               url=url) from exc
        if not isinstance(body, dict):
            raise FastVSSError(f"Fast-VSS answered with a {type(body).__name__}, not an object",
                               url=url)
        if "error" in body:
            raise FastVSSError(f"Fast-VSS: {body['error']}", url=url)
        return body

    def health(self) -> dict:
        """Fast-VSS's ``/health`` answer, e.g. ``{"status": "ok", "version": "0.15"}``."""
        return self._call("GET", "/health")

    def projects(self) -> list[str]:
        """The project names Fast-VSS serves."""
        body = self._call("GET", "/projects")
        names = body.get("projects")
        if not isinstance(names, list):
            raise FastVSSError(f"Fast-VSS's /projects answer has no list: {body!r:.200}")
        return [str(name) for name in names]

    def submit_embed(self, project: str, files: Sequence[tuple[str, bytes, str]]) -> str:
        """Queues one embed job and returns its id.

        Tries ``POST /embed/{project}``, falls back to ``POST /embeddings/{project}/`` on
        404/405, and remembers which one this server takes.

        Args:
            project: the Fast-VSS project name.
            files: at most ``batch_size`` of (file name, encoded image, MIME type).

        Raises:
            FastVSSError: an error answer (unknown project, too many files, ...);
                FastVSSUnavailable / FastVSSTimeout: no usable answer.
        """
        parts = [("files", (name, data, mime)) for name, data, mime in files]
        with _embed_paths_lock:
            known = _embed_paths.get(self.base_url)
        candidates = [known] if known else [CURRENT_EMBED_PATH, OLDER_EMBED_PATH]

        for template in candidates:
            path = template.format(project=quote(project, safe=""))
            try:
                body = self._call("POST", path, files=parts)
            except _RouteMissing:
                logger.info("Fast-VSS at %s has no %s", self.base_url, template)
                continue
            with _embed_paths_lock:
                _embed_paths[self.base_url] = template
            return self._job_id(body)
        raise FastVSSError(f"Fast-VSS at {self.base_url} serves neither embed route")

    @staticmethod
    def _job_id(body: dict) -> str:
        """The job id of an embed answer."""
        job_id = body.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise FastVSSError(f"Fast-VSS's embed answer has no job_id: {body!r:.200}")
        return job_id

    def poll(self, job_id: str, project: str) -> JobState:
        """Asks once how a job stands.

        A ``done`` job whose result is not an object (Fast-VSS returns the error text of a
        task that raised) is FAILED with that text.

        Raises:
            FastVSSError: an error answer (e.g. an unknown or expired job id);
                FastVSSUnavailable / FastVSSTimeout: no usable answer.
        """
        path = f"/predict/job/{quote(job_id, safe='')}/{quote(project, safe='')}"
        body = self._call("GET", path)
        status = body.get("status")
        if status == JobStatus.PENDING.value:
            return JobState(JobStatus.PENDING)
        if status == JobStatus.FAILED.value:
            return JobState(JobStatus.FAILED, error=f"Fast-VSS job {job_id} failed")
        if status != JobStatus.DONE.value:
            raise FastVSSError(f"Fast-VSS answered an unknown job status {status!r}",
                               job_id=job_id)

        result = body.get("result")
        if not isinstance(result, dict):
            return JobState(JobStatus.FAILED, error=f"Fast-VSS job {job_id} failed: {result}")
        return JobState(JobStatus.DONE, result=result)

    def watch(self, project: str, watch: JobWatch) -> JobState:
        """Polls a job once, applying the idle-gap rule.

        A call that times out or cannot connect leaves the job PENDING until Fast-VSS has
        said nothing about it for ``timing.idle_gap`` seconds; then it is FAILED. An error
        answer (e.g. the job expired) is FAILED at once.
        """
        try:
            state = self.poll(watch.job_id, project)
        except (FastVSSUnavailable, FastVSSTimeout) as exc:
            silent = time.monotonic() - watch.last_answer
            if silent > self.timing.idle_gap:
                return JobState(JobStatus.FAILED, error=(
                    f"no answer from Fast-VSS about job {watch.job_id} for {silent:.0f} s "
                    f"(idle timeout {self.timing.idle_gap:g} s): {exc}"))
            logger.warning("Polling Fast-VSS job %s failed, will retry: %s", watch.job_id, exc)
            return JobState(JobStatus.PENDING)
        except FastVSSError as exc:
            return JobState(JobStatus.FAILED, error=str(exc))

        watch.last_answer = time.monotonic()
        return state

    def embed(
        self,
        project: str,
        items: Sequence[tuple[str, bytes]],
        *,
        dimension: int | None = None,
        on_round: Callable[[EmbedOutcome], None] | None = None,
    ) -> EmbedOutcome:
        """Embeds images in batches and returns checked vectors matched to keys by name.

        Each key is sent as the file name. A batch that fails (error answer, failed job,
        idle timeout, total deadline) fails only its own keys; a vector that is missing,
        of the wrong length, NaN or all zeros fails only its key. When Fast-VSS is
        unreachable, the batches not yet submitted fail with that cause at once.

        Args:
            project: the Fast-VSS project name.
            items: (key, encoded image) pairs; keys unique and matching ``SAFE_NAME``.
            dimension: the expected vector length; by default, the most common length of
                the first finished batch.
            on_round: called after every round of polls with the outcome so far (progress
                reports; it may raise to cancel the run).

        Returns:
            Vectors and per-key failure reasons; every key is in exactly one of them.

        Raises:
            ValueError: for duplicate or unsafe keys.
        """
        return _EmbedRun(self, project, items, dimension, on_round).run()


class _EmbedRun:
    """One :meth:`FastVSSClient.embed` call: a queue of batches and a window of jobs."""

    def __init__(
        self,
        client: FastVSSClient,
        project: str,
        items: Sequence[tuple[str, bytes]],
        dimension: int | None,
        on_round: Callable[[EmbedOutcome], None] | None,
    ) -> None:
        keys = [key for key, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError("keys sent to Fast-VSS must be unique")
        unsafe = [key for key in keys if not SAFE_NAME.match(key)]
        if unsafe:
            raise ValueError(f"keys unusable as file names: {unsafe[:5]}")

        size = client.batch_size
        self.client = client
        self.project = project
        self.queue = collections.deque(
            list(items[start:start + size]) for start in range(0, len(items), size))
        self.running: list[JobWatch] = []
        self.outcome = EmbedOutcome(batches=len(self.queue), dimension=dimension)
        self.deadline = time.monotonic() + client.timing.deadline
        self.on_round = on_round

    def run(self) -> EmbedOutcome:
        """Submits and polls until every batch is done or failed."""
        started = time.monotonic()
        total = sum(len(batch) for batch in self.queue)
        logger.info("Embedding %d images in %d Fast-VSS jobs (project %s)",
                    total, self.outcome.batches, self.project)

        while self.queue or self.running:
            self._fill()
            self._poll_round()
            if self.on_round is not None:
                self.on_round(self.outcome)
            if self.running:
                time.sleep(self.client.timing.poll_interval)

        logger.info("Embedded %d of %d images in %.1f s (%d of %d jobs failed)",
                    len(self.outcome.vectors), total, time.monotonic() - started,
                    self.outcome.failed_batches, self.outcome.batches)
        return self.outcome

    def _fill(self) -> None:
        """Submits queued batches until the window of running jobs is full."""
        while self.queue and len(self.running) < self.client.max_in_flight:
            batch = self.queue.popleft()
            names = [key for key, _ in batch]
            try:
                job_id = self._submit(batch)
            except (FastVSSUnavailable, FastVSSTimeout) as exc:
                self._fail(names, f"could not submit to Fast-VSS: {exc}")
                while self.queue:
                    self._fail([key for key, _ in self.queue.popleft()],
                               f"not submitted, Fast-VSS is unavailable: {exc}")
                return
            except FastVSSError as exc:
                self._fail(names, f"Fast-VSS refused the batch: {exc}")
                continue
            self.running.append(JobWatch(job_id, names))

    def _submit(self, batch: list[tuple[str, bytes]]) -> str:
        """Submits one batch, trying again when Fast-VSS is unreachable or slow."""
        files = [(key, data, file_mime(data)) for key, data in batch]
        for attempt in range(1, self.client.submit_attempts):
            try:
                return self.client.submit_embed(self.project, files)
            except (FastVSSUnavailable, FastVSSTimeout) as exc:
                logger.warning("Submitting %d images to Fast-VSS failed (attempt %d of %d): %s",
                               len(files), attempt, self.client.submit_attempts, exc)
                time.sleep(self.client.timing.poll_interval * attempt)
        return self.client.submit_embed(self.project, files)

    def _poll_round(self) -> None:
        """Polls every running job once and settles the finished ones."""
        for watch in list(self.running):
            if time.monotonic() > self.deadline:
                state = JobState(JobStatus.FAILED, error=(
                    f"Fast-VSS job {watch.job_id} unfinished at the total deadline "
                    f"({self.client.timing.deadline:g} s)"))
            else:
                state = self.client.watch(self.project, watch)

            if state.status is JobStatus.PENDING:
                continue
            self.running.remove(watch)
            if state.status is JobStatus.FAILED:
                self._fail(watch.names, state.error or "Fast-VSS job failed")
            else:
                self._settle(watch, state.result or {})

    def _settle(self, watch: JobWatch, result: dict) -> None:
        """Stores a finished job's usable vectors and records why the others were refused."""
        if self.outcome.dimension is None:
            self.outcome.dimension = result_dimension(result)

        try:
            checked = check_vectors(watch.names, result, self.outcome.dimension or 0)
        except FastVSSError as exc:
            self._fail(watch.names, str(exc))
            return

        self.outcome.vectors.update(checked.vectors)
        self.outcome.failures.update(checked.rejected)
        if checked.rejected:
            logger.warning("Fast-VSS job %s: %d of %d vectors refused (e.g. %s)",
                           watch.job_id, len(checked.rejected), len(watch.names),
                           next(iter(checked.rejected.values())))

    def _fail(self, names: list[str], reason: str) -> None:
        """Fails a whole batch: each of its keys gets ``reason``."""
        logger.error("Fast-VSS batch of %d images failed: %s", len(names), reason)
        self.outcome.failed_batches += 1
        for name in names:
            self.outcome.failures[name] = reason
