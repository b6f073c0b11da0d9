"""The App manager: one FiftyOne App server per server key, shared by every process of a host.

Its unit is a *server key*. Today the key is the project id, so each Tator project has one
App server on ``app_base_port + project_id`` against the project's database; a server per
(project, reviewer) can follow by changing :func:`server_key` and the port choice only.

* :meth:`AppManager.ensure` starts a server (or finds the running one), restarts one that
  died or that serves another database, and waits until it answers a GraphQL query.
* :meth:`AppManager.reap_idle` stops servers with no request through the access path for
  ``app_idle_timeout`` seconds; :class:`IdleReaper` runs it periodically in the API process.
* Nothing is ever signalled unless its recorded pid still runs the recorded App server; a
  port held by anything else is an :class:`AppPortBusy` error and the holder is left alone.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fiftyone_sync import naming
from fiftyone_sync.apps import process
from fiftyone_sync.apps.records import AppRecord, RecordStore
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

TOUCH_INTERVAL = 5.0
"""Seconds one process waits between two access stamps of one server (less when the idle
timeout is short, see :meth:`AppManager.touch`)."""
PORT_RELEASE_GRACE = 5.0
"""Seconds a replaced server's port may take to be released by the kernel."""


class AppError(RuntimeError):
    """An App server could not be started or stopped; the message says why."""


class AppPortBusy(AppError):
    """The project's port is held by a process the manager did not start."""

    def __init__(self, port: int, holder: str) -> None:
        super().__init__(
            f"port {port} is already in use by {holder}, not by an App server this service "
            "started; free the port or change FIFTYONE_SYNC_APP_BASE_PORT")
        self.port = port


class AppStartError(AppError):
    """The App server exited or did not answer in time.

    The message is fit for any user (``/launch`` returns it); ``log_tail``, the server's
    last log lines with server paths in them, is for operators only (logs and the CLI).
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclasses.dataclass(frozen=True)
class AppStatus:
    """A recorded App server and what is known about it now."""

    record: AppRecord
    running: bool
    last_access: float | None


@dataclasses.dataclass(frozen=True)
class EnsureResult:
    """What :meth:`AppManager.ensure` did.

    Attributes:
        record: the running server.
        started: a new process was started by this call.
        restarted: a recorded server was replaced (it had died, stopped answering, or served
            another database).
        reason: why it was restarted, for logs and responses.
    """

    record: AppRecord
    started: bool
    restarted: bool
    reason: str | None = None


def server_key(project_id: int) -> str:
    """The server key of a project's App server."""
    return str(naming.validate_project_id(project_id))


