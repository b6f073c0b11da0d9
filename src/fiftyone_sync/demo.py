"""``fiftyone-sync demo``: the whole main job on one machine, from nothing but this package.

The demo brings up, in order: the embedded MongoDB and Redis, the Tator emulator serving the
demo project (:func:`demo_fixture`: the real marine-life images of
``<repo>/../shared/data/fastvss-test-images`` when that folder is there, else a drawn
plankton-camera project; or a folder of the user's images), the Fast-VSS emulator, the API
and a worker (both ``fiftyone-sync`` subprocesses). Then it does what the applet does:
with a Tator token in the ``Authorization`` header it queues a pull (``POST /sync``), follows
it (``GET /jobs/{id}``), follows the embedding job the pull queues, and opens the project's
App through ``GET /launch``. It also registers the launcher as a Tator applet and serves the
page Tator would show (the rendered template in a ``srcdoc`` iframe) from the emulator.

Everything lives in its own data dir (``<data dir>/demo``): its stores, media cache, logs and
a state file ``state/demo.json`` listing every process the demo started. :meth:`Demo.stop`
stops them all; a second run reuses the drawn images, the media cache and the dataset, so it
only re-checks what changed (the pull's report then shows nothing downloaded and nothing
changed). This module logs; the terminal output is the CLI's
(:mod:`fiftyone_sync.demo_console`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import html
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import httpx
import psutil
import pymongo
from fastapi.responses import HTMLResponse

from fiftyone_sync import stores
from fiftyone_sync.apps import manager as app_manager
from fiftyone_sync.emulators.fastvss import EmulatorServer as FastVSSServer
from fiftyone_sync.emulators.fastvss import EmulatorState
from fiftyone_sync.emulators.tator import demo as tator_demo
from fiftyone_sync.emulators.tator.fixtures import load_fixture
from fiftyone_sync.emulators.tator.server import EmulatorServer as TatorServer
from fiftyone_sync.jobs.progress import ProgressHook
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
PROJECT_ID = 1
VERSION_ID = 1
FASTVSS_PROJECT = "demo"
DEMO_USER = "alice"
APPLET_PATH = "/demo/applet"
PLANKTON = "plankton"
"""``--data plankton``: the drawn plankton project even when the real images are there."""
SHARED_IMAGES = Path("shared") / "data" / "fastvss-test-images"
"""The real marine-life images, relative to the folder that holds this repository."""
TERMINAL_STATES = ("succeeded", "failed", "cancelled")
READY_TIMEOUT = 60.0
JOB_TIMEOUT = 1800.0
STOP_TIMEOUT = 15.0
STOP_GRACE = 5.0
"""Seconds a child gets after SIGTERM before a second one (see :func:`stop_process`)."""
ACCESS_CODE_TTL = 3600
"""Seconds the printed one-time App links stay valid (the service's default is 120)."""
ID_NAMESPACE = uuid.UUID("5d0c3a52-8f1e-4a57-9b43-2f6f0e9c1d11")
"""Namespace of the demo's fixed localization ``elemental_id`` values."""
CONTRACT_ENV = ("FIFTYONE_DATABASE_URI", "FIFTYONE_DATABASE_NAME", "REDIS_URL",
                "FASTVSS_API_URL")
"""Variables that would point the demo at outside servers; the demo's children never see
them (the demo always runs its own embedded stores and emulators)."""


class DemoError(RuntimeError):
    """A demo step failed; the message says which and why."""


@dataclasses.dataclass
class DemoOptions:
    """What the user chose on the command line.

    Args:
        api_port: preferred port of the API.
        tator_port: preferred port of the Tator emulator.
        fastvss_port: preferred port of the Fast-VSS emulator.
        app_base_port: preferred App base port (project 1's App listens on base + 1).
        data: a folder ``DIR/<label>/<image>`` to serve instead of the demo project, or
            ``plankton`` (:data:`PLANKTON`) for the drawn project; None: see
            :func:`demo_fixture`.
        images: how many plankton images to draw (only for the drawn project).
    """

    api_port: int = 8180
    tator_port: int = 8190
    fastvss_port: int = 8100
    app_base_port: int = 5151
    data: Path | None = None
    images: int = 12


@dataclasses.dataclass
class DemoSummary:
    """What the demo brought up and where to look, for the closing message."""

    data_dir: Path
    token: str
    applet_url: str
    api_url: str
    tator_url: str
    fastvss_url: str
    app_url: str
    dataset: str
    dataset_url: str
    patches_url: str | None
    samples: int
    labels: int
    embedded: int
    embed_status: str
    pids: dict[str, int]
    started_stores: bool
    seconds: float


class DemoObserver(Protocol):
    """Who shows the demo's progress (the CLI's console; a logger by default)."""

    def starting(self, name: str) -> None:
        """A component or step is starting."""

    def component(self, name: str, url: str) -> None:
        """A component is up at ``url``."""

    def note(self, text: str) -> None:
        """Something the user should know (a port moved, stores reused...)."""

    def job(self, kind: str, job_id: str) -> AbstractContextManager[ProgressHook]:
        """A job is being followed; the hook receives (phase, done, total)."""

    def job_result(self, kind: str, report: str) -> None:
        """A job succeeded; ``report`` says what each of its phases did."""


class LogObserver:
    """Reports progress through ``logging`` only (tests, scripts)."""

    def starting(self, name: str) -> None:
        """Logs that a component or step is starting."""
        logger.info("starting %s", name)

    def component(self, name: str, url: str) -> None:
        """Logs that a component is up."""
        logger.info("%s: %s", name, url)

    def note(self, text: str) -> None:
        """Logs a note."""
        logger.info("%s", text)

    @contextlib.contextmanager
    def job(self, kind: str, job_id: str) -> Iterator[ProgressHook]:
        """Logs each new phase of the job."""
        seen: set[str] = set()

        def hook(phase: str, done: int, total: int | None) -> None:
            if phase not in seen:
                seen.add(phase)
                logger.info("%s job %s: %s", kind, job_id, phase)

        yield hook

    def job_result(self, kind: str, report: str) -> None:
        """Logs what the job did."""
        logger.info("%s: %s", kind, report)


def demo_data_dir(settings: Settings) -> Path:
    """The demo's own data dir: ``demo`` inside the configured one, apart from real data."""
    return settings.data_dir / "demo"


def port_free(port: int) -> bool:
    """Whether ``port`` can be bound on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def any_free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Demo:
    """Starts the demo's components, runs the pull and the embedding, and stops it all.

    Args:
        options: the user's choices.
        base: the process settings; only their ``data_dir`` is used (the demo's own data
            dir is inside it).
        observer: who shows progress.
    """

    def __init__(self, options: DemoOptions, base: Settings,
                 observer: DemoObserver | None = None) -> None:
        self.options = options
        self.observer: DemoObserver = observer or LogObserver()
        self.data_dir = demo_data_dir(base)
        self.token = tator_demo.token_for(DEMO_USER)
        self.ports: dict[str, int] = {}
        self.settings: Settings | None = None
        self.env: dict[str, str] = {}
        self.started_stores = False
        self.tator: TatorServer | None = None
        self.fastvss: FastVSSServer | None = None
        self.children: dict[str, subprocess.Popen] = {}
        self.applet_page = ""

    @property
    def api_url(self) -> str:
        """The API's base URL."""
        return f"http://{HOST}:{self.ports['api']}"

    @property
    def headers(self) -> dict[str, str]:
        """What the applet sends: the Tator token in the ``Authorization`` header."""
        return {"Authorization": f"Token {self.token}"}

    def start(self) -> DemoSummary:
        """Brings everything up, pulls and embeds, opens the App; returns the summary."""
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._choose_ports()
        self.settings = self._demo_settings()
        leftovers = self._stop_leftovers()
        self._write_state({})
        self._start_stores(owned=leftovers)
        self._start_tator()
        self._start_fastvss()
        self.observer.starting("API")
        self._start_child("api", ["serve", "--host", HOST, "--port", str(self.ports["api"])])
        self.observer.starting("worker")
        self._start_child("worker", ["worker", "--name", f"demo-{os.getpid()}"])
        self._wait_for_api()
        self.observer.component("worker", f"pid {self.children['worker'].pid}")
        self._write_state(self.pids())
        applet_url = self._register_applet()

        self.observer.starting(f"pull of project {PROJECT_ID} version {VERSION_ID} "
                               "through the API, as the applet does")
        sync = self._post("/sync", {"project_id": PROJECT_ID, "version_id": VERSION_ID})
        pull = self._follow("pull", sync["job_id"])
        self.observer.job_result("pull", pull_report(pull["result"]))
        embed_job = self._embed_job_id(pull["result"])
        # The App starts (GET /launch) while the worker embeds: both take seconds.
        self.observer.starting(f"FiftyOne App of project {PROJECT_ID}")
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="launch") as pool:
            launching = pool.submit(self._get, "/launch", {"project_id": PROJECT_ID})
            self.observer.starting("embedding of every label (Fast-VSS)")
            embed = self._follow("embed", embed_job)
            self.observer.job_result("embed", embed_report(embed["result"]))
            launch = launching.result()
        self._write_state(self.pids())
        self.observer.component("FiftyOne App", f"{HOST}:{self._app_port()} (opened through "
                                f"the API's /apps/{PROJECT_ID}/: links below)")

        summary = self._summary(sync, pull["result"], embed["result"], launch, applet_url)
        summary.seconds = round(time.monotonic() - began, 1)
        self._write_state(summary.pids)
        logger.info("demo ready in %.1f s: %d samples, %d labels, %d embedded",
                    summary.seconds, summary.samples, summary.labels, summary.embedded)
        return summary

    def _choose_ports(self) -> None:
        """Takes each preferred port, or a free one when it is taken (and says so); 0 asks
        for any free port."""
        base = self.options.app_base_port
        wanted = {"api": self.options.api_port, "tator": self.options.tator_port,
                  "fastvss": self.options.fastvss_port, "app": base + PROJECT_ID if base else 0}
        for name, port in wanted.items():
            usable = port and port_free(port) and port not in self.ports.values()
            chosen = port if usable else any_free_port()
            if port and chosen != port:
                self.observer.note(f"port {port} ({name}) is taken; using {chosen} instead")
                logger.warning("port %d for %s is taken; using %d", port, name, chosen)
            self.ports[name] = chosen

    def _demo_settings(self) -> Settings:
        """The settings every demo process shares, also passed to children as variables."""
        tator_url = f"http://{HOST}:{self.ports['tator']}"
        values = {
            "FIFTYONE_SYNC_DATA_DIR": str(self.data_dir),
            "FIFTYONE_SYNC_API_HOST": HOST,
            "FIFTYONE_SYNC_API_PORT": str(self.ports["api"]),
            "FIFTYONE_SYNC_PUBLIC_URL": self.api_url,
            "FIFTYONE_SYNC_TATOR_URL": tator_url,
            "FIFTYONE_SYNC_CORS_ORIGINS": tator_url,
            "FIFTYONE_SYNC_APP_BASE_PORT": str(self.ports["app"] - PROJECT_ID),
            "FIFTYONE_SYNC_FASTVSS_PROJECT_MAP": f"{PROJECT_ID}={FASTVSS_PROJECT}",
            "FIFTYONE_SYNC_EMBED_AFTER_PULL": "true",
            "FIFTYONE_SYNC_ACCESS_CODE_TTL": str(ACCESS_CODE_TTL),
            "FASTVSS_API_URL": f"http://{HOST}:{self.ports['fastvss']}",
        }
        env = {key: value for key, value in os.environ.items() if key not in CONTRACT_ENV}
        env.update(values)
        self.env = env
        return Settings(
            data_dir=self.data_dir, api_port=self.ports["api"], public_url=self.api_url,
            tator_url=tator_url, app_base_port=self.ports["app"] - PROJECT_ID,
            database_uri=None, redis_url=None, database_name=None,
            fastvss_api_url=values["FASTVSS_API_URL"],
            fastvss_project_map={PROJECT_ID: FASTVSS_PROJECT})

    def _stop_leftovers(self) -> bool:
        """Stops what an earlier demo on this data dir left running when it was killed.

        Returns:
            Whether an earlier demo's record was found (its stores are then the demo's own,
            and this run stops them at the end).

        Raises:
            DemoError: another demo is running on this data dir.
        """
        path = self.data_dir / "state" / "demo.json"
        if not path.exists():
            return False

        record = json.loads(path.read_text())
        if record["pid"] != os.getpid() and psutil.pid_exists(record["pid"]) and \
                "demo" in _cmdline(record["pid"]):
            raise DemoError(f"another demo (pid {record['pid']}) runs on {self.data_dir}; "
                            "stop it first (Ctrl-C in its terminal)")
        for name in ("worker", "api"):
            pid = record["processes"].get(name)
            if pid and "fiftyone-sync" in _cmdline(pid):
                os.kill(pid, signal.SIGTERM)
                self.observer.note(f"stopped the {name} an earlier demo left (pid {pid})")
        for app in app_manager.stop_all(self.settings):
            self.observer.note(f"stopped an App server an earlier demo left (pid {app.pid})")
        path.unlink()
        return True

    def _start_stores(self, owned: bool) -> None:
        """Starts the embedded MongoDB and Redis in the demo data dir, or reuses them.

        Args:
            owned: running stores were left by an earlier demo (stop them at the end too).
        """
        began = time.monotonic()
        self.observer.starting("embedded MongoDB and Redis")
        running = [embedded.running_url(self.settings, name)
                   for name in (embedded.MONGOD, embedded.REDIS)]
        self.started_stores = owned or not all(running)
        try:
            stores.mongo_uri(self.settings)
            stores.redis_url(self.settings)
        except embedded.EmbeddedStoreError as error:
            raise DemoError(f"the embedded stores did not start: {error}") from error

        for name in (embedded.MONGOD, embedded.REDIS):
            record = embedded.read_record(self.settings, name)
            self.observer.component(f"embedded {name}", f"127.0.0.1:{record.port}")
        if not self.started_stores:
            self.observer.note("reusing the embedded stores that were already running; "
                               "they stay up after the demo (`fiftyone-sync stop` stops them)")
        logger.info("stores ready in %.1f s", time.monotonic() - began)

    def _start_tator(self) -> None:
        """Serves the demo project (drawn once into the data dir) on the Tator emulator."""
        began = time.monotonic()
        self.observer.starting("Tator emulator")
        fixture, source = demo_fixture(self.options, self.data_dir / "tator-media")
        self.observer.note(f"Tator project: {source}")
        store = load_fixture(with_stable_ids(fixture))
        self.tator = TatorServer(store, HOST, self.ports["tator"])
        # The emulator's FastAPI app sits inside one outer ASGI layer (its ``app``).
        self.tator.app.app.add_api_route(APPLET_PATH, self._applet_response,
                                         include_in_schema=False)
        self.tator.start()
        self.observer.component("Tator emulator", self.tator.url)
        logger.info("Tator emulator: %d media, %d localizations in %.1f s",
                    len(store.media), len(store.localizations), time.monotonic() - began)

    def _applet_response(self) -> HTMLResponse:
        """The applet as Tator shows it: the rendered template in a ``srcdoc`` iframe."""
        return HTMLResponse(self.applet_page or "<p>The applet is not registered yet.</p>")

    def _start_fastvss(self) -> None:
        """Serves the Fast-VSS emulator with the demo's project."""
        self.observer.starting("Fast-VSS emulator")
        self.fastvss = FastVSSServer(EmulatorState([FASTVSS_PROJECT], job_delay=0.1),
                                     self.ports["fastvss"], HOST)
        self.fastvss.start()
        self.observer.component("Fast-VSS emulator", self.fastvss.url)

    def _start_child(self, name: str, arguments: list[str]) -> None:
        """Starts ``fiftyone-sync <arguments>`` in its own session, logging to a file."""
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"demo-{name}.log", "ab") as log:
            self.children[name] = subprocess.Popen(
                [*cli_command(), *arguments], env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        logger.info("started %s (pid %d), log %s", name, self.children[name].pid,
                    logs / f"demo-{name}.log")

    def _wait_for_api(self) -> None:
        """Waits until the API answers ``/ready``; fails with its log tail if it exits."""
        began = time.monotonic()
        process = self.children["api"]
        while time.monotonic() - began < READY_TIMEOUT:
            if process.poll() is not None:
                raise DemoError(f"the API exited with {process.returncode}; "
                                f"see {self.data_dir / 'logs' / 'demo-api.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/ready", timeout=2).status_code == 200:
                    self.observer.component("API", f"{self.api_url}/docs")
                    logger.info("API ready in %.1f s", time.monotonic() - began)
                    return
            time.sleep(0.2)
        raise DemoError(f"the API did not answer on {self.api_url} within {READY_TIMEOUT} s")

    def _register_applet(self) -> str:
        """Registers ``/render`` as a hosted template and an applet, as a Tator admin would.

        Returns:
            The URL of the page showing the applet as Tator renders it.
        """
        tator = self.tator.url
        with httpx.Client(base_url=tator, headers=self.headers, timeout=30) as client:
            template = _created(client.post("/rest/HostedTemplates/1", json={
                "name": "FiftyOne Sync", "url": f"{self.api_url}/render"}))
            tparams = [{"name": "project", "value": str(PROJECT_ID)},
                       {"name": "sync_service_url", "value": self.api_url},
                       {"name": "version_id", "value": str(VERSION_ID)}]
            applet = _created(client.post(f"/rest/Applets/{PROJECT_ID}", json={
                "name": "FiftyOne", "template": template, "tparams": tparams}))
            rendered = client.get(f"/rest/Applet/{applet}").json()["rendered"]

        self.applet_page = applet_page(rendered)
        url = f"{tator}{APPLET_PATH}"
        self.observer.component("applet (as Tator shows it)", url)
        return url

    def _post(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """POSTs to the API as the applet does; fails the demo on an error answer."""
        answer = httpx.post(f"{self.api_url}{path}", params=params, headers=self.headers,
                            timeout=60)
        return _json_or_fail(answer, f"POST {path}")

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GETs from the API as the applet does; fails the demo on an error answer."""
        answer = httpx.get(f"{self.api_url}{path}", params=params, headers=self.headers,
                           timeout=120)
        return _json_or_fail(answer, f"GET {path}")

    def _follow(self, kind: str, job_id: str) -> dict[str, Any]:
        """Polls ``GET /jobs/{id}`` until the job ends, feeding the observer's bar."""
        began = time.monotonic()
        with self.observer.job(kind, job_id) as hook:
            while time.monotonic() - began < JOB_TIMEOUT:
                job = self._get(f"/jobs/{job_id}")
                hook(job.get("phase") or job["state"], job.get("done") or 0, job.get("total"))
                if job["state"] in TERMINAL_STATES:
                    break
                self._check_children()
                time.sleep(0.3)
            else:
                raise DemoError(f"the {kind} job {job_id} did not end in {JOB_TIMEOUT} s")

        if job["state"] != "succeeded":
            raise DemoError(f"the {kind} job {job_id} {job['state']}: {job.get('error')}; "
                            f"see {self.data_dir / 'logs' / 'demo-worker.log'}")
        logger.info("%s job %s succeeded in %.1f s", kind, job_id, time.monotonic() - began)
        return job

    def _embed_job_id(self, pull_result: dict[str, Any]) -> str:
        """The embedding job the pull queued, or a new one through ``POST /embeddings``."""
        if pull_result.get("embed_job_id"):
            return pull_result["embed_job_id"]
        queued = self._post("/embeddings", {"project_id": PROJECT_ID, "version_id": VERSION_ID})
        return queued["job_id"]

    def _check_children(self) -> None:
        """Fails the demo at once when the API or the worker died."""
        for name, process in self.children.items():
            if process.poll() is not None:
                raise DemoError(f"the {name} process exited with {process.returncode}; see "
                                f"{self.data_dir / 'logs' / f'demo-{name}.log'}")

    def _summary(self, sync: dict[str, Any], pull: dict[str, Any], embed: dict[str, Any],
                 launch: dict[str, Any], applet_url: str) -> DemoSummary:
        """Collects the links, counts and pids the closing message shows."""
        dataset = sync["dataset"]
        links = {row["name"]: row["url"] for row in launch["datasets"]}
        if dataset not in links:
            raise DemoError(f"/launch does not list the pulled dataset {dataset}")

        labels = pull["labels"]
        return DemoSummary(
            data_dir=self.data_dir, token=self.token, applet_url=applet_url,
            api_url=self.api_url, tator_url=self.tator.url, fastvss_url=self.fastvss.url,
            app_url=launch["url"], dataset=dataset, dataset_url=links[dataset],
            patches_url=self._patches_url(sync["database_name"], dataset),
            samples=self._sample_count(sync["database_name"], dataset),
            labels=labels["created"] + labels["updated"] + labels["unchanged"],
            embedded=embed["embedded"] + embed["already_embedded"],
            embed_status=embed["fastvss"], pids=self.pids(), started_stores=self.started_stores,
            seconds=0.0)

    def _dataset_doc(self, database: str, dataset: str) -> tuple[Any, dict[str, Any]]:
        """The project database and the dataset's document, read with plain pymongo."""
        client = pymongo.MongoClient(stores.mongo_uri(self.settings),
                                     serverSelectionTimeoutMS=5000)
        db = client[database]
        doc = db.datasets.find_one({"name": dataset})
        if doc is None:
            raise DemoError(f"dataset {dataset} is not in database {database}")
        return db, doc

    def _sample_count(self, database: str, dataset: str) -> int:
        """How many samples the pulled dataset holds."""
        db, doc = self._dataset_doc(database, dataset)
        return db[doc["sample_collection_name"]].count_documents({})

    def _patches_url(self, database: str, dataset: str) -> str | None:
        """The App link of the dataset's box patches view (valid once the App is open)."""
        db, doc = self._dataset_doc(database, dataset)
        slugs = [view.get("slug") for view in db.views.find({"_dataset_id": doc["_id"]})]
        slugs = sorted(slug for slug in slugs if slug)
        if not slugs:
            return None
        chosen = next((slug for slug in slugs if "box" in slug), slugs[0])
        prefix = f"/apps/{PROJECT_ID}"
        return f"{self.api_url}{prefix}/datasets/{dataset}?view={chosen}&proxy={prefix}"

    def pids(self) -> dict[str, int]:
        """Every process the demo started or uses: children, App servers, stores."""
        found = {name: process.pid for name, process in self.children.items()}
        for status in app_manager.AppManager(self.settings, lambda: "").list():
            if status.running:
                found[f"app-{status.record.project_id}"] = status.record.pid
        for name in (embedded.MONGOD, embedded.REDIS):
            record = embedded.read_record(self.settings, name)
            if record is not None and embedded.is_running(record):
                found[name] = record.pid
        return found

    def _app_port(self) -> int:
        """The port the project's App server listens on (the chosen one if not recorded)."""
        for status in app_manager.AppManager(self.settings, lambda: "").list():
            if status.running and status.record.project_id == PROJECT_ID:
                return status.record.port
        return self.ports["app"]

    def _write_state(self, pids: dict[str, int]) -> None:
        """Records the demo's processes in ``state/demo.json`` (for tests and cleanup)."""
        path = self.data_dir / "state" / "demo.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pid": os.getpid(), "processes": pids}, indent=2))

    def stop(self) -> None:
        """Stops everything the demo started, newest first; safe to call more than once."""
        began = time.monotonic()
        for name in ("worker", "api"):
            process = self.children.pop(name, None)
            if process is not None:
                stop_process(name, process)

        if self.settings is not None:
            for record in app_manager.stop_all(self.settings):
                logger.info("stopped App server of project %d (pid %d)", record.project_id,
                            record.pid)
        for server in (self.fastvss, self.tator):
            if server is not None:
                server.stop()
        self.fastvss = self.tator = None

        if self.started_stores and self.settings is not None:
            for record in embedded.stop_all(self.settings):
                logger.info("stopped embedded %s (pid %d)", record.name, record.pid)
            self.started_stores = False
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "state" / "demo.json").unlink()
        logger.info("demo stopped in %.1f s", time.monotonic() - began)


