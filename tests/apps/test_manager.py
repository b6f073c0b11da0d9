"""The App manager against real App servers, a real mongod and real sockets."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import time
from collections.abc import Callable

import pytest

from fiftyone_sync.apps import process
from fiftyone_sync.apps.manager import (
    AppManager,
    AppPortBusy,
    AppStartError,
    IdleReaper,
)
from fiftyone_sync.settings import Settings
from tests.apps.conftest import dataset_of
from tests.fixtures.net import port_open, wait_until


def test_two_projects_run_at_once_each_on_its_own_port_and_database(
        app_manager: AppManager, app_base_port: int) -> None:
    jobs = [(1, "fiftyone_project_1"), (1, "fiftyone_project_1"), (2, "fiftyone_project_2")]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda job: app_manager.ensure(*job), jobs))

    first, second, other = results
    assert first.record.pid == second.record.pid, "two ensures started two servers"
    assert [first.started, second.started].count(True) == 1
    assert first.record.port == app_base_port + 1
    assert other.record.port == app_base_port + 2

    assert process.query_datasets("127.0.0.1", app_base_port + 1) == [dataset_of(1)]
    assert process.query_datasets("127.0.0.1", app_base_port + 2) == [dataset_of(2)]
    listed = {status.record.project_id: status for status in app_manager.list()}
    assert set(listed) == {1, 2} and all(status.running for status in listed.values())


def test_a_killed_server_is_started_again_on_the_next_ensure(app_manager: AppManager) -> None:
    before = app_manager.ensure(1, "fiftyone_project_1").record
    os.killpg(before.pid, signal.SIGKILL)
    wait_until(lambda: not process.is_running(before.pid), what="the App to die")

    again = app_manager.ensure(1, "fiftyone_project_1")

    assert again.restarted and again.started
    assert "no longer running" in (again.reason or "")
    assert again.record.pid != before.pid
    assert process.query_datasets("127.0.0.1", again.record.port) == [dataset_of(1)]


def test_another_database_restarts_the_server_on_it(app_manager: AppManager) -> None:
    app_manager.ensure(2, "fiftyone_project_2")

    moved = app_manager.ensure(2, "fiftyone_project_2_review")

    assert moved.restarted and "fiftyone_project_2_review" in (moved.reason or "")
    assert moved.record.database_name == "fiftyone_project_2_review"
    assert process.query_datasets("127.0.0.1", moved.record.port) == []


def test_an_idle_server_is_stopped_after_the_idle_timeout(
        make_settings: Callable[..., Settings], mongo_uri: str, seeded_projects: dict) -> None:
    manager = AppManager(make_settings(app_idle_timeout=2.0), lambda: mongo_uri)
    reaper = IdleReaper(manager, interval=0.5)
    try:
        record = manager.ensure(1, "fiftyone_project_1").record
        reaper.start()
        manager.touch(1)
        time.sleep(1.0)
        assert process.is_running(record.pid), "stopped before the idle timeout"

        wait_until(lambda: manager.list() == [], timeout=30, what="the idle App to stop")
        assert not process.is_running(record.pid)
        assert not port_open(record.port)
    finally:
        reaper.stop()
        manager.stop_all()


def test_a_port_held_by_another_listener_is_an_error_that_names_it(
        app_manager: AppManager, app_base_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        project = _bind_a_project_port(listener, app_base_port)
        port = app_base_port + project
        listener.listen()

        with pytest.raises(AppPortBusy, match=f"port {port}") as caught:
            app_manager.ensure(project, f"fiftyone_project_{project}")

        assert caught.value.port == port
        assert port_open(port), "the other listener was disturbed"
        assert app_manager.list() == []
        assert app_manager.stop(project) is None


def _bind_a_project_port(listener: socket.socket, base_port: int) -> int:
    """Binds ``listener`` to the first free project port from project 3; returns the project.

    The session's base port was free when chosen, but any later client socket may have taken
    one of its project ports since.
    """
    for project in range(3, 200):
        try:
            listener.bind(("127.0.0.1", base_port + project))
            return project
        except OSError:
            continue
    raise RuntimeError("no free project port to hold")


def test_a_server_that_crashes_on_start_gives_its_log_tail_to_operators_only(
        make_settings: Callable[..., Settings], mongo_uri: str) -> None:
    manager = AppManager(make_settings(app_address="192.0.2.1"), lambda: mongo_uri)

    with pytest.raises(AppStartError, match="exited while starting") as caught:
        manager.ensure(4, "fiftyone_project_4")

    assert "port" in str(caught.value)
    assert "Error" in caught.value.log_tail, caught.value.log_tail
    assert "/" not in str(caught.value), "a server path reached the user's message"
    assert manager.list() == []


def test_a_recycled_pid_is_never_signalled(app_manager: AppManager) -> None:
    record = app_manager.ensure(2, "fiftyone_project_2").record

    assert not process.is_app_process(record.pid, record.port + 1, record.process_started_at)
    assert not process.is_app_process(record.pid, record.port, record.process_started_at - 60)
    assert not process.is_app_process(os.getpid(), record.port, record.process_started_at)
    assert process.is_app_process(record.pid, record.port, record.process_started_at)
