"""MongoDB and Redis going away and coming back: ``/ready`` tells the truth, requests get
503 with a reason (never a 500), and jobs lost with Redis' memory are reported and re-run.

Each test crashes (SIGKILL) and restarts stores of its own (see ``own_stores``), never the
session's; a crashed store comes back on its recorded port, as an external one would.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded
from tests.fixtures.net import wait_until
from tests.fixtures.server import serving
from tests.jobs.helpers import WorkerProcess


@pytest.fixture()
def own_settings(sec_settings: Settings, own_stores: Settings) -> Settings:
    """The security settings, on this test's own stores."""
    return sec_settings.model_copy(update={
        "database_uri": embedded.ensure_mongod(own_stores),
        "redis_url": embedded.ensure_redis(own_stores), "job_lock_ttl": 3.0})


@pytest.fixture()
def own_api(own_settings: Settings) -> Iterator[httpx.Client]:
    """The API on this test's own stores."""
    with serving(create_app(own_settings)) as url, httpx.Client(base_url=url,
                                                                timeout=60) as client:
        yield client


def _crash(settings: Settings, name: str) -> None:
    """Kills this test's own store ``name`` the hard way, leaving its record behind."""
    record = embedded.read_record(settings, name)
    assert record is not None
    os.kill(record.pid, signal.SIGKILL)
    wait_until(lambda: not embedded.pid_alive(record.pid), what=f"{name} to die")
    wait_until(lambda: not embedded.port_answers(record.port), what=f"{name}'s port to close")


def _restart(settings: Settings, name: str, url: str) -> None:
    """Starts the crashed store again; it must come back on its old port at once, though
    the dead server's connections still hold that port in TIME_WAIT."""
    record = embedded.read_record(settings, name)
    assert record is not None

    ensure = embedded.ensure_mongod if name == embedded.MONGOD else embedded.ensure_redis
    assert ensure(settings) == url


def _ready(api: httpx.Client) -> tuple[int, dict]:
    answer = api.get("/ready")
    return answer.status_code, answer.json()["checks"]


def test_ready_follows_a_mongod_restart(own_api: httpx.Client, own_stores: Settings,
                                        own_settings: Settings) -> None:
    status, checks = _ready(own_api)
    assert status == 200 and checks["mongodb"]["ok"] and checks["disk"]["ok"]
    assert "GiB free" in checks["disk"]["detail"]

    _crash(own_stores, embedded.MONGOD)
    status, checks = _ready(own_api)
    assert status == 503 and not checks["mongodb"]["ok"] and checks["redis"]["ok"]
    assert "ServerSelectionTimeoutError" in checks["mongodb"]["detail"]

    _restart(own_stores, embedded.MONGOD, own_settings.database_uri)
    status, checks = _ready(own_api)
    assert status == 200 and checks["mongodb"]["ok"]


def test_redis_down_gives_503_and_ready_says_why(own_api: httpx.Client, own_stores: Settings,
                                                 own_settings: Settings,
                                                 tator_emulator) -> None:
    alice = tator_emulator.headers("alice")
    _crash(own_stores, embedded.REDIS)

    status, checks = _ready(own_api)
    assert status == 503 and not checks["redis"]["ok"] and checks["mongodb"]["ok"]
    for method, path, params in [
            ("POST", "/sync", {"project_id": 1, "version_id": 1}),
            ("GET", "/jobs", {"project_id": 1}),
            ("GET", "/jobs/" + "0" * 32, {})]:
        answer = own_api.request(method, path, params=params, headers=alice)
        assert answer.status_code == 503, (path, answer.text)
        assert "Redis" in answer.json()["detail"]

    _restart(own_stores, embedded.REDIS, own_settings.redis_url)
    assert _ready(own_api)[0] == 200


def test_jobs_lost_with_redis_are_reported_and_rerun(
        own_api: httpx.Client, own_stores: Settings, own_settings: Settings, tator_emulator,
        tmp_path: Path) -> None:
    alice = tator_emulator.headers("alice")
    sync = {"project_id": 1, "version_id": 1}
    lost = own_api.post("/sync", params=sync, headers=alice).json()["job_id"]

    _crash(own_stores, embedded.REDIS)
    _restart(own_stores, embedded.REDIS, own_settings.redis_url)

    gone = own_api.get(f"/jobs/{lost}", headers=alice)
    assert gone.status_code == 404 and "unknown, or expired" in gone.json()["detail"]

    worker = WorkerProcess(own_settings, tmp_path / "worker.log")
    try:
        again = own_api.post("/sync", params=sync, headers=alice)
        assert again.status_code == 202, again.text
        job = _wait_final(own_api, again.json()["job_id"], alice)
    finally:
        worker.stop()
    assert job["state"] == "succeeded", (job, worker.log()[-3000:])


def _wait_final(api: httpx.Client, job_id: str, headers: dict[str, str],
                timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = api.get(f"/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")
