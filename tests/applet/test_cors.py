"""CORS for the applet: Tator's origin may call the API with an ``Authorization`` header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from tests.fixtures.net import free_port
from tests.fixtures.server import serving

TATOR = "https://tator.example.org"


def _settings(tmp_path: Path, **values: object) -> Settings:
    dead = free_port()
    return Settings(data_dir=tmp_path, database_uri=f"mongodb://127.0.0.1:{dead}",
                    redis_url=f"redis://127.0.0.1:{dead}/0", **values)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    """The API allowing Tator's origin (stores dead: CORS must not need them)."""
    with serving(create_app(_settings(tmp_path, cors_origins=[TATOR + "/"]))) as url:
        yield url


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(f"{url}/versions", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"}, timeout=10)


def test_tators_origin_may_send_the_authorization_header(api: str) -> None:
    answer = _preflight(api, TATOR)

    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == TATOR
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in answer.headers


def test_errors_carry_the_cors_header_so_the_applet_can_read_their_detail(api: str) -> None:
    answer = httpx.get(f"{api}/versions", params={"project_id": 1},
                       headers={"Origin": TATOR}, timeout=10)

    assert answer.status_code == 401
    assert answer.headers["access-control-allow-origin"] == TATOR
    assert answer.json()["detail"]


def test_other_origins_are_refused(api: str) -> None:
    answer = _preflight(api, "https://evil.example")

    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


def test_without_origins_the_api_sends_no_cors_headers(tmp_path: Path) -> None:
    with serving(create_app(_settings(tmp_path))) as url:
        answer = httpx.get(f"{url}/health", headers={"Origin": TATOR}, timeout=10)

    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


def test_cors_origins_read_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIFTYONE_SYNC_CORS_ORIGINS", f"{TATOR}, http://localhost:8080")

    assert Settings().cors_origins == [TATOR, "http://localhost:8080"]
