"""Secrets stay secret: no Tator token and no MongoDB password in answers, logs or Redis.

The full-flow test drives a real pull through a worker subprocess, ``/launch`` and a request
proxied to the App server, capturing every log record of the API (in this process) and
everything the worker and the App server wrote, then searches it all for the tokens used.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from tests.fixtures.net import free_port
from tests.fixtures.server import serving
from tests.jobs.helpers import WorkerProcess

PASSWORD = "S3cr3t-Mongo-Pw"
DATASETS_QUERY = {"query": "{ datasets(first: 10, search: \"\") { edges { node { name } } } }"}


def _serve_and_stop_apps(app):
    """Serves ``app``; afterwards stops every App server its manager started."""
    class _Serving:
        def __enter__(self) -> str:
            self._context = serving(app)
            return self._context.__enter__()

        def __exit__(self, *exc: object) -> None:
            self._context.__exit__(*exc)
            manager = getattr(app.state, "app_manager", None)
            if manager is not None:
                manager.stop_all()
    return _Serving()


def test_ready_never_shows_a_database_password(
        sec_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    uri = f"mongodb://admin:{PASSWORD}@127.0.0.1:{free_port()}/?authSource=admin"
    settings = sec_settings.model_copy(update={"database_uri": uri})

    with serving(create_app(settings)) as url:
        answer = httpx.get(f"{url}/ready", timeout=30)

    assert answer.status_code == 503
    mongo = answer.json()["checks"]["mongodb"]
    assert mongo["ok"] is False and "admin:***@127.0.0.1" in mongo["detail"]
    assert PASSWORD not in answer.text
    assert "readiness check mongodb failed" in caplog.text
    assert PASSWORD not in caplog.text


def _redis_text(redis_url: str) -> str:
    """Every string, hash and list value in Redis as text: job records, RQ payloads."""
    client = redis.Redis.from_url(redis_url)
    chunks = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            chunks.append(repr(client.get(key)))
        elif kind == "hash":
            chunks.append(repr(client.hgetall(key)))
        elif kind == "list":
            chunks.append(repr(client.lrange(key, 0, -1)))
    assert chunks
    return "\n".join(chunks)


def _all_files_text(root: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in root.rglob("*")
                     if path.is_file() and path.stat().st_size < 50_000_000)


def test_a_full_flow_leaks_no_token(
        sec_settings: Settings, tator_emulator, redis_url: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    alice = tator_emulator.headers("alice")
    token = tator_emulator.tokens["alice"]
    settings = sec_settings.model_copy(update={"job_lock_ttl": 5.0, "app_start_timeout": 120})
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    app = create_app(settings)
    try:
        with _serve_and_stop_apps(app) as url, httpx.Client(base_url=url, timeout=180) as api:
            queued = api.post("/sync", params={"project_id": 1, "version_id": 1},
                              headers=alice)
            assert queued.status_code == 202, queued.text
            job = _wait_final(api, queued.json()["job_id"], alice)
            assert job["state"] == "succeeded", job

            launched = api.get("/launch", params={"project_id": 1}, headers=alice)
            assert launched.status_code == 200, launched.text
            link = urlsplit(launched.json()["url"])
            browser = httpx.Client(base_url=url, timeout=60)
            opened = browser.get(f"{link.path}?{link.query}")
            assert opened.status_code == 303, opened.text
            names = browser.post("/apps/1/graphql", json=DATASETS_QUERY)
            browser.close()
            assert names.status_code == 200, names.text
            assert "tator-p1-v1" in names.text
            answers = "\n".join([queued.text, str(job), launched.text, opened.headers.get(
                "location", ""), opened.headers.get("set-cookie", "")])
    finally:
        worker.stop()

    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "succeeded" in worker.log() and len(logs) > 0
    for place, text in [("API logs", logs), ("worker output", worker.log()),
                        ("answers and URLs", answers),
                        ("data dir (App logs, state)", _all_files_text(settings.data_dir)),
                        ("Redis", _redis_text(redis_url))]:
        for secret in tator_emulator.tokens.values():
            assert secret not in text, f"a Tator token appears in the {place}"
    assert token not in answers


def _wait_final(api: httpx.Client, job_id: str, headers: dict[str, str],
                timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")
