"""Fixtures for the applet's browser tests: the whole product on real sockets.

One environment per module (it is slow to start): the API in a thread of the test process,
a ``fiftyone-sync worker`` subprocess, a Fast-VSS emulator, the session's Tator emulator,
MongoDB and Redis, and a tiny page server that plays Tator's part. The page server runs on
``localhost`` while the API is reached as ``127.0.0.1``, so every call the page makes is
cross-origin as in production (Tator shows the applet in a ``srcdoc`` iframe with its own
origin), and the API's ``cors_origins`` lists the page's origin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import http.server
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jinja2
import pytest
import redis
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from fiftyone_sync.api.app import create_app
from fiftyone_sync.emulators.fastvss import EmulatorServer as FastVSSServer
from fiftyone_sync.emulators.fastvss import EmulatorState as FastVSSState
from fiftyone_sync.emulators.tator.server import EmulatorServer as TatorServer
from fiftyone_sync.jobs.store import project_index_key
from fiftyone_sync.settings import Settings
from tests.fixtures.net import free_port, port_open, wait_until
from tests.jobs.helpers import CLI, REPO, worker_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "applet"
LISTING_PAGE_SIZE = 2
"""Small listing pages make a pull take several Tator calls, so latency faults slow it."""


class PageServer:
    """Serves Tator's side: the rendered applet at ``/`` and a Tator-like frame page.

    ``/`` is the rendered template itself; ``/tator`` is a page that shows it the way Tator
    does, in an iframe through ``srcdoc`` (narrow, like a side panel).
    """

    def __init__(self) -> None:
        self.rendered = "<p>nothing rendered yet</p>"
        pages = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.body_for(self.path).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                """Silent."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        """The page's origin: ``localhost``, a different host from the API's."""
        return f"http://localhost:{self._server.server_address[1]}"

    def body_for(self, path: str) -> str:
        """The page served at ``path``."""
        if path.startswith("/tator"):
            return ("<!doctype html><html><body style='margin:0;background:#111'>"
                    "<h1 style='color:#ccc;font:16px sans-serif'>Tator (stand-in)</h1>"
                    f'<iframe id="applet" title="FiftyOne applet" srcdoc="'
                    f'{html.escape(self.rendered, quote=True)}" '
                    "style='width:360px;height:1400px;border:1px solid #444'></iframe>"
                    "</body></html>")
        return self.rendered

    def stop(self) -> None:
        """Stops serving."""
        self._server.shutdown()
        self._server.server_close()


class ApiThread:
    """The API served by uvicorn in a thread of the test process."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.port = port
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: port_open(port), what="the API")

    def stop(self) -> None:
        """Stops serving and stops every App server the API started."""
        self._server.should_exit = True
        self._thread.join(timeout=30)
        manager = getattr(self.app.state, "app_manager", None)
        if manager is not None:
            manager.stop_all()


