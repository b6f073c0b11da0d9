"""Fixtures for security tests: the API on a real socket, in front of the Tator emulator,
the session's MongoDB and Redis, with ``/embed`` requiring a token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from tests.fixtures.net import free_port
from tests.fixtures.server import serving

SECRET = "security-tests-secret"
FASTVSS_PROJECT = "testproject"


@pytest.fixture()
def sec_settings(tator_emulator, redis_url: str, mongo_uri: str, tmp_path: Path) -> Settings:
    """Settings for one test: the emulator, its own queue, a short token cache."""
    return Settings(
        tator_url=tator_emulator.url, redis_url=redis_url, database_uri=mongo_uri,
        data_dir=tmp_path / "data", secret_key=SECRET,
        job_queue=f"sec-{uuid.uuid4().hex[:8]}", database_default=f"sec{uuid.uuid4().hex[:6]}",
        app_base_port=free_port() - 1, app_idle_timeout=0, token_cache_ttl=1.0,
        embed_require_token=True, fastvss_project_map={1: FASTVSS_PROJECT, 2: "otherproject"},
        fastvss_api_url=f"http://127.0.0.1:{free_port()}", public_url="http://127.0.0.1:9",
    )


@pytest.fixture()
def api(sec_settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the API served on a free loopback port."""
    with serving(create_app(sec_settings)) as url, httpx.Client(base_url=url,
                                                                timeout=60) as client:
        yield client