def shared_images() -> Path | None:
    """The real marine-life images next to this repository (``<repo>/../shared/data/
    fastvss-test-images``), when this package runs from a checkout and they are there."""
    repo = Path(__file__).resolve().parents[2]
    folder = repo.parent / SHARED_IMAGES
    if (repo / "pyproject.toml").is_file() and folder.is_dir():
        return folder
    return None


def demo_fixture(options: DemoOptions, media_dir: Path) -> tuple[dict[str, Any], str]:
    """The project the demo serves, and a few words saying what it is.

    ``--data DIR``: the user's images, one box per image. ``--data plankton``: the drawn
    plankton project. Neither: the real marine-life images next to the repository
    (:func:`shared_images`) with the drawn video, or, on a machine without them, the drawn
    plankton project. Drawn pictures go to ``media_dir`` once and are reused.

    Raises:
        DemoError: ``--data`` names no folder of ``<label>/<image>`` files.
    """
    data = options.data
    if data is not None and not (str(data) == PLANKTON and not data.exists()):
        try:
            fixture = tator_demo.folder_fixture(data)
        except tator_demo.DemoDataError as error:
            raise DemoError(f"--data: {error}") from error
        return fixture, f"your images in {data} ({_folder_words(fixture)})"

    shared = shared_images() if data is None else None
    if shared is not None:
        fixture = tator_demo.marine_fixture(shared, media_dir)
        return fixture, (f"real marine-life images in {shared} ({_folder_words(fixture)}) "
                         "and a drawn video (--data plankton: drawn images only)")
    fixture = tator_demo.plankton_fixture(media_dir, images=options.images)
    return fixture, (f"drawn plankton camera: {options.images} images and a video, "
                     f"drawn into {media_dir}")


