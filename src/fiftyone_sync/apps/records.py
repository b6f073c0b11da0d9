"""What the App manager started, recorded on disk so every process of the host sees it.

Each App server has a JSON record (``state_dir/apps/{key}.json``, written atomically), a lock
file taken around every start and stop (so two processes never start two servers for one
key), a log file, and an access stamp: an empty file whose modification time is the last
request that went through the access path. Stamping is a single ``utime`` call, so the proxy
can do it on every request without rewriting the record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AppRecord:
    """One App server the manager started.

    Attributes:
        key: the server key; today the project id as a string.
        project_id: the Tator project the server shows.
        pid: the server's process id (also its process group id).
        port: the port it listens on.
        address: the address it is bound to.
        database_name: the MongoDB database it reads.
        started_at: Unix time of the start.
        process_started_at: the process's creation time per the kernel (guards pid reuse).
        log_path: where its stdout and stderr go.
    """

    key: str
    project_id: int
    pid: int
    port: int
    address: str
    database_name: str
    started_at: float
    process_started_at: float
    log_path: str


class RecordStore:
    """The App records of one data dir.

    Args:
        directory: where records, locks, logs and access stamps live.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def read(self, key: str) -> AppRecord | None:
        """The record of ``key``, or ``None`` when there is none or it is unreadable."""
        path = self._path(key, "json")
        try:
            data = json.loads(path.read_text())
            return AppRecord(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            logger.warning("ignoring unreadable App record %s: %s", path, error)
            return None

    def write(self, record: AppRecord) -> None:
        """Writes ``record`` atomically (a temporary file, then a rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record.key, "json")
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(dataclasses.asdict(record), indent=2))
        temporary.replace(path)

    def delete(self, key: str) -> None:
        """Removes the record and the access stamp of ``key``."""
        self._path(key, "json").unlink(missing_ok=True)
        self._path(key, "access").unlink(missing_ok=True)

    def recorded_keys(self) -> list[str]:
        """The keys that have a record, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(path.stem for path in self.directory.glob("*.json"))

    def log_path(self, key: str) -> Path:
        """The log file of ``key``'s server."""
        return self._path(key, "log")

    def stamp_access(self, key: str, when: float | None = None) -> None:
        """Records a request through the access path for ``key`` (now, unless ``when``)."""
        path = self._path(key, "access")
        moment = time.time() if when is None else when
        try:
            os.utime(path, (moment, moment))
        except FileNotFoundError:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.touch()
            os.utime(path, (moment, moment))

    def last_access(self, key: str) -> float | None:
        """Unix time of the last request through the access path, if any was stamped."""
        try:
            return self._path(key, "access").stat().st_mtime
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Holds ``key``'s exclusive lock across every process of this host."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self._path(key, "lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _path(self, key: str, suffix: str) -> Path:
        return self.directory / f"{key}.{suffix}"
