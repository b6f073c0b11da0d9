"""Fixtures for the Tator plugin tests: the product on real sockets, the App opened for alice.

One environment per module (it is slow to start): the API in a thread of the test process
(with its App manager, which starts project 1's App server with the plugin enabled), a
``fiftyone-sync worker`` subprocess, the session's Tator emulator (reloaded with the
standard project once, here), MongoDB and Redis. Version 1 is pulled through ``POST /sync``,
then the App is opened through ``/launch`` and the code exchange, as a browser would.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
import redis

from fiftyone_sync.auth.access import COOKIE_NAME
from fiftyone_sync.emulators.tator import demo
from fiftyone_sync.emulators.tator.fixtures import load_fixture
from fiftyone_sync.emulators.tator.server import EmulatorServer as TatorServer
from fiftyone_sync.jobs.store import project_index_key
from fiftyone_sync.settings import Settings
from tests.applet.conftest import ApiThread, AppletWorker, _bindable_run
from tests.fixtures.net import free_port
from tests.fixtures.tator import TatorEmulatorFixture

PROJECT = 1
VERSION = 1
DATASET = f"tator-p{PROJECT}-v{VERSION}"
PLUGIN = "@tator/fiftyone-sync"
JOB_WAIT = 180.0


@dataclasses.dataclass
class PluginEnv:
    """The running product, alice's App session, and helpers to drive the plugin."""

    api_url: str
    settings: Settings
    tator: TatorEmulatorFixture
    worker: AppletWorker
    app: httpx.Client
    app_port: int

    @property
    def database(self) -> str:
        """Project 1's database."""
        return f"{self.settings.database_default}_{PROJECT}"

    def execute(self, operator: str, params: dict[str, Any] | None = None,
                dataset: str = DATASET, client: httpx.Client | None = None,
                **context: Any) -> dict[str, Any]:
        """Runs an operator through the access proxy (or ``client``) as the App does.

        The App calls the generator route for every operator; a generator operator's
        stream is folded into the shape of a plain one (see :func:`fold_stream`).
        """
        body = {"dataset_name": dataset, "operator_uri": f"{PLUGIN}/{operator}",
                "params": params or {}, "view": [], "selected": [], "selected_labels": [],
                **context}
        answer = (client or self.app).post(f"/apps/{PROJECT}/operators/execute/generator",
                                           json=body, timeout=600)
        assert answer.status_code in (200, 500), answer.text
        try:
            return answer.json()
        except ValueError:
            return fold_stream(answer.text)

    def headers(self, user: str = "alice") -> dict[str, str]:
        """The user's ``Authorization`` header."""
        return self.tator.headers(user)

    def wait_job(self, job_id: str) -> dict[str, Any]:
        """Follows a job through the API until it ends."""
        deadline = time.monotonic() + JOB_WAIT
        while time.monotonic() < deadline:
            record = httpx.get(f"{self.api_url}/jobs/{job_id}", headers=self.headers(),
                               timeout=30).json()
            if record["state"] in ("succeeded", "failed", "cancelled"):
                return record
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} did not end:\n{self.worker.log()[-3000:]}")

    def mongo(self) -> pymongo.MongoClient:
        """A client of the deployment's MongoDB (close it)."""
        return pymongo.MongoClient(self.settings.database_uri)


def fold_stream(text: str) -> dict[str, Any]:
    """A generator operator's message stream as ``{result, error, error_message}``.

    ``progress`` lists the ``set_progress`` messages and ``messages`` every operator the
    stream triggered in the App, in order; the result is the ``show_output`` results, or
    ``None`` with the reason in ``error_message`` when the operator refused.
    """
    triggered = [json.loads(line)["body"] for line in text.splitlines() if line.strip()]
    shown = [t["params"]["results"] for t in triggered if t["operator_uri"] == "show_output"]
    assert len(shown) == 1, triggered
    refused = shown[0].get("error")
    return {"result": None if refused else shown[0], "error": "refused" if refused else None,
            "error_message": refused,
            "progress": [t["params"] for t in triggered if t["operator_uri"] == "set_progress"],
            "messages": [t["operator_uri"] for t in triggered]}


def open_app(api_url: str, user_headers: dict[str, str]) -> httpx.Client:
    """Opens project 1's App as a browser does: ``/launch``, then the one-time code.

    Returns a client that sends the access cookie (and nothing else) with every request.
    """
    launched = httpx.get(f"{api_url}/launch", params={"project_id": str(PROJECT)},
                         headers=user_headers, timeout=180)
    assert launched.status_code == 200, launched.text
    redeemed = httpx.get(launched.json()["url"], follow_redirects=False, timeout=30)
    assert redeemed.status_code == 303, redeemed.text
    cookie = redeemed.cookies[COOKIE_NAME]
    return httpx.Client(base_url=api_url, headers={"Cookie": f"{COOKIE_NAME}={cookie}"})


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory, mongo_uri: str, redis_url: str,
               _tator_server: TatorServer, tator_media_dir: Path) -> Iterator[PluginEnv]:
    """The product with version 1 pulled and the App open for alice (module docstring)."""
    tmp = tmp_path_factory.mktemp("plugin")
    old = _tator_server.store
    _tator_server.replace_store(load_fixture(demo.plankton_fixture(tator_media_dir)))
    old.close()
    _tator_server.faults.clear()
    redis.Redis.from_url(redis_url).delete(project_index_key(PROJECT))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        redis_url=redis_url, database_uri=mongo_uri, data_dir=tmp / "data",
        secret_key="plugin-tests-secret", job_queue=f"plugin-{uuid.uuid4().hex[:8]}",
        database_default=f"pl{uuid.uuid4().hex[:6]}", job_lock_ttl=5.0,
        tator_url=_tator_server.url, public_url=api_url, app_base_port=_bindable_run(2),
        app_mode="proxy", app_start_timeout=90, app_idle_timeout=0)
    worker = AppletWorker(settings, tmp / "worker.log")
    api = ApiThread(settings, port)
    tator = TatorEmulatorFixture(_tator_server, tator_media_dir)
    try:
        env = PluginEnv(api_url, settings, tator, worker, httpx.Client(),
                        settings.app_base_port + PROJECT)
        queued = httpx.post(f"{api_url}/sync", headers=env.headers(), timeout=60,
                            params={"project_id": str(PROJECT), "version_id": str(VERSION)})
        assert queued.status_code == 202, queued.text
        assert env.wait_job(queued.json()["job_id"])["state"] == "succeeded", worker.log()
        env.app = open_app(api_url, env.headers())
        yield env
        env.app.close()
    finally:
        api.stop()
        worker.stop()
