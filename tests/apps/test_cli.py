"""``fiftyone-sync apps``: an App started by one command outlives it and is seen by others."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fiftyone_sync.apps import process
from tests.apps.conftest import dataset_of


def _cli(*args: str, data_dir: Path, mongo_uri: str, base_port: int) -> str:
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("FIFTYONE_", "REDIS_URL"))}
    environment.update(FIFTYONE_SYNC_DATA_DIR=str(data_dir), FIFTYONE_DATABASE_URI=mongo_uri,
                       FIFTYONE_SYNC_APP_BASE_PORT=str(base_port),
                       FIFTYONE_SYNC_APP_START_TIMEOUT="90")
    done = subprocess.run([str(Path(sys.executable).parent / "fiftyone-sync"), *args],
                          env=environment, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_apps_start_list_and_stop_all_across_processes(
        apps_data_dir: Path, mongo_uri: str, app_base_port: int,
        seeded_projects: dict) -> None:
    options = {"data_dir": apps_data_dir, "mongo_uri": mongo_uri, "base_port": app_base_port}

    started = _cli("apps", "start", "2", **options)
    assert f"App started on port {app_base_port + 2}" in started
    assert process.query_datasets("127.0.0.1", app_base_port + 2) == [dataset_of(2)]

    listed = _cli("apps", "list", **options)
    assert "running" in listed and "fiftyone_project_2" in listed
    assert "running on port" in _cli("apps", "start", "2", **options)

    stopped = _cli("apps", "stop-all", **options)
    assert f"project 2: stopped App on port {app_base_port + 2}" in stopped
    assert "no App server is recorded" in _cli("apps", "list", **options)
    assert "no App server was running" in _cli("apps", "stop", "2", **options)
