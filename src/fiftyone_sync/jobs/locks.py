"""One lock per dataset (project, version), so its pull, push and embedding jobs never overlap.

The lock is a Redis key holding its owner's token (the job id) with a TTL. While the job
runs, a heartbeat thread in the same process renews the TTL; if the process dies, the
heartbeat stops and the lock expires by itself after ``ttl`` seconds. Renewal and release
are compare-and-set Lua scripts: a process only ever extends or deletes a lock it owns, and
nothing deletes locks wholesale (a worker starting up leaves other workers' locks alone).

Policy for a second job on a busy dataset: it waits (polling, its record stays ``queued``
with a phase naming the holder) for up to ``Settings.job_lock_wait`` seconds, then fails
with a message saying which job held the dataset. Waiting occupies that worker; run more
workers than the number of datasets expected to be busy at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

from fiftyone_sync.jobs.store import KEY_PREFIX

logger = logging.getLogger(__name__)

_RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

POLL_SECONDS = 0.5


class LockTimeout(Exception):
    """The dataset stayed locked by another job for longer than the wait allows."""


def lock_key(database: str, project_id: int, version_id: int) -> str:
    """The Redis key of the lock on one dataset: its database, project and version.

    The database is part of the dataset's identity, so deployments (or test runs) that share
    one Redis but not their databases never wait on each other's locks.
    """
    return f"{KEY_PREFIX}lock:dataset:{database}:p{project_id}:v{version_id}"


class DatasetLock:
    """The lock on one dataset, as seen by one would-be owner.

    Args:
        client: a Redis client created with ``decode_responses=True``.
        database: the dataset's MongoDB database.
        project_id: the dataset's project.
        version_id: the dataset's version.
        owner: this owner's token (the job id).
        ttl: seconds the lock outlives its last heartbeat.
    """

    def __init__(self, client: redis.Redis, database: str, project_id: int, version_id: int,
                 owner: str, ttl: float) -> None:
        self.key = lock_key(database, project_id, version_id)
        self.owner = owner
        self._redis = client
        self._ttl_ms = max(int(ttl * 1000), 100)
        self._renew = client.register_script(_RENEW_SCRIPT)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = threading.Event()

    def holder(self) -> str | None:
        """The token of whoever holds the lock now, or None."""
        return self._redis.get(self.key)

    def try_acquire(self) -> bool:
        """Takes the lock if it is free (or already ours)."""
        if self._redis.set(self.key, self.owner, nx=True, px=self._ttl_ms):
            return True
        return self.holder() == self.owner

    def acquire(self, wait: float, on_wait: Callable[[str], None],
                should_stop: Callable[[], bool]) -> bool:
        """Takes the lock, waiting up to ``wait`` seconds while another job holds it.

        Args:
            wait: the longest time to wait, in seconds.
            on_wait: called with the holder's token whenever the holder changes.
            should_stop: polled while waiting; true gives up (returns False).

        Raises:
            LockTimeout: the lock stayed busy for ``wait`` seconds.
        """
        deadline = time.monotonic() + wait
        seen: str | None = None
        while not self.try_acquire():
            holder = self.holder()
            if holder and holder != seen:
                seen = holder
                on_wait(holder)
            if should_stop():
                return False
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"the dataset stayed locked by job {seen} for {wait:.0f} s; try again later")
            time.sleep(POLL_SECONDS)
        return True

    def start_heartbeat(self) -> None:
        """Renews the lock in a daemon thread every third of its TTL until :meth:`release`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="dataset-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = self._ttl_ms / 3000
        while not self._stop.wait(interval):
            try:
                renewed = self._renew(keys=[self.key], args=[self.owner, self._ttl_ms])
            except redis.RedisError as exc:
                logger.warning("Could not renew the lock %s: %s", self.key, exc)
                continue
            if not renewed:
                logger.error("Lost the lock %s (it expired or was taken)", self.key)
                self.lost.set()
                return

    def release(self) -> bool:
        """Stops the heartbeat and deletes the lock if this owner still holds it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return release_if_owner(self._redis, self.key, self.owner)


def release_if_owner(client: redis.Redis, key: str, owner: str) -> bool:
    """Deletes lock ``key`` only if ``owner`` holds it; True if it did."""
    script = client.register_script(_RELEASE_SCRIPT)
    return bool(script(keys=[key], args=[owner]))
