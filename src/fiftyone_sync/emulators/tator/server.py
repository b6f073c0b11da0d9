"""Running the Tator emulator: uvicorn in a background thread (tests) or in the foreground.

tator-py opens a second connection for a file download while its session is open, so the
emulator must serve several connections at once; uvicorn's event loop plus the thread pool
for handlers does. :class:`EmulatorServer` is what the pytest fixtures and the CLI use.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from . import demo
from .app import Emulator, create_app
from .faults import CallCounter, FaultInjector
from .fixtures import load_fixture, load_fixture_file
from .store import Store

logger = logging.getLogger(__name__)


class EmulatorStartError(RuntimeError):
    """The emulator did not start listening in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EmulatorServer:
    """One emulator served by uvicorn in a daemon thread.

    Args:
        store: what to serve (replaceable later with :meth:`replace_store`).
        host: interface to bind.
        port: port to bind; 0 picks a free one.
    """

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.app = create_app(store)
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, host=host, port=self.port, log_level="warning", access_log=False,
            lifespan="off", timeout_keep_alive=30))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, as tator-py wants it."""
        return f"http://{self.host}:{self.port}"

    @property
    def emulator(self) -> Emulator:
        """The app's state: store, faults and call counters."""
        return self.app.state.emulator

    @property
    def store(self) -> Store:
        """The store being served."""
        return self.emulator.store

    @property
    def faults(self) -> FaultInjector:
        """Fault injection for this server."""
        return self.emulator.faults

    @property
    def call_counter(self) -> CallCounter:
        """Per-operation call counts."""
        return self.emulator.calls

    @property
    def calls(self) -> dict[str, int]:
        """Operation id → requests so far (a snapshot)."""
        return self.emulator.calls.snapshot()

    def reset_calls(self) -> None:
        """Zeroes the call counters."""
        self.emulator.calls.reset()

    def replace_store(self, store: Store) -> None:
        """Serves ``store`` from now on."""
        self.emulator.replace_store(store)

    def start(self, timeout: float = 15.0) -> EmulatorServer:
        """Starts serving in a daemon thread and waits until the port accepts connections."""
        started = time.monotonic()
        self._thread = threading.Thread(target=self._server.run, name="tator-emulator",
                                        daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() - started > timeout:
                raise EmulatorStartError(f"Tator emulator did not start on {self.url}")
            time.sleep(0.02)
        logger.info("Tator emulator listening on %s (%.2f s)", self.url,
                    time.monotonic() - started)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the server and waits for its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_forever(store: Store, host: str, port: int) -> None:
    """Serves ``store`` in the foreground until interrupted (the CLI command)."""
    uvicorn.run(create_app(store), host=host, port=port, log_level="info")


def store_from_options(fixture: str | None, data: Path | None, media_dir: Path) -> Store:
    """The store the CLI serves: a folder of labelled images, a fixture file, or the demo."""
    if data is not None:
        return load_fixture(demo.folder_fixture(data))
    if fixture in (None, "demo"):
        return load_fixture(demo.plankton_fixture(media_dir, images=12))
    return load_fixture_file(fixture)
