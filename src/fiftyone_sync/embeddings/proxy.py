"""The ``/embed`` proxy: embed requests as records in Redis, collected from Fast-VSS promptly.

``POST /embed`` (see :mod:`fiftyone_sync.api.embed`) hands the uploads to
:meth:`EmbedProxy.submit`, which splits them into Fast-VSS jobs of at most the batch size,
stores one :class:`EmbedRecord` (with the Fast-VSS job ids) in Redis and starts a collector
thread. The collector polls the jobs until they finish and writes the vectors into the record,
which then lives for ``embed_result_ttl`` seconds: Fast-VSS itself forgets results after about
500 s.

Any API process answers ``GET /embed/{uuid}`` from Redis. A collector holds a short lease in
Redis while it works; when a poll finds a pending record whose lease lapsed (the collecting
process died or restarted), the polled process takes the lease and resumes collecting from the
stored job ids, so nothing is lost.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import os
import re
import socket
import threading
import time
import uuid as uuidlib
from collections.abc import Sequence

import redis

from fiftyone_sync.embeddings.fastvss import (
    FastVSSClient,
    FastVSSError,
    JobStatus,
    JobWatch,
    check_vectors,
    file_mime,
    result_dimension,
)
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "fiftyone_sync:embed:"


class EmbedStatus(str, enum.Enum):
    """The states a caller of ``GET /embed/{uuid}`` sees."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclasses.dataclass
class BatchRecord:
    """One Fast-VSS job of a request: its id, the names sent, and its vectors once done."""

    job_id: str
    names: list[str]
    vectors: list[list[float]] | None = None


@dataclasses.dataclass
class EmbedRecord:
    """One ``/embed`` request as stored in Redis.

    Attributes:
        uuid: the id the caller polls with.
        project: the Fast-VSS project.
        filenames: the uploaded file names, in upload order.
        batches: the Fast-VSS jobs, in upload order.
        deadline_at: epoch seconds after which unfinished jobs fail the request.
        status: pending, completed or failed.
        error: why it failed.
        dimension: the vector length, fixed by the first finished job.
        tator_project_id: the Tator project the caller was checked against, if any.
    """

    uuid: str
    project: str
    filenames: list[str]
    batches: list[BatchRecord]
    deadline_at: float
    status: EmbedStatus = EmbedStatus.PENDING
    error: str | None = None
    dimension: int | None = None
    tator_project_id: int | None = None

    def to_json(self) -> str:
        """The record as stored."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> EmbedRecord:
        """A stored record."""
        data = json.loads(text)
        data["status"] = EmbedStatus(data["status"])
        data["batches"] = [BatchRecord(**batch) for batch in data["batches"]]
        return cls(**data)

    def answer(self) -> dict:
        """The ``GET /embed/{uuid}`` body: vectors in upload order once completed."""
        embeddings = None
        if self.status is EmbedStatus.COMPLETED:
            embeddings = [vector for batch in self.batches for vector in batch.vectors or []]
        return {"status": self.status.value, "embeddings": embeddings, "error": self.error,
                "filenames": self.filenames}


@dataclasses.dataclass(frozen=True)
class Upload:
    """One uploaded image: its file name as the caller sent it and its bytes."""

    filename: str
    data: bytes


class EmbedStore:
    """Embed records and collector leases in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @staticmethod
    def _key(uuid: str) -> str:
        return f"{KEY_PREFIX}{uuid}"

    @staticmethod
    def _lease_key(uuid: str) -> str:
        return f"{KEY_PREFIX}{uuid}:collector"

    def load(self, uuid: str) -> EmbedRecord | None:
        """The record, or None when unknown or expired."""
        text = self.redis.get(self._key(uuid))
        return None if text is None else EmbedRecord.from_json(text)

    def create(self, record: EmbedRecord, ttl: int) -> None:
        """Stores a new record for ``ttl`` seconds."""
        self.redis.set(self._key(record.uuid), record.to_json(), ex=ttl)

    def claim(self, uuid: str, owner: str, lease: float) -> bool:
        """Takes the collector lease unless someone holds it."""
        return bool(self.redis.set(self._lease_key(uuid), owner, nx=True, px=int(lease * 1000)))

    def renew(self, uuid: str, owner: str, lease: float) -> bool:
        """Extends the lease if ``owner`` still holds it; False when it was lost."""
        key = self._lease_key(uuid)
        with self.redis.pipeline() as pipe:
            pipe.watch(key)
            if pipe.get(key) != owner.encode():
                return False
            pipe.multi()
            pipe.pexpire(key, int(lease * 1000))
            try:
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def release(self, uuid: str, owner: str) -> None:
        """Gives the lease up if ``owner`` holds it."""
        key = self._lease_key(uuid)
        with self.redis.pipeline() as pipe:
            pipe.watch(key)
            if pipe.get(key) == owner.encode():
                pipe.multi()
                pipe.delete(key)
                try:
                    pipe.execute()
                except redis.WatchError:
                    logger.info("Lease of embed request %s changed hands while released", uuid)

    def save(self, record: EmbedRecord, owner: str, ttl: int) -> bool:
        """Writes the record if ``owner`` holds its lease; False (nothing written) otherwise."""
        lease_key = self._lease_key(record.uuid)
        with self.redis.pipeline() as pipe:
            pipe.watch(lease_key)
            if pipe.get(lease_key) != owner.encode():
                return False
            pipe.multi()
            pipe.set(self._key(record.uuid), record.to_json(), ex=ttl)
            try:
                pipe.execute()
            except redis.WatchError:
                return False
        return True