class AppletWorker:
    """A ``fiftyone-sync worker`` subprocess with the applet environment's settings."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        env = {**worker_env(settings),
               "FASTVSS_API_URL": settings.fastvss_api_url,
               "FIFTYONE_SYNC_FASTVSS_PROJECT_MAP": "1=testproject",
               "FIFTYONE_SYNC_LISTING_PAGE_SIZE": str(settings.listing_page_size),
               "FIFTYONE_SYNC_EMBED_MAP_METHOD": settings.embed_map_method,
               "FIFTYONE_SYNC_EMBED_AFTER_PULL": str(settings.embed_after_pull).lower(),
               "FIFTYONE_SYNC_DOWNLOAD_CONCURRENCY": str(settings.download_concurrency)}
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen([str(CLI), "worker"], env=env, cwd=REPO,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        """Everything the worker wrote so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stops the worker: a warm shutdown, then a cold one, then a kill.

        A job still running at the end of a module (often the embedding job a pull queued)
        is of no use to anyone: after a short wait a second SIGTERM makes RQ kill its
        work-horse, instead of the teardown waiting for the job to finish.
        """
        for signum, wait in ((signal.SIGTERM, 3), (signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            if self.process.poll() is not None:
                break
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()


@dataclasses.dataclass
class AppletEnv:
    """Everything a browser test drives: the page server, the API and their settings."""

    pages: PageServer
    api_url: str
    settings: Settings
    worker: AppletWorker
    tator: TatorServer

    def render(self, **tparams: str) -> str:
        """Fetches ``/render`` and renders it as Tator does; the page server serves it."""
        template = httpx.get(f"{self.api_url}/render", timeout=10).text
        self.pages.rendered = jinja2.Template(template).render(**tparams)
        return self.pages.origin + "/"

    def tparams(self, **overrides: str) -> dict[str, str]:
        """The tparams a correct registration of project 1 gives."""
        return {"project": "1", "sync_service_url": self.api_url, **overrides}


def _bindable_run(count: int) -> int:
    """A base port whose next ``count`` ports are free right now."""
    import socket

    for _ in range(50):
        base = free_port() - 1
        ok = True
        for port in range(base + 1, base + 1 + count):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
        if ok:
            return base
    raise RuntimeError("no run of free ports found for App servers")


@pytest.fixture(scope="module")
def applet_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               mongo_uri: str, redis_url: str,
               _tator_server: TatorServer) -> Iterator[AppletEnv]:
    """The product running for one test module (see the module docstring).

    The job lists of the emulator's projects are emptied first: other tests of the session
    queue jobs for project 1 on their own queues, and the page would follow them. A module
    that sets ``EMBED_AFTER_PULL = False`` gets pulls without the embedding follow-up job.
    """
    tmp = tmp_path_factory.mktemp("applet")
    redis.Redis.from_url(redis_url).delete(project_index_key(1), project_index_key(2))
    fastvss = FastVSSServer(FastVSSState(), free_port())
    fastvss.start()
    pages = PageServer()
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        redis_url=redis_url, database_uri=mongo_uri, data_dir=tmp / "data",
        secret_key="applet-tests-secret", job_queue=f"applet-{uuid.uuid4().hex[:8]}",
        database_default=f"ap{uuid.uuid4().hex[:6]}", job_lock_ttl=5.0,
        tator_url=_tator_server.url, fastvss_api_url=fastvss.url,
        fastvss_project_map={1: "testproject"}, embed_map_method="pca",
        listing_page_size=LISTING_PAGE_SIZE, download_concurrency=2,
        public_url=api_url, app_base_port=_bindable_run(2), app_mode="proxy",
        app_start_timeout=90, app_idle_timeout=0, cors_origins=[pages.origin],
        embed_after_pull=getattr(request.module, "EMBED_AFTER_PULL", True))
    worker = AppletWorker(settings, tmp / "worker.log")
    api = ApiThread(settings, port)
    try:
        yield AppletEnv(pages, api_url, settings, worker, _tator_server)
    finally:
        api.stop()
        worker.stop()
        pages.stop()
        fastvss.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def checked_page(browser: Browser, width: int, height: int = 900) -> Iterator[Page]:
    """A page in a fresh browser context; on exit, its scripts must have raised nothing."""
    context = browser.new_context(viewport={"width": width, "height": height})
    opened = context.new_page()
    script_errors: list[str] = []
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not script_errors, f"the page's script failed: {script_errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page at a laptop's size; its script must raise nothing."""
    with checked_page(browser, 1100) as opened:
        yield opened


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Iterator[object]:
    """Saves numbered screenshots of a step under ``artifacts/applet/``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    counter = {"n": 0}

    def take(target: Page, step: str, full_page: bool = True) -> Path:
        counter["n"] += 1
        path = ARTIFACTS / f"{request.node.name}-{counter['n']:02d}-{step}.png"
        target.screenshot(path=str(path), full_page=full_page)
        return path

    yield take