def _folder_words(fixture: dict[str, Any]) -> str:
    """"9 images, labels atolla, copepod..." for a folder-built fixture."""
    project = fixture["projects"][0]
    images = [media for media in project["media"] if media["type"] == "Images"]
    labels = sorted({media["name"].split("/")[0] for media in images})
    return f"{len(images)} images, labels {', '.join(labels)}"


def pull_report(result: dict[str, Any]) -> str:
    """What a pull did, phase by phase, from its job result."""
    downloads, samples, labels = result["downloads"], result["samples"], result["labels"]
    return (f"downloading: {downloads['files']} files ({downloads['bytes'] / 1e6:.1f} MB); "
            f"writing: samples {samples['created']} new, {samples['updated']} updated, "
            f"{samples['removed']} removed; labels {labels['created']} new, "
            f"{labels['updated']} updated, {labels['unchanged']} unchanged, "
            f"{labels['removed']} removed ({result['duration']:.1f} s)")


def embed_report(result: dict[str, Any]) -> str:
    """What an embedding job did, from its job result."""
    return (f"{result['embedded']} labels embedded, {result['already_embedded']} already "
            f"embedded, {result['skipped'] + result['failed']} skipped or failed "
            f"(Fast-VSS {result['fastvss']}, {result['duration']:.1f} s)")


