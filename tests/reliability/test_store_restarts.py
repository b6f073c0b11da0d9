"""MongoDB and Redis going away and coming back under the running service: ``/ready``
tells the truth, requests get 503 with a reason (never a 500), jobs queued or running
through a restart end (failed or done, never stuck), no dataset lock stays held, and a
re-run succeeds.

Each test crashes (SIGKILL) and restarts stores of its own (see ``own_stores``), never the
session's nor the machine's; a crashed store comes back on its recorded port, as an
external one would. The test Redis keeps nothing on disk, like the one this service
embeds: a restart loses job records, queues and locks.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded
from tests.fixtures.net import wait_until
from tests.fixtures.server import serving
from tests.reliability import service as s

RUNNING_FOR = 8.0
"""Latency of the localization listing that keeps a pull running while a store restarts
(the workers get a Tator timeout longer than this)."""
REDIS_DOWN_FOR = 2.5
"""Seconds Redis stays down: longer than the worker's RQ heartbeat interval (1 s)."""


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
        start_worker) -> None:
    """A job queued before a Redis restart is gone with Redis' memory: reading it is a 404
    that says so, and the same request queued again runs to success."""
    alice = tator_emulator.headers("alice")
    lost = s.queue(own_api, "/sync", alice)

    _crash(own_stores, embedded.REDIS)
    _restart(own_stores, embedded.REDIS, own_settings.redis_url)

    gone = own_api.get(f"/jobs/{lost}", headers=alice)
    assert gone.status_code == 404 and "unknown, or expired" in gone.json()["detail"]

    worker = start_worker(own_settings)
    job = s.pull(own_api, alice)
    assert job["state"] == "succeeded", (job, worker.log()[-3000:])


@pytest.mark.slow
def test_a_mongod_restart_ends_queued_and_running_pulls_and_the_rerun_succeeds(
        own_api: httpx.Client, own_stores: Settings, own_settings: Settings, tator_emulator,
        start_worker) -> None:
    """mongod crashing and restarting while a pull waits in the queue (it then runs to
    success), and again while a pull runs (it succeeds or fails with the cause, never
    hangs): ``/ready`` is 503 naming MongoDB while it is down and 200 after, the lock is
    free, and the re-run leaves the dataset fully updated."""
    alice = tator_emulator.headers("alice")
    queued = s.queue(own_api, "/sync", alice)
    _crash(own_stores, embedded.MONGOD)
    status, checks = _ready(own_api)
    assert status == 503 and not checks["mongodb"]["ok"] and checks["redis"]["ok"]
    _restart(own_stores, embedded.MONGOD, own_settings.database_uri)
    assert _ready(own_api)[0] == 200

    worker = start_worker(own_settings, FIFTYONE_SYNC_TATOR_TIMEOUT="60")
    first = s.wait_job(own_api, queued, alice)
    assert first["state"] == "succeeded", first
    gone = tator_emulator.store.get_localization(1).elemental_id
    tator_emulator.store.delete_localization(1, user="bob")

    tator_emulator.reset_calls()
    tator_emulator.faults.add("GetLocalizationList", latency=RUNNING_FOR, times=1)
    running = s.queue(own_api, "/sync", alice)
    wait_until(lambda: tator_emulator.calls.get("GetLocalizationList", 0) >= 1, timeout=60,
               what="the pull to list Tator")
    _crash(own_stores, embedded.MONGOD)
    assert _ready(own_api)[0] == 503
    _restart(own_stores, embedded.MONGOD, own_settings.database_uri)
    assert _ready(own_api)[0] == 200
    ended = s.wait_job(own_api, running, alice)
    assert ended["state"] in ("succeeded", "failed"), ended
    if ended["state"] == "failed":
        assert any(name in ended["error"] for name in ("AutoReconnect", "ServerSelection",
                                                       "NotPrimary", "Connection")), ended
    assert s.lock_holder(own_settings) is None

    again = s.pull(own_api, alice)
    assert again["state"] == "succeeded", again
    labels = {b.get("tator_elemental_id") for b in s.boxes(own_settings)}
    assert gone not in labels and len(labels) == len(s.tator_boxes(tator_emulator))
    assert worker.alive()


@pytest.mark.slow
def test_a_redis_restart_under_a_running_pull_fails_it_and_the_rerun_succeeds(
        own_api: httpx.Client, own_stores: Settings, own_settings: Settings, tator_emulator,
        start_worker) -> None:
    """Redis crashing and restarting empty while a pull runs: the job loses its lock and
    ends failed, saying so (its work-horse writes the lost record back), having written
    nothing; no lock is left, the worker outlives the outage (its RQ heartbeat, every
    second here, meets it), and the re-run succeeds."""
    alice = tator_emulator.headers("alice")
    worker = start_worker(own_settings, monitor_every=1, FIFTYONE_SYNC_TATOR_TIMEOUT="60")
    tator_emulator.faults.add("GetLocalizationList", latency=RUNNING_FOR, times=1)
    doomed = s.queue(own_api, "/sync", alice)
    wait_until(lambda: tator_emulator.calls.get("GetLocalizationList", 0) >= 1, timeout=60,
               what="the pull to list Tator")
    assert s.lock_holder(own_settings) == doomed

    _crash(own_stores, embedded.REDIS)
    status, checks = _ready(own_api)
    assert status == 503 and not checks["redis"]["ok"] and checks["mongodb"]["ok"]
    time.sleep(REDIS_DOWN_FOR)
    _restart(own_stores, embedded.REDIS, own_settings.redis_url)
    assert _ready(own_api)[0] == 200
    assert worker.alive(), worker.log()[-3000:]

    rerun = s.queue(own_api, "/sync", alice)
    wait_until(lambda: own_api.get(f"/jobs/{doomed}", headers=alice).status_code == 200,
               timeout=60, what="the lost record to be written back")
    failed = s.wait_job(own_api, doomed, alice)
    assert failed["state"] == "failed" and "lost its dataset lock" in failed["error"], failed
    assert s.samples(own_settings) == [], "the failed pull wrote nothing"

    done = s.wait_job(own_api, rerun, alice)
    assert done["state"] == "succeeded", (done, worker.log()[-3000:])
    assert len(s.boxes(own_settings)) == len(s.tator_boxes(tator_emulator))
    assert s.lock_holder(own_settings) is None and worker.alive()