class AppManager:
    """Starts, finds and stops App servers recorded under ``settings.state_dir``.

    Args:
        settings: the deployment's settings (ports, timeouts, data dir).
        mongo_uri: returns the deployment's MongoDB URI; called only when a server starts.
    """

    def __init__(self, settings: Settings, mongo_uri: Callable[[], str]) -> None:
        self.settings = settings
        self.records = RecordStore(settings.state_dir / "apps")
        self._mongo_uri = mongo_uri
        self._touched: dict[str, float] = {}
        self._touch_lock = threading.Lock()

    def ensure(self, project_id: int, database: str) -> EnsureResult:
        """Makes sure the project's App server runs on its port against ``database``.

        A launch counts as an access, so the idle clock restarts here.

        Raises:
            AppPortBusy: the port is held by a process the manager did not start.
            AppStartError: the server exited on start or did not answer within
                ``app_start_timeout`` seconds.
        """
        key = server_key(project_id)
        with self.records.locked(key):
            record = self.records.read(key)
            reason = self._replacement_reason(record, database)
            if record is not None and reason is None:
                self.records.stamp_access(key)
                return EnsureResult(record, started=False, restarted=False)

            if record is not None:
                logger.info("restarting App %s on port %d: %s", key, record.port, reason)
                self._stop_locked(record)
            started = self._start_locked(key, int(key), database, replacing=record is not None)
            return EnsureResult(started, True, record is not None, reason)

    def stop(self, project_id: int) -> AppRecord | None:
        """Stops the project's App server; returns its record if one was running."""
        key = server_key(project_id)
        with self.records.locked(key):
            record = self.records.read(key)
            if record is None:
                return None
            return record if self._stop_locked(record) else None

    def stop_all(self) -> list[AppRecord]:
        """Stops every recorded App server; returns those that were running."""
        return [record for key in self.records.recorded_keys()
                if (record := self.stop(int(key))) is not None]

    def list(self) -> list[AppStatus]:
        """Every recorded App server with its liveness and last access time."""
        statuses = []
        for key in self.records.recorded_keys():
            record = self.records.read(key)
            if record is not None:
                running = process.is_app_process(
                    record.pid, record.port, record.process_started_at)
                statuses.append(AppStatus(record, running, self.records.last_access(key)))
        return statuses

    def touch(self, project_id: int) -> None:
        """Records a request through the access path; cheap, at most every few seconds.

        A process stamps a server at most once per :data:`TOUCH_INTERVAL`, or per quarter of
        ``app_idle_timeout`` when that is shorter: a server in use must never look idle.
        """
        key = server_key(project_id)
        now = time.monotonic()
        interval = TOUCH_INTERVAL
        if self.settings.app_idle_timeout > 0:
            interval = min(interval, self.settings.app_idle_timeout / 4)
        with self._touch_lock:
            if now - self._touched.get(key, float("-inf")) < interval:
                return
            self._touched[key] = now
        self.records.stamp_access(key)

    def reap_idle(self, now: float | None = None) -> list[AppRecord]:
        """Stops servers idle longer than ``app_idle_timeout``; returns those stopped."""
        timeout = self.settings.app_idle_timeout
        if timeout <= 0:
            return []

        moment = time.time() if now is None else now
        stopped = []
        for key in self.records.recorded_keys():
            with self.records.locked(key):
                record = self.records.read(key)
                last = self.records.last_access(key)
                if record is None or moment - (last or record.started_at) <= timeout:
                    continue
                logger.info("stopping App %s on port %d: idle for %.0f s",
                            key, record.port, moment - (last or record.started_at))
                if self._stop_locked(record):
                    stopped.append(record)
        return stopped

    def _replacement_reason(self, record: AppRecord | None, database: str) -> str | None:
        """Why a recorded server cannot be reused as is (``None``: it can)."""
        if record is None:
            return "not running"
        if not process.is_app_process(record.pid, record.port, record.process_started_at):
            return f"pid {record.pid} is no longer running"
        if record.database_name != database:
            return f"database {record.database_name!r} was running, {database!r} was asked for"

        try:
            process.query_datasets(record.address, record.port)
        except process.AppHealthError as error:
            return f"it stopped answering ({error})"
        return None

    def _start_locked(self, key: str, project_id: int, database: str,
                      replacing: bool = False) -> AppRecord:
        """Starts the server and waits for it; the caller holds ``key``'s lock.

        When ``replacing`` a server of ours that just stopped or died, the kernel may still
        show its listening socket for a moment, so the port gets a short grace period.
        """
        port = naming.app_port(project_id, self.settings.app_base_port)
        address = self.settings.app_address
        grace = time.monotonic() + (PORT_RELEASE_GRACE if replacing else 0.0)
        while process.port_in_use(port, address):
            if time.monotonic() >= grace:
                raise AppPortBusy(port, process.describe_listener(port))
            time.sleep(0.1)

        log_path = self.records.log_path(key)
        began = time.monotonic()
        pid = process.spawn(port, address, self._mongo_uri(), database, log_path,
                            process.plugin_environment(self.settings, project_id))
        record = AppRecord(key, project_id, pid, port, address, database, time.time(),
                           process.process_start_time(pid), str(log_path))
        self.records.write(record)
        self.records.stamp_access(key)

        self._wait_until_ready(record)
        self.records.stamp_access(key)
        logger.info("App %s ready on port %d (database %s, pid %d) after %.1f s",
                    key, port, database, pid, time.monotonic() - began)
        return record

    def _wait_until_ready(self, record: AppRecord) -> None:
        """Polls the server's GraphQL API until it answers, it exits, or time runs out."""
        deadline = time.monotonic() + self.settings.app_start_timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if not process.is_running(record.pid):
                self.records.delete(record.key)
                raise self._start_failure(record, "exited while starting")
            try:
                process.query_datasets(record.address, record.port, timeout=2.0)
                return
            except process.AppHealthError as error:
                last_error = str(error)
            time.sleep(0.25)

        self._stop_locked(record)
        raise self._start_failure(
            record, f"did not answer within {self.settings.app_start_timeout:.0f} s "
            f"({last_error})")

    def _start_failure(self, record: AppRecord, what: str) -> AppError:
        """The error for a server that failed to start, naming its port; the tail is logged."""
        tail = process.log_tail(Path(record.log_path))
        if "address already in use" in tail.lower():
            return AppPortBusy(record.port, process.describe_listener(record.port))
        logger.error("App %s on port %d %s; log tail:\n%s", record.key, record.port, what, tail)
        return AppStartError(
            f"the App server for project {record.project_id} on port {record.port} {what}; "
            "its log is on the server", tail)

    def _stop_locked(self, record: AppRecord) -> bool:
        """Stops ``record``'s server if it is still ours; clears the record either way."""
        ours = process.is_app_process(record.pid, record.port, record.process_started_at)
        if ours:
            process.terminate(record.pid)
            logger.info("stopped App %s (pid %d, port %d)", record.key, record.pid, record.port)
        else:
            logger.info("App %s pid %d was no longer running; clearing its record",
                        record.key, record.pid)
        self.records.delete(record.key)
        with self._touch_lock:
            self._touched.pop(record.key, None)
        return ours


class IdleReaper:
    """A daemon thread that calls :meth:`AppManager.reap_idle` every ``interval`` seconds.

    Args:
        manager: the manager whose servers it watches.
        interval: seconds between two checks.
    """

    def __init__(self, manager: AppManager, interval: float) -> None:
        self._manager = manager
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="app-idle-reaper", daemon=True)

    def start(self) -> None:
        """Starts checking."""
        self._thread.start()

    def stop(self) -> None:
        """Stops checking and waits for the thread."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 30)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self._manager.reap_idle()
            except (AppError, OSError) as error:
                logger.error("idle App check failed: %s", error)


def stop_all(settings: Settings) -> list[AppRecord]:
    """Stops every App server recorded in ``settings``' data dir (for ``fiftyone-sync stop``).

    Starts no store: stopping needs no MongoDB URI.
    """
    def no_uri() -> str:
        raise AppError("stopping App servers never needs the MongoDB URI")

    return AppManager(settings, no_uri).stop_all()
