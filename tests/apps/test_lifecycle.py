"""The life of App servers around the API: idle stops, ``fiftyone-sync stop`` and concurrent
launches, with real App server processes, real sockets and the Tator emulator."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pymongo
import pytest

from fiftyone_sync.apps import process
from fiftyone_sync.apps.manager import AppManager
from fiftyone_sync.apps.records import AppRecord
from tests.apps.conftest import ApiServer, dataset_of
from tests.fixtures.net import port_open, wait_until

DATASETS_QUERY = {"query": "{ datasets(first: 100, search: \"\") { edges { node { name } } } }"}
IDLE_TIMEOUT = 4.0
"""Seconds of idleness after which the API's reaper stops an App in the idle test."""


def _launch(api: ApiServer, token: str, project: int) -> httpx.Response:
    return httpx.get(f"{api.url}/launch", params={"project_id": project},
                     headers={"Authorization": f"Token {token}"}, timeout=120)


def _group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes in process group ``pgid``; an App server leads its own."""
    members = []
    for candidate in psutil.process_iter():
        try:
            if (os.getpgid(candidate.pid) == pgid
                    and candidate.status() != psutil.STATUS_ZOMBIE):
                members.append(candidate)
        except (psutil.Error, ProcessLookupError):
            continue
    return members


def test_the_apis_reaper_stops_an_idle_app_and_access_path_requests_keep_it_alive(
        start_api: Callable[..., ApiServer], tator_emulator) -> None:
    """The API's own reaper stops an App idle for ``app_idle_timeout``; every request through
    ``/apps/{p}/...`` resets the idle clock, so an App in use for several idle periods runs
    on (the same process), and stops only once the requests end."""
    api = start_api(app_idle_timeout=IDLE_TIMEOUT)
    launched = _launch(api, tator_emulator.tokens["alice"], 1)
    assert launched.status_code == 200, launched.text
    manager: AppManager = api.app.state.app_manager
    (status,) = manager.list()
    record = status.record
    client = httpx.Client(timeout=30)
    assert client.get(launched.json()["url"]).status_code == 303

    stamp_before = manager.records.last_access(record.key)
    active_until = time.monotonic() + 2 * IDLE_TIMEOUT + 0.5
    while time.monotonic() < active_until:
        answer = client.post(f"{api.url}/apps/1/graphql", json=DATASETS_QUERY)
        assert answer.status_code == 200, f"the App in use was stopped: {answer.text}"
        time.sleep(0.4)
    last_request = time.time()

    stamp_after = manager.records.last_access(record.key)
    assert stamp_before is not None and stamp_after is not None
    assert stamp_after > stamp_before + 1.5 * IDLE_TIMEOUT, "requests did not reset the clock"
    assert [item.record.pid for item in manager.list()] == [record.pid]
    assert process.is_app_process(record.pid, record.port, record.process_started_at)

    wait_until(lambda: manager.list() == [], timeout=30, what="the reaper to stop the App")
    idle_for = time.time() - last_request
    assert idle_for >= IDLE_TIMEOUT / 2, f"stopped after only {idle_for:.1f} s without requests"
    assert not process.is_running(record.pid)
    assert not port_open(record.port)
    gone = client.post(f"{api.url}/apps/1/graphql", json=DATASETS_QUERY)
    assert gone.status_code == 502 and "open it again from Tator" in gone.json()["detail"]


def test_two_concurrent_launches_of_one_project_start_one_app_server(
        start_api: Callable[..., ApiServer], tator_emulator,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ``GET /launch`` calls that overlap in time for one project share one App server:
    exactly one process is spawned, one record is kept, and both answers point at it."""
    spawned: list[int] = []
    real_spawn = process.spawn

    def counting_spawn(*args: object, **kwargs: object) -> int:
        pid = real_spawn(*args, **kwargs)  # type: ignore[arg-type]
        spawned.append(pid)
        return pid

    monkeypatch.setattr(process, "spawn", counting_spawn)
    api = start_api()
    token = tator_emulator.tokens["alice"]
    assert not port_open(api.settings.app_base_port + 1), "an App of another test still runs"

    def timed_launch(_: int) -> tuple[float, httpx.Response, float]:
        began = time.monotonic()
        answer = _launch(api, token, 1)
        return began, answer, time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(timed_launch, range(2)))

    assert max(began for began, _, _ in results) < min(ended for _, _, ended in results), (
        "the two launches did not overlap")
    answers = [answer for _, answer, _ in results]
    assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
    assert {answer.json()["port"] for answer in answers} == {api.settings.app_base_port + 1}
    assert [answer.json()["restarted"] for answer in answers] == [False, False]
    assert len(spawned) == 1, f"{len(spawned)} App servers were spawned: {spawned}"
    (status,) = api.app.state.app_manager.list()
    assert status.record.pid == spawned[0] and status.running
    servers = [candidate for candidate in psutil.process_iter(["cmdline"])
               if process.SERVER_MODULE in (candidate.info["cmdline"] or [])
               and str(status.record.port) in candidate.info["cmdline"]]
    assert [server.pid for server in servers] == spawned


def _cli_stop(data_dir: Path, mongo_uri: str, redis_url: str, cwd: Path
              ) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("FIFTYONE_", "REDIS_URL"))}
    environment.update(FIFTYONE_SYNC_DATA_DIR=str(data_dir), FIFTYONE_DATABASE_URI=mongo_uri,
                       REDIS_URL=redis_url)
    return subprocess.run([str(Path(sys.executable).parent / "fiftyone-sync"), "stop"],
                          env=environment, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_stop_command_stops_recorded_apps_and_leaves_no_process_behind(
        app_manager: AppManager, apps_data_dir: Path, mongo_uri: str, redis_url: str,
        app_base_port: int, tmp_path: Path) -> None:
    """``fiftyone-sync stop``, run as its own process, stops every App server the manager
    recorded in the data dir (their whole process groups), clears the records, and leaves a
    process that a record names but that is no App server alone; the session's own MongoDB,
    which the data dir does not record, keeps running."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        started = list(pool.map(lambda project: app_manager.ensure(
            project, f"fiftyone_project_{project}").record, (1, 2)))
    assert process.query_datasets("127.0.0.1", started[0].port) == [dataset_of(1)]

    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                start_new_session=True)
    try:
        app_manager.records.write(AppRecord(
            "3", 3, stranger.pid, app_base_port + 3, "127.0.0.1", "fiftyone_project_3",
            time.time(), process.process_start_time(stranger.pid),
            str(app_manager.records.log_path("3"))))

        done = _cli_stop(apps_data_dir, mongo_uri, redis_url, tmp_path)

        assert done.returncode == 0, done.stderr
        for record in started:
            assert (f"stopped App server of project {record.project_id} (pid {record.pid}, "
                    f"port {record.port})") in done.stdout
            process.is_running(record.pid)  # reaps our own child if it is a zombie
            assert _group_members(record.pid) == [], f"project {record.project_id} left some"
            assert not port_open(record.port)
        assert "project 3" not in done.stdout
        assert "no embedded store was running" in done.stdout
        assert stranger.poll() is None, "stop signalled a process that is no App server"
        assert app_manager.list() == []
        assert not list(app_manager.records.directory.glob("*.json"))
    finally:
        stranger.kill()
        stranger.wait()

    with pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000) as client:
        assert client.admin.command("ping")["ok"] == 1
