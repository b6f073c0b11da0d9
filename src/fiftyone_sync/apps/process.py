"""Starting, probing and stopping one FiftyOne App server process.

The server is ``python -m fiftyone.server.main`` in its own session (so it outlives the API
process that started it and can be signalled as a group), with the project's MongoDB URI and
database name set explicitly in its environment rather than inherited. Nothing here signals
a process unless :func:`is_app_process` confirms it is the App server that was recorded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from fiftyone_sync.auth.access import plugin_secret
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

SERVER_MODULE = "fiftyone.server.main"
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 20
HEALTH_QUERY = "{ datasets(first: 1000, search: \"\") { edges { node { name } } } }"
_START_TIME_TOLERANCE = 1.0
PLUGINS_DIR = Path(__file__).resolve().parents[1] / "plugin"
"""The packaged FiftyOne plugins (``plugin/tator``), enabled on every App server."""


class AppHealthError(RuntimeError):
    """The App server answered its health query badly (or not at all)."""


def spawn(port: int, address: str, mongo_uri: str, database: str, log_path: Path,
          extra_env: dict[str, str] | None = None) -> int:
    """Starts an App server detached from this process; returns its pid.

    Args:
        port: the port to bind.
        address: the address to bind (loopback unless the operator chose direct mode).
        mongo_uri: the deployment's MongoDB URI (passed in the environment, never logged).
        database: the project's database name.
        log_path: the file that receives the server's stdout and stderr (truncated).
        extra_env: more environment (the Tator plugin's, see :func:`plugin_environment`).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", SERVER_MODULE, "--port", str(port), "--address", address]

    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env={**_server_environment(mongo_uri, database), **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent, start_new_session=True,
        )
    return process.pid


def _server_environment(mongo_uri: str, database: str) -> dict[str, str]:
    """This process's environment without any ``FIFTYONE_*`` setting, plus the project's."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("FIFTYONE_")}
    environment.update({
        "FIFTYONE_DATABASE_URI": mongo_uri,
        "FIFTYONE_DATABASE_NAME": database,
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_DATABASE_VALIDATION": "false",
    })
    return environment


def plugin_environment(settings: Settings, project_id: int) -> dict[str, str]:
    """What the packaged Tator plugin needs in a project's App server.

    The plugin directory, our API's address (the public URL, which the App host reaches),
    the project the server belongs to, and the key that checks the proxy's grants
    (derived from the secret key; it cannot sign access cookies).
    """
    return {
        "FIFTYONE_PLUGINS_DIR": str(PLUGINS_DIR),
        "FIFTYONE_SYNC_API_URL": settings.public_url,
        "FIFTYONE_SYNC_PROJECT_ID": str(project_id),
        "FIFTYONE_SYNC_PLUGIN_KEY": plugin_secret(settings.resolved_secret_key()),
    }


def process_start_time(pid: int) -> float:
    """The kernel's creation time of ``pid`` (0.0 when it is gone)."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie; reaps it if it is our own dead child."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_app_process(pid: int, port: int, started: float) -> bool:
    """Whether ``pid`` is still the App server recorded with this port and start time.

    A recycled pid has another creation time or command line, so it is never signalled.
    """
    if not is_running(pid):
        return False

    try:
        process = psutil.Process(pid)
        command = process.cmdline()
        created = process.create_time()
    except psutil.Error:
        return False

    serves_port = "--port" in command and str(port) in command
    return (SERVER_MODULE in command and serves_port
            and abs(created - started) <= _START_TIME_TOLERANCE)


def terminate(pid: int) -> None:
    """SIGTERM to the server's process group, SIGKILL after :data:`STOP_TIMEOUT`.

    The caller has verified with :func:`is_app_process` that ``pid`` is ours.
    """
    _signal_group(pid, signal.SIGTERM)

    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and is_running(pid):
        time.sleep(0.1)

    if is_running(pid):
        logger.warning("App server pid %d ignored SIGTERM for %.0f s; killing it",
                       pid, STOP_TIMEOUT)
        _signal_group(pid, signal.SIGKILL)
        while is_running(pid):
            time.sleep(0.1)


def _signal_group(pid: int, signum: int) -> None:
    """Signals the group the server leads (it was started in its own session)."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signum)


def query_datasets(host: str, port: int, timeout: float = 5.0) -> list[str]:
    """The dataset names the App server lists, via its GraphQL API (which touches MongoDB).

    Raises:
        AppHealthError: the server did not answer, or answered with an error.
    """
    url = f"http://{connect_host(host)}:{port}/graphql"
    try:
        response = httpx.post(url, json={"query": HEALTH_QUERY}, timeout=timeout)
    except httpx.HTTPError as error:
        raise AppHealthError(f"no answer on port {port}: {type(error).__name__}") from None

    if response.status_code != 200:
        raise AppHealthError(f"GraphQL on port {port} answered HTTP {response.status_code}")
    body = response.json()
    if body.get("errors"):
        raise AppHealthError(f"GraphQL on port {port} failed: {body['errors'][0]}")
    return [edge["node"]["name"] for edge in body["data"]["datasets"]["edges"]]


def connect_host(address: str) -> str:
    """Where to connect to reach a server bound to ``address``."""
    return "127.0.0.1" if address in ("0.0.0.0", "") else address


def port_in_use(port: int, address: str) -> bool:
    """Whether something accepts connections on ``port`` at ``address`` (or loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((connect_host(address), port)) == 0


def describe_listener(port: int) -> str:
    """A short description of the process listening on ``port``, when the OS tells us."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return "another process"

    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            if connection.pid is None:
                return "another process"
            try:
                name = psutil.Process(connection.pid).name()
            except psutil.Error:
                name = "?"
            return f"pid {connection.pid} ({name})"
    return "another process"


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a server log, for error messages."""
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