def with_stable_ids(fixture: dict[str, Any]) -> dict[str, Any]:
    """Gives each localization a fixed ``elemental_id`` (from its project, position, media
    and type), so the emulated project is the same Tator project on every run and a second
    demo re-pulls and re-embeds nothing."""
    for project in fixture["projects"]:
        for index, loc in enumerate(project.get("localizations", [])):
            key = f"{project['id']}/{index}/{loc['media']}/{loc['type']}"
            loc.setdefault("elemental_id", str(uuid.uuid5(ID_NAMESPACE, key)))
    return fixture


def applet_page(rendered: str) -> str:
    """A page showing ``rendered`` the way Tator shows an applet: in a ``srcdoc`` iframe.

    The iframe then has the page's origin (the emulated Tator's), so the applet's calls to
    the API are cross-origin exactly as under a real Tator.
    """
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Tator applet: "
            "FiftyOne</title><style>html,body{margin:0;height:100%}iframe{border:0;"
            "width:100%;height:100%}</style></head><body>"
            f"<iframe title=\"FiftyOne applet\" srcdoc=\"{html.escape(rendered, quote=True)}\">"
            "</iframe></body></html>")


def cli_command() -> list[str]:
    """How to run ``fiftyone-sync`` as a child: the installed script next to this Python."""
    script = Path(sys.executable).parent / "fiftyone-sync"
    if script.exists():
        return [str(script)]
    found = shutil.which("fiftyone-sync")
    if found:
        return [found]
    return [sys.executable, "-c", "from fiftyone_sync.cli import main; main()"]


