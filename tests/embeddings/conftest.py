"""Helpers for the Fast-VSS client and ``/embed`` tests: images, API servers, polling."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from tests.fixtures.fastvss import FastVSSEmulator
from tests.fixtures.net import free_port


def png(seed: int, size: tuple[int, int] = (24, 18)) -> bytes:
    """A PNG of random pixels, different for every seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


class ApiServer:
    """``create_app(settings)`` served by uvicorn in a thread on a free port."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        """Starts serving; returns once the server accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "API did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stops serving and waits for the thread (and the app's shutdown) to end."""
        self._server.should_exit = True
        self._thread.join(timeout=15)


def wait_for_result(url: str, uuid: str, timeout: float = 30.0) -> dict:
    """Polls ``GET {url}/embed/{uuid}`` until it is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{url}/embed/{uuid}", timeout=10).json()
        if body["status"] != "pending":
            return body
        assert time.monotonic() < deadline, f"embed request {uuid} still pending"
        time.sleep(0.1)


def upload(url: str, project: str, images: list[tuple[str, bytes]]) -> httpx.Response:
    """``POST {url}/embed`` with the images as multipart ``files``."""
    files = [("files", (name, data, "image/png")) for name, data in images]
    return httpx.post(f"{url}/embed", data={"project": project}, files=files, timeout=30)


@pytest.fixture
def api_settings(
    redis_url: str, fastvss_emulator: FastVSSEmulator, tmp_path: Path
) -> Settings:
    """Settings pointing at the session Redis and this test's emulator, with short timers."""
    return Settings(
        redis_url=redis_url, fastvss_api_url=fastvss_emulator.url, data_dir=tmp_path,
        fastvss_timeout=1.0, fastvss_poll_interval=0.05, fastvss_idle_timeout=2.0,
        fastvss_job_deadline=60.0, embed_collector_lease=1.0, embed_max_files=100,
        embed_max_file_bytes=200_000,
    )


@pytest.fixture
def start_api() -> Iterator[Callable[[Settings], ApiServer]]:
    """Starts API servers on demand; stops every one still running after the test."""
    servers: list[ApiServer] = []

    def start(settings: Settings) -> ApiServer:
        server = ApiServer(settings).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api(api_settings: Settings, start_api: Callable[[Settings], ApiServer]) -> ApiServer:
    """One API server for this test."""
    return start_api(api_settings)