class _RequestFailed(Exception):
    """A finished Fast-VSS job makes the whole request fail (the message says why)."""


def file_key(index: int, filename: str) -> str:
    """The name an upload is sent to Fast-VSS under: unique, safe, still readable."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(filename))[:80]
    return f"{index:05d}-{base}"


class EmbedProxy:
    """Submits embed requests to Fast-VSS and collects their results into Redis.

    Args:
        settings: the deployment's settings (batch size, timeouts, TTLs, lease).
        client: the Fast-VSS client.
        store: where records live.
    """

    def __init__(self, settings: Settings, client: FastVSSClient, store: EmbedStore) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        self._owner_prefix = f"{socket.gethostname()}:{os.getpid()}"
        # The collector lease covers at least one poll's worst case (connect + read
        # timeouts), so a collector waiting on a silent Fast-VSS keeps its lease and its
        # idle clock.
        self.lease = max(settings.embed_collector_lease,
                         2 * settings.fastvss_timeout + settings.fastvss_poll_interval + 1)

    def submit(
        self, project: str, uploads: Sequence[Upload], tator_project_id: int | None = None
    ) -> EmbedRecord:
        """Submits every upload to Fast-VSS, stores the record and starts collecting.

        Raises:
            FastVSSError: Fast-VSS refused a batch (its subclasses: unreachable, timed out).
                Nothing is stored then; jobs already submitted are left to expire in Fast-VSS.
        """
        started = time.monotonic()
        size = self.client.batch_size
        keys = [file_key(index, upload.filename) for index, upload in enumerate(uploads)]
        batches = []
        for start in range(0, len(uploads), size):
            names = keys[start:start + size]
            files = [(key, upload.data, file_mime(upload.data))
                     for key, upload in zip(names, uploads[start:start + size], strict=True)]
            batches.append(BatchRecord(self.client.submit_embed(project, files), names))

        record = EmbedRecord(
            uuid=str(uuidlib.uuid4()), project=project,
            filenames=[upload.filename for upload in uploads], batches=batches,
            deadline_at=time.time() + self.settings.fastvss_job_deadline,
            tator_project_id=tator_project_id,
        )
        self.store.create(record, self._pending_ttl(record))
        logger.info("Embed request %s: %d images in %d Fast-VSS jobs submitted in %.2f s",
                    record.uuid, len(uploads), len(batches), time.monotonic() - started)
        self._start_collector(record.uuid)
        return record

    def status(self, uuid: str) -> EmbedRecord | None:
        """The stored record; resumes collecting a pending one that nobody collects."""
        record = self.store.load(uuid)
        if record is not None and record.status is EmbedStatus.PENDING:
            self._start_collector(uuid)
        return record

    def close(self, timeout: float = 2.0) -> None:
        """Stops this process's collectors and gives up their leases (others resume)."""
        self._stopping.set()
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout)

    def _pending_ttl(self, record: EmbedRecord) -> int:
        """How long a pending record must live: to its deadline, then the result TTL."""
        remaining = max(0.0, record.deadline_at - time.time())
        return int(remaining) + self.settings.embed_result_ttl

    def _start_collector(self, uuid: str) -> None:
        """Starts a collector thread if this process can take the record's lease."""
        if self._stopping.is_set():
            return
        owner = f"{self._owner_prefix}:{uuidlib.uuid4().hex}"
        if not self.store.claim(uuid, owner, self.lease):
            return

        thread = threading.Thread(
            target=self._collect, args=(uuid, owner), name=f"embed-{uuid[:8]}", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def _collect(self, uuid: str, owner: str) -> None:
        """Thread body: polls the record's unfinished jobs until the record is settled."""
        try:
            record = self.store.load(uuid)
            if record is not None and record.status is EmbedStatus.PENDING:
                self._collect_record(record, owner)
        except redis.RedisError as exc:
            logger.error("Collecting embed request %s stopped, Redis failed: %s", uuid, exc)
        finally:
            self.store.release(uuid, owner)
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def _collect_record(self, record: EmbedRecord, owner: str) -> None:
        """Polls until every job finished, one failed, the deadline passed, or we stop."""
        watches = {batch.job_id: JobWatch(batch.job_id, batch.names)
                   for batch in record.batches if batch.vectors is None}
        logger.info("Collecting embed request %s: %d of %d Fast-VSS jobs to go",
                    record.uuid, len(watches), len(record.batches))

        while watches and not self._stopping.is_set():
            if time.time() > record.deadline_at:
                self._settle(record, owner, f"Fast-VSS did not finish within "
                             f"{self.settings.fastvss_job_deadline:g} s")
                return
            for job_id, watch in list(watches.items()):
                if not self.store.renew(record.uuid, owner, self.lease):
                    logger.warning("Lost the lease of embed request %s", record.uuid)
                    return
                try:
                    finished = self._poll_batch(record, watch)
                except _RequestFailed as exc:
                    self._settle(record, owner, str(exc))
                    return
                if finished:
                    del watches[job_id]
                    self.store.save(record, owner, self._pending_ttl(record))
            self._stopping.wait(self.settings.fastvss_poll_interval)

        if not watches:
            self._settle(record, owner, None)

    def _poll_batch(self, record: EmbedRecord, watch: JobWatch) -> bool:
        """Polls one job; stores its vectors in ``record`` when done.

        Returns:
            Whether the job finished.

        Raises:
            _RequestFailed: the job failed, or its result has no usable vector for a file.
        """
        number = next(index for index, batch in enumerate(record.batches, 1)
                      if batch.job_id == watch.job_id)
        state = self.client.watch(record.project, watch)
        if state.status is JobStatus.PENDING:
            return False
        if state.status is JobStatus.FAILED:
            raise _RequestFailed(
                f"Fast-VSS job {number} of {len(record.batches)} failed: {state.error}")

        result = state.result or {}
        if record.dimension is None:
            record.dimension = result_dimension(result)
        try:
            checked = check_vectors(watch.names, result, record.dimension or 0)
        except FastVSSError as exc:
            raise _RequestFailed(str(exc)) from exc
        if checked.rejected:
            raise _RequestFailed("no usable vector from Fast-VSS for " + "; ".join(
                f"{self._upload_name(record, key)}: {reason}"
                for key, reason in checked.rejected.items()))

        batch = record.batches[number - 1]
        batch.vectors = [checked.vectors[name] for name in batch.names]
        return True

    @staticmethod
    def _upload_name(record: EmbedRecord, key: str) -> str:
        """The uploaded file name behind a key sent to Fast-VSS."""
        return record.filenames[int(key.split("-", 1)[0])]

    def _settle(self, record: EmbedRecord, owner: str, error: str | None) -> None:
        """Writes the final state: completed when ``error`` is None, failed otherwise."""
        record.status = EmbedStatus.COMPLETED if error is None else EmbedStatus.FAILED
        record.error = error
        if not self.store.save(record, owner, self.settings.embed_result_ttl):
            logger.warning("Embed request %s settled elsewhere; not overwritten", record.uuid)
            return
        if error is None:
            logger.info("Embed request %s completed: %d vectors",
                        record.uuid, len(record.filenames))
        else:
            logger.error("Embed request %s failed: %s", record.uuid, error)
