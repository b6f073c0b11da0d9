"""Embedded mongod and Redis: started once per host, reused across processes, stopped by
``fiftyone-sync stop``, with readable errors and no harm to processes they did not start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pymongo
import pytest
import redis

from fiftyone_sync import stores
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded

ENSURE_BOTH = (
    "import json; from fiftyone_sync.settings import Settings; "
    "from fiftyone_sync.stores import embedded as e; s = Settings(); "
    "e.ensure_mongod(s); e.ensure_redis(s); "
    "print(json.dumps({n: e.read_record(s, n).__dict__ for n in ('mongod', 'redis')}))"
)


def _env(data_dir: Path) -> dict[str, str]:
    """A child environment using ``data_dir`` and no configured stores."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FIFTYONE_DATABASE_URI", "REDIS_URL")}
    env["FIFTYONE_SYNC_DATA_DIR"] = str(data_dir)
    return env


def _ensure_in_child(data_dir: Path) -> dict[str, dict]:
    """Runs ``ensure_mongod`` and ``ensure_redis`` in a new Python process."""
    result = subprocess.run([sys.executable, "-c", ENSURE_BOTH], env=_env(data_dir),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _stop_in_child(data_dir: Path) -> subprocess.CompletedProcess:
    """Runs ``fiftyone-sync stop`` in a new process."""
    return subprocess.run([str(Path(sys.executable).parent / "fiftyone-sync"), "stop"],
                          env=_env(data_dir), capture_output=True, text=True, timeout=120)


def _alive(pid: int) -> bool:
    return embedded.pid_alive(pid)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data dir whose embedded stores are stopped after the test."""
    yield tmp_path
    embedded.stop_all(Settings(data_dir=tmp_path))


def test_started_once_reused_by_other_processes_and_stopped(data_dir: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(_ensure_in_child, [data_dir, data_dir])
    third = _ensure_in_child(data_dir)

    for name in ("mongod", "redis"):
        assert first[name]["pid"] == second[name]["pid"] == third[name]["pid"]
        assert first[name]["port"] == second[name]["port"] == third[name]["port"]
        assert _alive(first[name]["pid"])
        assert Path(first[name]["log_path"]).is_relative_to(data_dir)

    settings = Settings(data_dir=data_dir)
    client = pymongo.MongoClient(embedded.ensure_mongod(settings), serverSelectionTimeoutMS=5000)
    assert client.admin.command("ping")["ok"] == 1.0
    assert redis.Redis.from_url(embedded.ensure_redis(settings)).ping()

    result = _stop_in_child(data_dir)
    assert result.returncode == 0, result.stderr
    assert "stopped embedded mongod" in result.stdout
    for name in ("mongod", "redis"):
        assert not _alive(first[name]["pid"])
        assert embedded.read_record(settings, name) is None


def test_configured_uris_start_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_uri="mongodb://u:p@db.example:27017",
                        redis_url="redis://cache.example:6379/2")

    assert stores.mongo_uri(settings) == "mongodb://u:p@db.example:27017"
    assert stores.redis_url(settings) == "redis://cache.example:6379/2"
    assert not settings.state_dir.exists()


def test_second_mongod_on_same_data_dir_is_refused_with_log_tail(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    embedded.ensure_mongod(settings)
    record_path = settings.state_dir / "mongod.json"
    saved = record_path.read_text()
    record_path.unlink()

    with pytest.raises(embedded.EmbeddedStoreError) as raised:
        embedded.ensure_mongod(settings)
    record_path.write_text(saved)

    message = str(raised.value)
    assert "exited with code" in message
    assert "mongod.log" in message
    assert "DBPathInUse" in message


def test_stale_record_of_another_program_is_neither_reused_nor_killed(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        settings.state_dir.mkdir(parents=True)
        (settings.state_dir / "redis.json").write_text(json.dumps({
            "name": "redis", "pid": stranger.pid, "port": 1, "started_at": 0.0,
            "binary": str(embedded.redis_binary()), "data_path": "x", "log_path": "y",
        }))

        assert _stop_in_child(data_dir).returncode == 0
        assert stranger.poll() is None

        (settings.state_dir / "redis.json").write_text(json.dumps({
            "name": "redis", "pid": stranger.pid, "port": 1, "started_at": 0.0,
            "binary": str(embedded.redis_binary()), "data_path": "x", "log_path": "y",
        }))
        url = embedded.ensure_redis(settings)
        assert embedded.read_record(settings, "redis").pid != stranger.pid
        assert redis.Redis.from_url(url).ping()
    finally:
        stranger.terminate()
        stranger.wait(timeout=10)


def test_known_uris_never_start_a_server(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    assert stores.known_mongo_uri(settings) is None
    assert stores.known_redis_url(settings) is None
    assert embedded.read_record(settings, "mongod") is None
