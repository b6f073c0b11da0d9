"""Fixtures for App manager and access-path tests: seeded project databases, settings with
free App ports, a manager that stops what it started, and the API on a real socket."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from fiftyone_sync.api.app import create_app
from fiftyone_sync.apps.manager import AppManager
from fiftyone_sync.settings import Settings
from tests.fixtures.net import free_port, port_open, wait_until

PROJECTS = (1, 2)
SECRET = "apps-test-secret"

_SEED_SCRIPT = textwrap.dedent("""
    import sys
    import fiftyone as fo

    name, *paths = sys.argv[1:]
    dataset = fo.Dataset(name, persistent=True, overwrite=True)
    dataset.add_samples([
        fo.Sample(filepath=path, ground_truth=fo.Detections(detections=[
            fo.Detection(label="fish", bounding_box=[0.2, 0.2, 0.5, 0.4])]))
        for path in paths
    ])
    print(dataset.name, len(dataset))
""")


def dataset_of(project_id: int) -> str:
    """The dataset seeded into a project's database."""
    return f"tator-p{project_id}-v1"


def _bindable(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="session")
def app_base_port() -> int:
    """A base port whose project ports 1 to 4 are free right now."""
    for _ in range(50):
        base = free_port() - 1
        if all(_bindable(base + project) for project in range(1, 5)):
            return base
    raise RuntimeError("no run of free ports found for App servers")


@pytest.fixture(scope="session")
def apps_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data dir shared by the session's App tests (media cache, state files)."""
    return tmp_path_factory.mktemp("apps-data")


def _write_images(directory: Path, colour: tuple[int, int, int]) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(2):
        path = directory / f"frame-{index}.png"
        image = Image.new("RGB", (320, 240), colour)
        image.paste((255, 255, 255), (60 + 80 * index, 50, 160 + 80 * index, 150))
        image.save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="session")
def seeded_projects(mongo_uri: str, apps_data_dir: Path) -> dict[int, list[str]]:
    """Projects 1 and 2, each with one 2-sample dataset in its own database.

    Returns:
        The image paths of each project, inside its media cache.
    """
    colours = {1: (20, 90, 160), 2: (160, 60, 20)}
    images = {project: _write_images(apps_data_dir / "media" / f"p{project}", colours[project])
              for project in PROJECTS}

    processes = []
    for project in PROJECTS:
        environment = {name: value for name, value in os.environ.items()
                       if not name.startswith("FIFTYONE_")}
        environment.update(FIFTYONE_DATABASE_URI=mongo_uri,
                           FIFTYONE_DATABASE_NAME=f"fiftyone_project_{project}",
                           FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_DATABASE_VALIDATION="false")
        processes.append(subprocess.Popen(
            [sys.executable, "-c", _SEED_SCRIPT, dataset_of(project), *images[project]],
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))

    for process in processes:
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, output
    return images


@pytest.fixture(scope="session")
def make_settings(app_base_port: int, apps_data_dir: Path, mongo_uri: str,
                  redis_url: str) -> Callable[..., Settings]:
    """Builds settings for the session's stores and ports; keyword arguments override."""
    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": apps_data_dir, "database_uri": mongo_uri, "redis_url": redis_url,
            "app_base_port": app_base_port, "secret_key": SECRET, "app_idle_timeout": 0,
            "app_start_timeout": 90, "database_name": None, "allowed_database_names": [],
            "app_mode": "proxy"}
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def app_manager(make_settings: Callable[..., Settings], mongo_uri: str,
                seeded_projects: dict) -> Iterator[AppManager]:
    """A manager on the session's data dir; every App it recorded is stopped afterwards."""
    manager = AppManager(make_settings(), lambda: mongo_uri)
    yield manager
    manager.stop_all()


class ApiServer:
    """The API served by uvicorn on a free port, in a thread of the test process.

    Args:
        make_settings: the settings factory; ``public_url`` is this server's URL unless
            ``overrides`` name another (e.g. a host name other than ``127.0.0.1``).
        overrides: further settings.
    """

    def __init__(self, make_settings: Callable[..., Settings], **overrides: object) -> None:
        self.port = free_port()
        self.settings = make_settings(**{"public_url": self.url, **overrides})
        self.app = create_app(self.settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Starts serving and waits until the port answers."""
        self._thread.start()
        wait_until(lambda: port_open(self.port), what="the API")

    def stop(self) -> None:
        """Stops serving (running the lifespan shutdown) and stops every App recorded."""
        self._server.should_exit = True
        self._thread.join(timeout=30)
        manager = getattr(self.app.state, "app_manager", None)
        if manager is not None:
            manager.stop_all()


@pytest.fixture
def start_api(make_settings: Callable[..., Settings], tator_emulator: object,
              seeded_projects: dict) -> Iterator[Callable[..., ApiServer]]:
    """Starts the API against the Tator emulator; stops it and its Apps afterwards."""
    servers: list[ApiServer] = []

    def start(**overrides: object) -> ApiServer:
        overrides.setdefault("tator_url", tator_emulator.url)  # type: ignore[attr-defined]
        server = ApiServer(make_settings, **overrides)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
