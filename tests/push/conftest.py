"""Fixtures for the push tests: FiftyOne bound once, a real FiftyOne App server, helpers.

Nothing here imports FiftyOne at module level: the shared ``fo`` session fixture
(tests/fixtures/fiftyone.py) binds it. The
App server is the real ``fiftyone.server.main`` on a free port with the same database, so
tests edit labels exactly the way the App's Annotate mode saves them (JSON-patch ``PATCH``
with ``If-Match``, reference fiftyone.md 2.2/2.3).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest

from fiftyone_sync.jobs.context import JobContext
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential
from tests.fixtures.net import free_port, wait_until

DATASET = "tator-p1-v1"



@pytest.fixture
def db(fo: Any, mongo_uri: str) -> Iterator[Any]:
    """The bound project database (plain pymongo), emptied before and after the test."""
    import fiftyone.core.odm as foo

    def wipe() -> None:
        for name in fo.list_datasets():
            fo.delete_dataset(name)
        conn = foo.get_db_conn()
        for collection in ("tator_sync_state", "tator_push_plans", "tator_push_accepted"):
            conn[collection].delete_many({})

    wipe()
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
    yield client[fo.config.database_name]
    client.close()
    wipe()


class AppServer:
    """A ``python -m fiftyone.server.main`` subprocess on a free port (restartable)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.dataset_id: str | None = None

    def start(self) -> None:
        """Starts the server and waits until it answers."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fiftyone.server.main", "--port", str(port),
                 "--address", "127.0.0.1"], env=self.env, stdout=log,
                stderr=subprocess.STDOUT)

        def answers() -> bool:
            try:
                return httpx.get(f"{self.url}/fiftyone", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=90, what="the FiftyOne App server")

    def stop(self) -> None:
        """Stops the server this fixture started."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def for_dataset(self, dataset_id: str) -> str:
        """The URL of a server that knows ``dataset_id``.

        The App process caches datasets by name; each test pulls a new dataset under the
        same name, so the server is restarted when the dataset is not the one it has seen.
        """
        if self.dataset_id not in (None, dataset_id):
            self.stop()
            self.start()
        self.dataset_id = dataset_id
        return self.url


@pytest.fixture(scope="module")
def app_server(fo: Any, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[AppServer]:
    """A real FiftyOne App server on the test database (started once per module)."""
    env = {**os.environ, "FIFTYONE_DATABASE_URI": mongo_uri,
           "FIFTYONE_DATABASE_NAME": fo.config.database_name,
           "FIFTYONE_DO_NOT_TRACK": "true", "FIFTYONE_DATABASE_VALIDATION": "false"}
    server = AppServer(env, tmp_path_factory.mktemp("app") / "app.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(tator_emulator: Any, mongo_uri: str, tmp_path: Path) -> Settings:
    """Settings on the emulator and the session's mongod, media cached in the tmp dir."""
    return Settings(tator_url=tator_emulator.url, database_uri=mongo_uri,
                    data_dir=tmp_path / "data",
                    download_retries=1, listing_page_size=50)


@pytest.fixture
def make_ctx(tator_emulator: Any, settings: Settings, db: Any, fo: Any
             ) -> Callable[..., JobContext]:
    """Builds the JobContext of a job by one of the emulator's users on project 1 v1."""

    def build(user: str = "alice", **overrides: Any) -> JobContext:
        ctx = JobContext(
            job_id=f"test-{uuid.uuid4().hex[:6]}", project_id=1,
            database_name=fo.config.database_name,
            settings=overrides.pop("settings", settings),
            credential=Credential("Token", tator_emulator.tokens[user]),
            version_id=1, dataset_name=DATASET)
        return ctx

    return build
