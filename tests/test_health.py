"""/health, /ready, /metrics and the domain error handlers, against real MongoDB and Redis."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from fiftyone_sync import __version__
from fiftyone_sync.api.app import create_app
from fiftyone_sync.settings import Settings
from tests.fixtures.net import free_port
from tests.fixtures.server import serving


def _settings(tmp_path: Path, mongo: str | None, redis: str | None) -> Settings:
    return Settings(data_dir=tmp_path, database_uri=mongo, redis_url=redis,
                    fastvss_api_url=f"http://127.0.0.1:{free_port()}")


def test_health_says_alive_and_version(tmp_path: Path) -> None:
    with serving(create_app(_settings(tmp_path, None, None))) as url:
        response = httpx.get(f"{url}/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_ready_when_mongo_and_redis_answer(tmp_path: Path, mongo_uri: str,
                                          redis_url: str) -> None:
    with serving(create_app(_settings(tmp_path, mongo_uri, redis_url))) as url:
        response = httpx.get(f"{url}/ready", timeout=10)

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["mongodb"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["disk"]["ok"]
    assert body["checks"]["fastvss"] == {**body["checks"]["fastvss"], "ok": False,
                                         "required": False}


def test_unready_when_redis_is_unreachable(tmp_path: Path, mongo_uri: str) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with serving(create_app(_settings(tmp_path, mongo_uri, dead_redis))) as url:
        response = httpx.get(f"{url}/ready", timeout=10)

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unready"
    assert body["checks"]["mongodb"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert "ConnectionError" in body["checks"]["redis"]["detail"]
    assert body["checks"]["redis"]["seconds"] < 5


def test_unready_without_running_embedded_stores(tmp_path: Path) -> None:
    with serving(create_app(_settings(tmp_path, None, None))) as url:
        response = httpx.get(f"{url}/ready", timeout=10)

    body = response.json()
    assert response.status_code == 503
    assert "not running" in body["checks"]["mongodb"]["detail"]
    assert "not running" in body["checks"]["redis"]["detail"]
    assert not (tmp_path / "state" / "mongod.json").exists()


def test_metrics_label_requests_by_route_template(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, None, None))

    @app.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict:
        return {"id": thing_id}

    with serving(app) as url:
        assert httpx.get(f"{url}/things/4242").status_code == 200
        assert httpx.get(f"{url}/no/such/path/777").status_code == 404
        text = httpx.get(f"{url}/metrics").text

    assert ('fiftyone_sync_http_requests_total{method="GET",route="/things/{thing_id}",'
            'status="200"}') in text
    assert 'route="<unmatched>",status="404"' in text
    assert "fiftyone_sync_http_request_duration_seconds_bucket" in text
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert not any("4242" in route or "777" in route for route in routes), routes


@pytest.mark.parametrize("project", ["0", "70000"])
def test_naming_error_becomes_422_with_reason(tmp_path: Path, project: str) -> None:
    app = create_app(_settings(tmp_path, None, None))

    @app.get("/port/{project}")
    def port(project: str) -> dict:
        from fiftyone_sync.naming import app_port

        return {"port": app_port(project, 5151)}

    with serving(app) as url:
        response = httpx.get(f"{url}/port/{project}")

    assert response.status_code == 422
    assert project in response.json()["detail"]