def stop_process(name: str, process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """Stops a child (its process group): SIGTERM; after :data:`STOP_GRACE` s a second
    SIGTERM, as a second Ctrl-C (the worker's cold shutdown: an idle RQ worker sometimes
    sleeps through the first); SIGKILL after ``timeout`` s more."""
    for attempt, wait in enumerate((STOP_GRACE, timeout)):
        if process.poll() is not None:
            break
        if attempt:
            logger.warning("%s (pid %d) still runs %.0f s after SIGTERM; sending another",
                           name, process.pid, STOP_GRACE)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
    if process.poll() is None:
        logger.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", name, process.pid,
                       STOP_GRACE + timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    logger.info("stopped %s (pid %d, exit %s)", name, process.pid, process.returncode)


def _cmdline(pid: int) -> str:
    """The command line of ``pid`` ("" when it is gone or not ours to read)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def _created(answer: httpx.Response) -> int:
    """The id in a Tator 201 answer; fails the demo on anything else."""
    if answer.status_code != 201:
        raise DemoError(f"Tator refused {answer.request.method} {answer.request.url.path}: "
                        f"{answer.status_code} {answer.text[:300]}")
    return int(answer.json()["id"])


def _json_or_fail(answer: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON of a 2xx answer; a :class:`DemoError` with the API's reason otherwise."""
    if answer.status_code >= 300:
        raise DemoError(f"{what} answered {answer.status_code}: {answer.text[:500]}")
    return answer.json()


def stop_on_signals() -> None:
    """Makes SIGINT and SIGTERM stop the demo (both raise :class:`KeyboardInterrupt`).

    SIGINT too: a shell script's background job (``fiftyone-sync demo &``) starts with
    SIGINT ignored, and ``kill -INT`` must still stop it as Ctrl-C does.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def ignore_stop_signals() -> None:
    """While the demo stops, a second Ctrl-C must not leave half of it running."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def wait_for_stop_signal() -> None:
    """Blocks until SIGINT or SIGTERM (after :func:`stop_on_signals`)."""
    while True:
        time.sleep(3600)
