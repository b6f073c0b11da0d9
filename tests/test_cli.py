"""``fiftyone-sync serve``, ``stop`` and ``emulate fastvss`` as a user runs them: separate
processes, real stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded
from tests.fixtures.net import free_port, wait_until

CLI = str(Path(sys.executable).parent / "fiftyone-sync")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FIFTYONE_DATABASE_URI", "REDIS_URL")}
    env.update(FIFTYONE_SYNC_DATA_DIR=str(data_dir), **extra)
    return env


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], env=_env(data_dir), capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data dir whose embedded stores are stopped after the test."""
    yield tmp_path / "data"
    embedded.stop_all(Settings(data_dir=tmp_path / "data"))


@pytest.fixture
def served(data_dir: Path, tmp_path: Path) -> Iterator[str]:
    """``fiftyone-sync serve`` on a free port; yields its URL, then stops the process."""
    port = free_port()
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen([CLI, "serve", "--port", str(port)], env=_env(data_dir),
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _answers(url), timeout=90,
                   what="fiftyone-sync serve")
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_starts_embedded_stores_and_stop_removes_them(served: str, data_dir: Path,
                                                            tmp_path: Path) -> None:
    ready = httpx.get(f"{served}/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert "MongoDB 6.0" in (tmp_path / "serve.log").read_text()
    assert ready.json()["checks"]["mongodb"]["ok"] and ready.json()["checks"]["redis"]["ok"]

    settings = Settings(data_dir=data_dir)
    pids = [embedded.read_record(settings, name).pid for name in ("mongod", "redis")]
    assert all(embedded.pid_alive(pid) for pid in pids)

    result = _run(data_dir, "stop")
    assert result.returncode == 0, result.stderr
    assert not any(embedded.pid_alive(pid) for pid in pids)
    assert httpx.get(f"{served}/ready", timeout=10).status_code == 503


def test_stop_with_nothing_running_says_so(data_dir: Path) -> None:
    result = _run(data_dir, "stop")

    assert result.returncode == 0
    assert "no embedded store was running" in result.stdout


def test_serve_reports_a_locked_mongo_data_dir_readably(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    embedded.ensure_mongod(settings)
    record = settings.state_dir / "mongod.json"
    saved = record.read_text()
    record.unlink()
    try:
        result = _run(data_dir, "serve", "--port", str(free_port()))
    finally:
        record.write_text(saved)

    assert result.returncode == 1
    assert "DBPathInUse" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    contract = {"fastvss_api_url": "FASTVSS_API_URL", "database_uri": "FIFTYONE_DATABASE_URI",
                "database_default": "FIFTYONE_DATABASE_DEFAULT",
                "database_name": "FIFTYONE_DATABASE_NAME", "redis_url": "REDIS_URL"}

    missing = [name for name in Settings.model_fields
               if f"| `{contract.get(name, 'FIFTYONE_SYNC_' + name.upper())}` |" not in readme]
    assert not missing, f"README settings table lacks rows for {missing}"
    assert "| `FIFTYONE_SYNC_LOG_LEVEL` |" in readme


def test_emulate_fastvss_answers_health_and_projects_on_the_given_port(tmp_path: Path) -> None:
    """``emulate fastvss`` stands in for Fast-VSS in demos and by hand: on the chosen port it
    must answer what the product asks first (``/health``, ``/projects``)."""
    port = free_port()
    with open(tmp_path / "fastvss.log", "wb") as log:
        process = subprocess.Popen([CLI, "emulate", "fastvss", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _answers(url), timeout=60,
                   what="fiftyone-sync emulate fastvss")
        assert process.poll() is None, (tmp_path / "fastvss.log").read_text()
        health = httpx.get(f"{url}/health", timeout=10)
        projects = httpx.get(f"{url}/projects", timeout=10)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert projects.json() == {"projects": ["testproject", "otherproject"]}
    assert f"Fast-VSS emulator on {url}" in (tmp_path / "fastvss.log").read_text()
