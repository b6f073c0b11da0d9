"""Access settings against real App servers and sockets: the one-time code's TTL,
cross-site cookies and "direct" mode.

Two API servers live for the module on one data dir, so they share project 1's App server
(started by whichever launches first): a "strict" one (``access_code_ttl`` of 2 s,
``access_cookie_cross_site``) and a "direct" one (``app_mode="direct"``, public URL on
``localhost``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from fiftyone_sync.auth.access import COOKIE_NAME, AccessGrant, sign_cookie
from fiftyone_sync.settings import Settings
from tests.apps.conftest import SECRET, ApiServer, dataset_of
from tests.fixtures.net import free_port

DATASETS_QUERY = {"query": "{ datasets(first: 100, search: \"\") { edges { node { name } } } }"}
CODE_TTL = 2.0


@pytest.fixture(scope="module")
def apis(make_settings: Callable[..., Settings], _tator_server,
         seeded_projects: dict) -> Iterator[dict[str, ApiServer]]:
    """The "strict" and "direct" API servers; every App they recorded is stopped after."""
    direct_port = free_port()
    servers = {
        "strict": ApiServer(make_settings, tator_url=_tator_server.url,
                            access_code_ttl=CODE_TTL, access_cookie_cross_site=True),
        "direct": ApiServer(make_settings, tator_url=_tator_server.url, app_mode="direct",
                            public_url=f"http://localhost:{direct_port}"),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def _launch(api: ApiServer, token: str, project: int = 1) -> dict:
    answer = httpx.get(f"{api.url}/launch", params={"project_id": project},
                       headers={"Authorization": f"Token {token}"}, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _set_cookie_attributes(response: httpx.Response) -> tuple[str, set[str]]:
    """The access cookie's value and its lower-cased attributes (``samesite=none``, ...).

    Parsed by hand: ``http.cookies`` before Python 3.14 rejects ``Partitioned``.
    """
    pair, *attributes = response.headers["set-cookie"].split(";")
    name, _, value = pair.strip().partition("=")
    assert name == COOKIE_NAME, pair
    return value, {attribute.strip().lower() for attribute in attributes}


def test_a_one_time_code_is_refused_once_its_ttl_has_passed(
        apis: dict[str, ApiServer], tator_emulator) -> None:
    """A code from ``/launch`` redeems within ``access_code_ttl`` and is refused after it,
    unused, with no cookie set (the default TTL of 120 s would still accept it)."""
    api = apis["strict"]
    body = _launch(api, tator_emulator.tokens["alice"])

    fresh = httpx.get(body["datasets"][0]["url"])
    time.sleep(CODE_TTL + 0.5)
    expired = httpx.get(body["url"])

    assert fresh.status_code == 303, fresh.text
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert "set-cookie" not in expired.headers


def test_cross_site_cookies_are_samesite_none_secure_and_partitioned(
        apis: dict[str, ApiServer], tator_emulator) -> None:
    """With ``access_cookie_cross_site`` the cookie set on redeeming a code, and the one
    renewed on a request, carry ``SameSite=None; Secure; Partitioned`` (plus HttpOnly and
    the project's path), and the cookie opens the App."""
    api = apis["strict"]
    body = _launch(api, tator_emulator.tokens["alice"])

    redeemed = httpx.get(body["url"])
    assert redeemed.status_code == 303, redeemed.text
    value, attributes = _set_cookie_attributes(redeemed)
    expected = {"samesite=none", "secure", "partitioned", "httponly", "path=/apps/1"}
    assert expected <= attributes, attributes

    graphql = f"{api.url}/apps/1/graphql"
    answer = httpx.post(graphql, json=DATASETS_QUERY, cookies={COOKIE_NAME: value})
    assert answer.status_code == 200, answer.text
    assert [edge["node"]["name"] for edge in answer.json()["data"]["datasets"]["edges"]] == [
        dataset_of(1)]

    now = time.time()
    aging = sign_cookie(AccessGrant("tester", 1, now + 60, issued_at=now), SECRET)
    renewed = httpx.post(graphql, json=DATASETS_QUERY, cookies={COOKIE_NAME: aging})
    assert renewed.status_code == 200, renewed.text
    assert expected <= _set_cookie_attributes(renewed)[1]


def test_direct_mode_launch_returns_the_apps_own_address_without_a_code(
        apis: dict[str, ApiServer], tator_emulator, app_base_port: int) -> None:
    """In "direct" mode ``/launch`` links to the App's own port on the public URL's host
    (``http://localhost:{base + p}/``, not the access path), with no one-time code, and
    that address serves the App and its project's datasets."""
    body = _launch(apis["direct"], tator_emulator.tokens["alice"])

    base = f"http://localhost:{app_base_port + 1}"
    assert body["mode"] == "direct"
    assert body["url"] == f"{base}/"
    assert body["datasets"] == [{"name": dataset_of(1),
                                 "url": f"{base}/datasets/{dataset_of(1)}"}]

    page = httpx.get(body["datasets"][0]["url"], timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()
    answer = httpx.post(f"{base}/graphql", json=DATASETS_QUERY, timeout=30)
    assert [edge["node"]["name"] for edge in answer.json()["data"]["datasets"]["edges"]] == [
        dataset_of(1)]
