"""Serves the Fast-VSS emulator with uvicorn in a background thread (tests, demo, CLI)."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from fiftyone_sync.emulators.fastvss.app import create_emulator_app
from fiftyone_sync.emulators.fastvss.state import EmulatorState

logger = logging.getLogger(__name__)


class EmulatorStartError(RuntimeError):
    """The emulator's server did not come up (port taken, or it crashed while starting)."""


class EmulatorServer:
    """One emulator served on ``host:port`` by uvicorn in a daemon thread.

    Stopping it leaves ``state`` intact, so :meth:`start` again brings back the same
    emulator (a Fast-VSS that was down for a while).

    Args:
        state: the emulator's projects, jobs and knobs.
        port: the TCP port to listen on.
        host: the address to bind.
    """

    def __init__(self, state: EmulatorState, port: int, host: str = "127.0.0.1") -> None:
        self.state = state
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients use, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 15.0) -> None:
        """Starts serving and returns once the server accepts connections.

        Raises:
            EmulatorStartError: when the server did not start within ``timeout`` seconds.
        """
        config = uvicorn.Config(
            create_emulator_app(self.state), host=self.host, port=self.port,
            log_level="warning", lifespan="off", timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name=f"fastvss-emulator-{self.port}", daemon=True)
        self._thread.start()

        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise EmulatorStartError(f"Fast-VSS emulator did not start on {self.url}")
            time.sleep(0.02)
        logger.info("Fast-VSS emulator serving on %s", self.url)

    def stop(self) -> None:
        """Stops serving (open requests get about a second) and waits for the thread."""
        if self._server is None or self._thread is None:
            return

        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        logger.info("Fast-VSS emulator on port %d stopped", self.port)
