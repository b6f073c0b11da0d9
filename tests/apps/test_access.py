"""``/launch`` and the access path against the Tator emulator, real App servers and sockets."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from fiftyone_sync.auth.access import COOKIE_NAME, AccessGrant, sign_cookie
from tests.apps.conftest import SECRET, ApiServer, dataset_of
from tests.fixtures.net import port_open

DATASETS_QUERY = {"query": "{ datasets(first: 100, search: \"\") { edges { node { name } } } }"}


def _launch(api: ApiServer, token: str | None, project: int, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Token {token}"} if token else {}
    return httpx.get(f"{api.url}/launch", params={"project_id": project, **params},
                     headers=headers, timeout=120)


def _open(url: str) -> httpx.Client:
    """Follows an access link like a browser's new tab; returns a client holding the cookie."""
    client = httpx.Client(timeout=30)
    answer = client.get(url)
    assert answer.status_code == 303, answer.text
    return client


def _graphql_datasets(client: httpx.Client, api: ApiServer, project: int) -> list[str]:
    answer = client.post(f"{api.url}/apps/{project}/graphql", json=DATASETS_QUERY)
    assert answer.status_code == 200, answer.text
    return [edge["node"]["name"] for edge in answer.json()["data"]["datasets"]["edges"]]


def _cookie(project: int, expires_in: float = 600.0, secret: str = SECRET) -> str:
    return sign_cookie(AccessGrant("tester", project, time.time() + expires_in), secret)


def test_launch_opens_each_project_through_the_access_path(
        start_api: Callable[..., ApiServer], tator_emulator, app_base_port: int,
        seeded_projects: dict[int, list[str]]) -> None:
    api = start_api()

    first = _launch(api, tator_emulator.tokens["bob"], 1)
    second = _launch(api, tator_emulator.tokens["dave"], 2)

    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["project_id"], body["port"], body["database_name"]) == (
        1, app_base_port + 1, "fiftyone_project_1")
    assert body["url"].startswith(f"{api.url}/apps/1/?code=")
    assert [item["name"] for item in body["datasets"]] == [dataset_of(1)]
    assert body["restarted"] is False
    assert second.json()["port"] == app_base_port + 2

    client = httpx.Client(timeout=30)
    redirect = client.get(body["datasets"][0]["url"])
    assert redirect.status_code == 303
    assert redirect.headers["location"] == f"/apps/1/datasets/{dataset_of(1)}?proxy=%2Fapps%2F1"
    set_cookie = redirect.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "path=/apps/1" in set_cookie

    page = client.get(f"{api.url}{redirect.headers['location']}")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert _graphql_datasets(client, api, 1) == [dataset_of(1)]
    assert _graphql_datasets(_open(second.json()["url"]), api, 2) == [dataset_of(2)]

    own = client.get(f"{api.url}/apps/1/media", params={"filepath": seeded_projects[1][0]})
    assert own.status_code == 200
    assert own.content == Path(seeded_projects[1][0]).read_bytes()


def test_media_outside_the_projects_cache_is_refused(
        start_api: Callable[..., ApiServer], seeded_projects: dict[int, list[str]]) -> None:
    api = start_api()
    cookies = {COOKIE_NAME: _cookie(1)}
    own_dir = os.path.dirname(seeded_projects[1][0])

    for filepath in ("/etc/passwd", seeded_projects[2][0], f"{own_dir}/../../../../etc/passwd",
                     own_dir):
        answer = httpx.get(f"{api.url}/apps/1/media", params={"filepath": filepath},
                           cookies=cookies)
        assert answer.status_code == 403, filepath

    twice = httpx.get(f"{api.url}/apps/1/media?filepath={seeded_projects[1][0]}"
                      "&filepath=/etc/passwd", cookies=cookies)
    assert twice.status_code == 400
    dotted = httpx.get(f"{api.url}/apps/1/x/../media?filepath=/etc/passwd", cookies=cookies)
    assert dotted.status_code in (400, 403)


def test_codes_are_single_use_and_cookies_are_checked(
        start_api: Callable[..., ApiServer], tator_emulator) -> None:
    api = start_api()
    launched = _launch(api, tator_emulator.tokens["alice"], 1)
    assert launched.status_code == 200, launched.text
    url = launched.json()["url"]

    client = _open(url)
    assert _graphql_datasets(client, api, 1) == [dataset_of(1)]
    assert httpx.get(url).status_code == 401, "a used code was accepted again"

    graphql = f"{api.url}/apps/1/graphql"
    refusals = {
        "no cookie": {},
        "expired": {COOKIE_NAME: _cookie(1, expires_in=-1)},
        "other project": {COOKIE_NAME: _cookie(2)},
        "forged": {COOKIE_NAME: _cookie(1, secret="not-the-secret")},
        "garbage": {COOKIE_NAME: "abc.def"},
    }
    for case, cookies in refusals.items():
        answer = httpx.post(graphql, json=DATASETS_QUERY, cookies=cookies)
        assert answer.status_code == 401, case

    code = parse_qs(urlsplit(_launch(api, tator_emulator.tokens["alice"], 1).json()["url"])
                    .query)["code"][0]
    assert httpx.get(f"{api.url}/apps/2/", params={"code": code}).status_code == 401


