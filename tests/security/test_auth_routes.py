"""Every project route refuses callers without a valid token and a project role.

The routes are enumerated from ``app.routes``, so a route added without an access check
fails here unless it is added to :data:`PUBLIC` with a reason.
"""

from __future__ import annotations

import io
import time
import uuid

import httpx
import pytest
import redis
from fastapi.routing import APIRoute
from PIL import Image

from fiftyone_sync import naming
from fiftyone_sync.api.app import create_app
from fiftyone_sync.auth.access import COOKIE_NAME, AccessGrant, read_cookie, sign_cookie
from fiftyone_sync.embeddings.proxy import EmbedRecord, EmbedStatus, EmbedStore
from fiftyone_sync.jobs.kinds import PULL
from fiftyone_sync.jobs.queue import JobQueue, new_record
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential
from tests.fixtures.server import serving
from tests.security.conftest import FASTVSS_PROJECT, SECRET

PUBLIC = {
    "/health": "liveness, no data",
    "/ready": "readiness, no project data (credentials redacted: test_secrets)",
    "/metrics": "Prometheus counters, no project data",
    "/message": "static Hosted Template",
    "/render": "static Hosted Template",
    "/openapi.json": "API description",
    "/docs": "API description",
    "/docs/oauth2-redirect": "API description",
    "/redoc": "API description",
    "/apps/{project_id}": "redirect to /apps/{project_id}/ only; touches nothing",
}
"""Routes that need no token, each with the reason."""

COOKIE_ROUTES = {"/apps/{project_id}/{path:path}"}
"""Routes guarded by the App access cookie instead of the token (DESIGN.md section 9)."""

SKIPPED_METHODS = {"HEAD", "OPTIONS"}

BODIES = {"/push/conflicts/resolve": {"elemental_ids": "all", "choice": "mine"}}
"""A valid JSON body for routes that take one, so a refusal cannot be a 422 for the body."""


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _flat_routes(routes: list) -> list[tuple[str, set[str]]]:
    """(path template, methods) of every route, looking into included routers."""
    flat = []
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            flat.extend((context.path, set(context.methods))
                        for context in route.effective_route_contexts())
            continue
        path = getattr(route, "path", None)
        assert path in PUBLIC or isinstance(route, APIRoute), (
            f"{path}: an unclassified route; add it to PUBLIC or test its access")
        flat.append((path, set(getattr(route, "methods", None) or {"GET"})))
    return flat


def _project_routes(settings: Settings) -> list[tuple[str, str]]:
    """(method, path template) of every route that is not public."""
    return [(method, path) for path, methods in _flat_routes(create_app(settings).routes)
            if path not in PUBLIC for method in sorted(methods - SKIPPED_METHODS)]


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
    assert "{" not in path, f"no test value for a parameter of {path}; add one to _fill"
    return path


@pytest.fixture()
def targets(sec_settings: Settings, tator_emulator, redis_url: str) -> dict[str, str]:
    """A real job and a real embed request, both of project 1, to ask about."""
    queue = JobQueue(sec_settings)
    database = naming.database_name(1, sec_settings)
    record = new_record(PULL, 1, 1, database, "alice")
    queue.submit(record, Credential("Token", tator_emulator.tokens["alice"]))

    embed = EmbedRecord(str(uuid.uuid4()), FASTVSS_PROJECT, ["a.png"], [], time.time() + 60,
                        status=EmbedStatus.COMPLETED, tator_project_id=1)
    EmbedStore(redis.Redis.from_url(redis_url)).create(embed, ttl=120)
    return {"project_id": "1", "job_id": record.id, "uuid": embed.uuid, "path": "graphql",
            "plan_id": "0" * 32}


def _call(api: httpx.Client, method: str, path: str, headers: dict[str, str],
          cookies: dict[str, str] | None = None) -> httpx.Response:
    """One request as an attacker would send it: well-formed apart from the credentials."""
    kwargs: dict = {"params": {"project_id": 1, "version_id": 1}, "headers": headers}
    if path in BODIES:
        kwargs["json"] = BODIES[path]
    if method == "POST" and path == "/embed":
        kwargs["data"] = {"project": FASTVSS_PROJECT}
        kwargs["files"] = [("files", ("a.png", _png(), "image/png"))]
    api.cookies.clear()
    for name, value in (cookies or {}).items():
        api.cookies.set(name, value)
    return api.request(method, path, **kwargs)


def test_the_enumeration_sees_the_project_routes(sec_settings: Settings) -> None:
    paths = {path for _, path in _project_routes(sec_settings)}
    assert {"/sync", "/launch", "/versions", "/jobs", "/jobs/{job_id}",
            "/jobs/{job_id}/cancel", "/embed", "/embed/{uuid}", "/datasets"} <= paths
    assert COOKIE_ROUTES <= paths


