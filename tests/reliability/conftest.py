"""Fixtures for reliability tests: the security tests' API fixtures, a MongoDB and a Redis
of the test's own that it may stop and restart without disturbing other tests, and real
``fiftyone-sync worker`` subprocesses (see ``tests/reliability/service.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded
from tests.fixtures.server import serving
from tests.reliability.service import Worker, worker_settings
from tests.security.conftest import api, sec_settings

__all__ = ["api", "fault_api", "fault_settings", "own_stores", "sec_settings", "start_worker"]


@pytest.fixture()
def own_stores(tmp_path: Path) -> Iterator[Settings]:
    """Settings whose ``data_dir`` holds this test's own mongod and Redis (both running).

    Restart them with ``embedded.stop_mongod(s)`` / ``embedded.ensure_mongod(s)`` (same
    for Redis): a restart reuses the previous port when it is free.
    """
    settings = Settings(data_dir=tmp_path / "own-stores")
    embedded.ensure_mongod(settings)
    embedded.ensure_redis(settings)
    yield settings
    embedded.stop_all(settings)


@pytest.fixture()
def fault_settings(sec_settings: Settings) -> Settings:
    """The security settings with a 3 s dataset-lock TTL, so a dead worker's job is
    recognised as failed within seconds rather than the default 30."""
    return sec_settings.model_copy(update={"job_lock_ttl": 3.0, "embed_after_pull": False})


@pytest.fixture()
def fault_api(fault_settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the API served with ``fault_settings`` on a free loopback port."""
    with serving(create_app(fault_settings)) as url, httpx.Client(base_url=url,
                                                                  timeout=60) as client:
        yield client


@pytest.fixture()
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Starts ``fiftyone-sync worker`` subprocesses (Tator timeout 2 s, no embedding after
    pulls; ``monitor_every`` as in :class:`~tests.reliability.service.Worker`, keyword
    arguments add environment); stops every one at teardown."""
    workers: list[Worker] = []

    def start(settings: Settings, monitor_every: int | None = None, **env: str) -> Worker:
        worker = Worker(settings, tmp_path / f"worker-{len(workers)}.log", monitor_every,
                        **worker_settings(**env))
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