def test_launch_refuses_callers_who_cannot_edit(
        start_api: Callable[..., ApiServer], tator_emulator) -> None:
    api = start_api()

    assert _launch(api, None, 1).status_code == 401
    assert _launch(api, "0" * 40, 1).status_code == 401
    assert _launch(api, tator_emulator.tokens["dave"], 1).status_code == 403
    assert _launch(api, tator_emulator.tokens["carol"], 1).status_code == 403
    assert _launch(api, tator_emulator.tokens["alice"], 1,
                   database_name="fiftyone_project_2").status_code == 422
    assert not port_open(api.settings.app_base_port + 1), "a refused launch started an App"


def test_a_killed_app_comes_back_on_the_next_launch(
        start_api: Callable[..., ApiServer], tator_emulator) -> None:
    api = start_api()
    token = tator_emulator.tokens["alice"]
    assert _launch(api, token, 1).status_code == 200
    (status,) = api.app.state.app_manager.list()
    os.killpg(status.record.pid, signal.SIGKILL)

    again = _launch(api, token, 1)

    assert again.status_code == 200, again.text
    assert again.json()["restarted"] is True
    assert _graphql_datasets(_open(again.json()["url"]), api, 1) == [dataset_of(1)]


def test_a_database_override_restarts_the_app_on_it(
        start_api: Callable[..., ApiServer], tator_emulator) -> None:
    api = start_api()
    token = tator_emulator.tokens["alice"]
    assert _launch(api, token, 1).json()["datasets"][0]["name"] == dataset_of(1)

    moved = _launch(api, token, 1, database_name="fiftyone_project_1_review")

    body = moved.json()
    assert body["restarted"] is True and "fiftyone_project_1_review" in body["restart_reason"]
    assert body["database_name"] == "fiftyone_project_1_review" and body["datasets"] == []
    assert _graphql_datasets(_open(body["url"]), api, 1) == []


def test_a_port_held_by_another_listener_gives_409_naming_it(
        start_api: Callable[..., ApiServer], tator_emulator, app_base_port: int) -> None:
    api = start_api()
    port = app_base_port + 1
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()

        answer = _launch(api, tator_emulator.tokens["alice"], 1)

        assert answer.status_code == 409
        assert f"port {port}" in answer.json()["detail"]
        assert port_open(port), "the other listener was disturbed"


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the request headers it received, as JSON."""

    def do_GET(self) -> None:
        body = json.dumps({name.lower(): value for name, value in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        """Silent."""


@pytest.fixture
def echo_on_project_3(app_base_port: int) -> Iterator[int]:
    """A plain HTTP server on project 3's App port that echoes request headers."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", app_base_port + 3), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app_base_port + 3
    server.shutdown()
    server.server_close()


def test_the_cookie_and_authorization_never_reach_the_app(
        start_api: Callable[..., ApiServer], echo_on_project_3: int) -> None:
    api = start_api()

    answer = httpx.get(f"{api.url}/apps/3/anything", cookies={COOKIE_NAME: _cookie(3)},
                       headers={"Authorization": "Token secret-token", "X-Probe": "kept"})

    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["x-probe"] == "kept"
    assert "cookie" not in seen and "authorization" not in seen


def test_the_event_stream_is_relayed_without_buffering(
        start_api: Callable[..., ApiServer], tator_emulator) -> None:
    api = start_api()
    client = _open(_launch(api, tator_emulator.tokens["alice"], 1).json()["url"])
    payload = {"initializer": None, "events": ["state_update"], "subscription": "apps-test"}

    chunks = []
    began = time.monotonic()
    with client.stream("POST", f"{api.url}/apps/1/events", json=payload,
                       timeout=httpx.Timeout(30, read=None)) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for chunk in stream.iter_text():
            chunks.append((time.monotonic() - began, chunk))
            if len(chunks) >= 3:
                break

    assert any("ping" in chunk for _, chunk in chunks), chunks
    assert chunks[0][0] < 10, "the first event arrived only after buffering"


def test_an_app_page_without_the_prefix_is_sent_to_it(
        start_api: Callable[..., ApiServer]) -> None:
    api = start_api()

    answer = httpx.get(f"{api.url}/apps/1/datasets/{dataset_of(1)}", params={"id": "abc"},
                       cookies={COOKIE_NAME: _cookie(1)})

    assert answer.status_code == 307
    assert answer.headers["location"] == (
        f"/apps/1/datasets/{dataset_of(1)}?id=abc&proxy=%2Fapps%2F1")