@pytest.mark.parametrize("caller", ["no token", "bad token", "non-member"])
def test_every_project_route_refuses(caller: str, api: httpx.Client, sec_settings: Settings,
                                     tator_emulator, targets: dict[str, str]) -> None:
    headers = {"no token": {}, "bad token": {"Authorization": "Token " + "0" * 40},
               "non-member": tator_emulator.headers("dave")}[caller]
    expected = {"no token": 401, "bad token": 401, "non-member": 403}[caller]
    foreign_cookie = sign_cookie(AccessGrant("dave", 2, time.time() + 600), SECRET)
    cookies = {"no token": None, "bad token": {COOKIE_NAME: "forged.cookie"},
               "non-member": {COOKIE_NAME: foreign_cookie}}[caller]

    wrong = []
    for method, template in _project_routes(sec_settings):
        path = _fill(template, targets)
        if template in COOKIE_ROUTES:
            answer = _call(api, method, path, headers, cookies)
            status = 401
        else:
            answer = _call(api, method, path, headers)
            status = expected
        if answer.status_code != status or not answer.json().get("detail"):
            wrong.append((method, path, answer.status_code, answer.text[:200]))
    assert wrong == [], wrong


def test_a_bogus_access_code_opens_nothing(api: httpx.Client) -> None:
    answer = api.get("/apps/1/", params={"code": "not-a-code"})
    assert answer.status_code == 401
    assert COOKIE_NAME not in answer.headers.get("set-cookie", "")


def test_jobs_are_shown_only_within_their_project(
        api: httpx.Client, tator_emulator, targets: dict[str, str]) -> None:
    job = f"/jobs/{targets['job_id']}"

    assert api.get(job, headers=tator_emulator.headers("carol")).status_code == 200
    assert api.get(job, headers=tator_emulator.headers("dave")).status_code == 403
    listing = api.get("/jobs", params={"project_id": 2}, headers=tator_emulator.headers("dave"))
    assert listing.status_code == 200
    assert targets["job_id"] not in listing.text

    cancel = api.post(f"{job}/cancel", headers=tator_emulator.headers("carol"))
    assert cancel.status_code == 403 and "View Only" in cancel.json()["detail"]


def test_a_revoked_token_stops_working_within_the_cache_ttl(
        api: httpx.Client, sec_settings: Settings, tator_emulator) -> None:
    bob = tator_emulator.headers("bob")
    assert api.get("/versions", params={"project_id": 1}, headers=bob).status_code == 200

    tator_emulator.store.rotate_token(tator_emulator.store.user_named("bob").id)
    time.sleep(sec_settings.token_cache_ttl + 0.5)

    answer = api.get("/versions", params={"project_id": 1}, headers=bob)
    assert answer.status_code == 401, answer.text
    assert "did not accept this token" in answer.json()["detail"]


def test_embed_results_need_a_token_before_any_lookup(api: httpx.Client) -> None:
    answer = api.get(f"/embed/{uuid.uuid4()}")
    assert answer.status_code == 401, answer.text
    assert "Authorization" in answer.json()["detail"]


def _renewed(api: httpx.Client, grant: AccessGrant) -> AccessGrant | None:
    """The grant of the cookie the proxy sets when ``grant``'s cookie is used, if any."""
    api.cookies.clear()
    api.cookies.set(COOKIE_NAME, sign_cookie(grant, SECRET))
    answer = api.get("/apps/1/graphql")
    assert answer.status_code == 502, answer.text  # no App runs; the cookie was accepted
    value = answer.cookies.get(COOKIE_NAME)
    return None if value is None else read_cookie(value, 1, SECRET)


def test_app_access_renewals_stop_at_the_session_max_age(sec_settings: Settings) -> None:
    max_age = 1000.0
    settings = sec_settings.model_copy(update={"access_session_max_age": max_age,
                                               "access_cookie_ttl": 300.0})
    now = time.time()
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as api:
        fresh = _renewed(api, AccessGrant("bob", 1, now + 60, issued_at=now - 10))
        late = _renewed(api, AccessGrant("bob", 1, now + 60, issued_at=now - max_age + 200))
        over = _renewed(api, AccessGrant("bob", 1, now + 60, issued_at=now - max_age - 1))
        legacy = _renewed(api, AccessGrant("bob", 1, now + 60))

    assert fresh is not None and fresh.expires_at >= now + settings.access_cookie_ttl - 5
    assert fresh.issued_at == pytest.approx(now - 10, abs=0.01)
    assert late is not None and late.expires_at == pytest.approx(now + 200, abs=0.01)
    assert over is None and legacy is None
