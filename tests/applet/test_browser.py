"""The applet in a real browser, rendered the way Tator renders it, against the running product.

Each test fetches ``/render`` over HTTP, renders it with plain ``jinja2.Template`` and the
applet's tparams (as Tator's backend does), serves the result from ``localhost`` (the API is
``127.0.0.1``: cross-origin, as in production) and drives it in headless chromium. Each step
saves a screenshot under ``artifacts/applet/``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import httpx
import pytest
import redis
from playwright.sync_api import Browser, FrameLocator, Locator, Page, Response, expect

from fiftyone_sync.apps import process as app_process
from fiftyone_sync.emulators.tator import demo
from fiftyone_sync.jobs.store import project_index_key, record_key
from tests.applet.conftest import AppletEnv

pytestmark = pytest.mark.browser

BAD_TOKEN = "0" * 40
LONG = 240_000
"""Milliseconds a whole pull (and its embedding follow-up) may take on a busy machine."""


def _verify(root: Page | FrameLocator, token: str) -> None:
    root.locator("#token").fill(token)
    root.locator("#verify").click()


def _accepted(root: Page | FrameLocator) -> None:
    expect(root.locator("#token-status")).to_contain_text("Token accepted", timeout=30_000)


def counts(box: Locator) -> dict[str, str]:
    """The ``dt``/``dd`` pairs of the first count list inside ``box``, as shown."""
    return box.locator("dl.counts").first.evaluate(
        "list => Object.fromEntries([...list.querySelectorAll('dt')].map("
        "dt => [dt.textContent, dt.nextElementSibling.textContent]))")


def _watch_pull(page: Page, timeout: float) -> list[tuple[str, float | None, float]]:
    """Every distinct (phase text, bar value, bar max) the pull shows until it ends.

    The value is None while the bar is indeterminate (a phase without a total).
    """
    seen: list[tuple[str, float | None, float]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text, value, maximum = page.evaluate(
            "() => { const bar = document.getElementById('pull-bar');"
            " return [document.getElementById('pull-phase').textContent,"
            " bar.hasAttribute('value') ? bar.value : null, bar.max]; }")
        if not seen or seen[-1] != (text, value, maximum):
            seen.append((text, value, maximum))
        if "succeeded" in text or "failed" in text:
            return seen
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out; progress seen: {seen}")


def _pulled_dataset(env: AppletEnv, headers: dict[str, str]) -> str:
    """The dataset of version 1, pulled through the API unless a pull already made it."""
    jobs = httpx.get(f"{env.api_url}/jobs", params={"project_id": 1}, headers=headers,
                     timeout=30).json()["jobs"]
    pulled = [job for job in jobs if job["kind"] == "pull" and job["state"] == "succeeded"]
    if pulled:
        return pulled[0]["dataset"]

    queued = httpx.post(f"{env.api_url}/sync", params={"project_id": 1, "version_id": 1},
                        headers=headers, timeout=30).json()
    deadline = time.monotonic() + LONG / 1000
    while time.monotonic() < deadline:
        job = httpx.get(f"{env.api_url}/jobs/{queued['job_id']}", headers=headers,
                        timeout=30).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            assert job["state"] == "succeeded", (job["error"], env.worker.log()[-3000:])
            return job["dataset"]
        time.sleep(0.5)
    raise AssertionError("the pull did not finish in time")


def test_a_token_is_checked_and_kept_in_memory_only(applet_env: AppletEnv, page: Page,
                                                   shot: Callable, tator_emulator) -> None:
    """A bad and a good token, both styles, in Tator's narrow iframe: only good ones open
    the page, each goes out as ``Token ...`` or ``Bearer ...`` in the header, never in a
    URL or in storage (Tator with single sign-on hands users ``Bearer`` tokens)."""
    applet_env.render(**applet_env.tparams(version_id="2"))
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
    page.goto(applet_env.pages.origin + "/tator")
    frame = page.frame_locator("#applet")

    _verify(frame, BAD_TOKEN)
    expect(frame.locator("#token-status")).to_contain_text("Tator did not accept your token",
                                                           timeout=30_000)
    expect(frame.locator("#pull")).to_be_disabled()
    shot(page, "bad-token")

    _verify(frame, "token  " + tator_emulator.tokens["alice"])
    _accepted(frame)
    expect(frame.locator("#version")).to_have_value("2")
    expect(frame.locator("#version option")).to_have_count(2)
    expect(frame.locator("#service-status")).to_contain_text(
        "Embedding service (Fast-VSS): available")
    expect(frame.locator("#shared-view-note")).to_contain_text("shares one view")
    expect(frame.locator("#pull")).to_be_enabled()
    shot(page, "good-token-in-narrow-iframe")

    token = tator_emulator.tokens["alice"]
    assert ("Token " + token) in {header for _, header in sent}
    assert not any(token in url for url, _ in sent)
    storage = frame.locator("body").evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie]")
    assert storage == [0, 0, ""]

    tator_emulator.load(demo.plankton_fixture(tator_emulator.media_dir, sso=True))
    _verify(frame, "Bearer bearer-mallory")
    expect(frame.locator("#token-status")).to_contain_text("Tator did not accept your token",
                                                           timeout=30_000)
    _verify(frame, "bearer   bearer-alice")
    _accepted(frame)
    shot(page, "bearer-token")
    assert {"Bearer bearer-mallory", "Bearer bearer-alice"} <= {header for _, header in sent}


def test_the_page_works_at_phone_width_with_the_keyboard(applet_env: AppletEnv,
                                                         browser: Browser, shot: Callable,
                                                         tator_emulator) -> None:
    """At 360 px the token is typed and verified with the keyboard alone and nothing needs
    sideways scrolling (the whole round trip by keyboard is in ``test_push_flow``)."""
    url = applet_env.render(**applet_env.tparams(message="Phone check"))
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.goto(url)
        page.keyboard.press("Tab")
        expect(page.locator("#token")).to_be_focused()
        page.keyboard.type(tator_emulator.tokens["bob"])
        page.keyboard.press("Tab")
        expect(page.locator("#verify")).to_be_focused()
        page.keyboard.press("Enter")
        _accepted(page)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        shot(page, "phone")
    finally:
        context.close()

    assert widths[0] <= widths[1], widths


def test_a_pull_shows_progress_to_the_end_and_a_reload_finds_it(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator) -> None:
    """The bar and the text follow the pull (slowed video frames keep it mid-download long
    enough to see "n of m" with the bar at n/m), the result shows its counts, and a reload
    finds the finished pull after the token is entered again."""
    page.goto(applet_env.render(**applet_env.tparams(version_id="1")))
    _verify(page, tator_emulator.tokens["alice"])
    _accepted(page)

    tator_emulator.faults.add("GetFrame", latency=1.5)
    page.locator("#pull").click()
    seen = _watch_pull(page, LONG / 1000)
    shot(page, "pull-finished")
    assert "succeeded" in seen[-1][0], (seen, applet_env.worker.log()[-3000:])
    downloads = [(int(m[1]), int(m[2]), value, maximum) for text, value, maximum in seen
                 if (m := re.search(r"downloading: (\d+) of (\d+)", text))]
    assert any(0 < done < total for done, total, _, _ in downloads), seen
    assert all((value, maximum) == (done, total) for done, total, value, maximum in downloads)
    assert seen[-1][1] == seen[-1][2] > 0, seen
    result = page.locator("#pull-result")
    expect(result).to_contain_text("Pull finished")
    shown = counts(result)
    assert shown["samples"] == "created 6, updated 0, removed 0", shown
    assert shown["labels"] == "created 16, updated 0, unchanged 0, removed 0", shown
    assert (shown["conflicts"], shown["clipped boxes"]) == ("0", "0"), shown
    expect(page.locator("#embed-result")).to_contain_text("embedded", timeout=LONG)
    shot(page, "embeddings")

    page.reload()
    expect(page.locator("#token")).to_have_value("")
    _verify(page, tator_emulator.tokens["alice"])
    _accepted(page)
    expect(page.locator("#jobs")).to_contain_text("pull of version 1: succeeded")
    expect(page.locator("#pull-result")).to_contain_text("created 6")
    shot(page, "after-reload")


def test_the_app_opens_in_a_new_tab_and_shows_the_samples(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator) -> None:
    """Open in FiftyOne starts the App and opens it in a new tab through the access path
    (cross-site, as from Tator), where every sample's picture loads."""
    dataset = _pulled_dataset(applet_env, tator_emulator.headers("alice"))
    tiles: list[Response] = []
    page.context.on("response", lambda r: tiles.append(r) if "/apps/1/media" in r.url
                    and r.status == 200 else None)

    page.goto(applet_env.render(**applet_env.tparams(version_id="1")))
    _verify(page, tator_emulator.tokens["alice"])
    _accepted(page)
    with page.context.expect_page(timeout=120_000) as opened:
        page.locator("#open").click()
    app = opened.value
    expect(page.locator("#open-status")).to_contain_text("opened in a new tab", timeout=120_000)
    expect(page.locator("#dataset-links")).to_contain_text(dataset)
    shot(page, "links")

    deadline = time.monotonic() + 90
    while len({r.url for r in tiles}) < 6 and time.monotonic() < deadline:
        app.wait_for_timeout(500)
    app.wait_for_timeout(1500)
    shot(app, "app-tab", full_page=False)
    assert app.url.startswith(f"{applet_env.api_url}/apps/1/datasets/{dataset}"), app.url
    assert len({r.url for r in tiles}) >= 6, "the App did not show every sample's picture"


def test_a_long_pull_is_found_after_a_reload_and_cancelled(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator) -> None:
    """A slow pull survives a reload of the page (found through /jobs) and Cancel stops
    it: users close and reopen applets while long pulls run."""
    tator_emulator.faults.add("GetLocalizationList", latency=1.5)
    page.goto(applet_env.render(**applet_env.tparams(version_id="1")))
    _verify(page, tator_emulator.tokens["alice"])
    _accepted(page)
    page.locator("#force").check()
    page.locator("#pull").click()
    expect(page.locator("#pull-phase")).to_contain_text("running", timeout=120_000)
    shot(page, "slow-pull-running")

    page.reload()
    _verify(page, tator_emulator.tokens["alice"])
    _accepted(page)
    expect(page.locator("#pull-phase")).to_contain_text("running", timeout=30_000)
    expect(page.locator("#cancel")).to_be_enabled()
    page.locator("#cancel").click()
    expect(page.locator("#pull-error")).to_contain_text("cancelled", timeout=120_000)
    shot(page, "cancelled")
    expect(page.locator("#jobs")).to_contain_text("pull of version 1: cancelled")
    expect(page.locator("#pull")).to_be_enabled()


def test_api_errors_show_their_cause_and_what_to_do(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors caused for real through the page show the API's detail and a next step.

    503: Tator fails while the API checks a token it has not seen yet (and the failure is
    not cached); 422: the picked version was deleted in Tator after the page listed it;
    404: the record of the pull the page follows is lost, as in a Redis restart (the page
    must let the user pull again, not stay stuck); 403: a View Only member pulls; 503: the
    project's App server exits on start (its module is made unimportable here, the way a
    broken install fails). 409 is a stale plan, in ``test_push_flow``.
    """
    page.goto(applet_env.render(**applet_env.tparams(version_id="2")))
    tator_emulator.faults.add("GetProject", status=500, times=1)
    _verify(page, tator_emulator.tokens["erin"])
    status = page.locator("#token-status")
    expect(status).to_contain_text("HTTP 503", timeout=30_000)
    expect(status).to_contain_text("Tator")
    expect(status).to_contain_text("try again in a minute")
    shot(page, "503-tator-failing")
    _verify(page, tator_emulator.tokens["erin"])
    _accepted(page)

    with tator_emulator.store.lock:
        del tator_emulator.store.versions[2]
    page.locator("#pull").click()
    error = page.locator("#pull-error")
    expect(error).to_contain_text("HTTP 422: version 2 is not a version of project 1")
    expect(error).to_contain_text("Verify again to reload the list")
    shot(page, "422-version-deleted")

    tator_emulator.faults.add("GetLocalizationList", latency=1.0)
    page.locator("#version").select_option("1")
    page.locator("#pull").click()
    expect(page.locator("#pull-phase")).to_contain_text("running", timeout=120_000)
    store = redis.Redis.from_url(applet_env.settings.redis_url, decode_responses=True)
    newest = store.zrevrange(project_index_key(1), 0, 0)[0]
    assert json.loads(store.hget(record_key(newest), "kind")) == "pull"
    store.delete(record_key(newest))
    tator_emulator.faults.clear()
    expect(error).to_contain_text(f"HTTP 404: no job {newest}", timeout=30_000)
    expect(error).to_contain_text("(unknown, or expired). Its record expired or was lost")
    expect(error).to_contain_text("see Recent work, or pull again")
    expect(page.locator("#pull-bar")).to_have_attribute("value", "0")
    expect(page.locator("#pull")).to_be_enabled()
    expect(page.locator("#cancel")).to_be_disabled()
    shot(page, "404-job-lost")

    _verify(page, tator_emulator.tokens["carol"])
    _accepted(page)
    page.locator("#pull").click()
    expect(error).to_contain_text("HTTP 403")
    expect(error).to_contain_text("View Only")

    monkeypatch.setattr(app_process, "SERVER_MODULE", "fiftyone_sync_no_such_app_server")
    page.goto(applet_env.render(project="2", sync_service_url=applet_env.api_url))
    _verify(page, tator_emulator.tokens["dave"])
    _accepted(page)
    page.locator("#open").click()
    opening = page.locator("#open-error")
    expect(opening).to_contain_text("HTTP 503", timeout=60_000)
    expect(opening).to_contain_text("project 2")
    expect(opening).to_contain_text("exited while starting")
    expect(opening).to_contain_text("try again in a minute")
    expect(page.locator("#open")).to_be_enabled()
    shot(page, "503-app-exits")


HOSTILE_MESSAGE = ("<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">"
                   "{{7*7}} {% if 1 %}jinja{% endif %} '};window.__pwned=3;// "
                   "</script><script>window.__pwned=4</script>" + "x" * 20_000)


def test_hostile_tparams_show_as_text_and_the_page_still_works(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator) -> None:
    """Quotes, ``</script>``, Jinja syntax and a 20 kB message in tparams show as text,
    run nothing, and the page still verifies a token (Tator renders without autoescape)."""
    page.goto(applet_env.render(**applet_env.tparams(
        message=HOSTILE_MESSAGE, iframe_host='"><script>window.__pwned=5</script>',
        version_id="</script><script>window.__pwned=6</script>",
        base_port="{{ 7*7 }}")))

    message = page.locator("#applet-message").inner_text()
    assert message.startswith("<script>window.__pwned = 1</script><img src=x")
    assert "{{7*7}} {% if 1 %}jinja{% endif %}" in message
    _verify(page, tator_emulator.tokens["alice"])
    _accepted(page)
    shot(page, "hostile-message", full_page=False)
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0
    expect(page.locator("body")).to_contain_text("iframe_host parameter must be a plain host")


def test_a_hostile_project_is_shown_as_text_with_a_problem(
        applet_env: AppletEnv, page: Page, shot: Callable) -> None:
    """A hostile project and service URL are shown as text with two readable problems,
    and the controls stay hidden instead of calling a ``javascript:`` URL."""
    page.goto(applet_env.render(project="<script>window.__pwned=7</script>{{7*7}}",
                                sync_service_url="javascript:window.__pwned=8//"))

    expect(page.locator("h1")).to_contain_text("<script>window.__pwned=7</script>{{7*7}}")
    expect(page.locator(".problem")).to_have_count(2)
    expect(page.locator("#applet")).to_be_hidden()
    shot(page, "hostile-project")
    assert page.evaluate("() => typeof window.__pwned") == "undefined"


def test_a_missing_service_url_leaves_a_readable_page(applet_env: AppletEnv,
                                                      page: Page) -> None:
    """Without sync_service_url the page says what the administrator must add."""
    page.goto(applet_env.render(project="1"))

    expect(page.locator(".problem")).to_contain_text("no sync_service_url parameter")
    expect(page.locator("#applet")).to_be_hidden()


def test_a_page_origin_the_api_does_not_allow_gets_a_clear_message(
        applet_env: AppletEnv, page: Page, tator_emulator) -> None:
    """From an origin missing in FIFTYONE_SYNC_CORS_ORIGINS the browser blocks every call;
    the page names the setting instead of failing silently."""
    applet_env.render(**applet_env.tparams())
    page.goto(applet_env.pages.origin.replace("localhost", "127.0.0.1") + "/")

    expect(page.locator("#service-status")).to_contain_text("Could not reach the sync service")
    _verify(page, tator_emulator.tokens["alice"])
    expect(page.locator("#token-status")).to_contain_text("CORS_ORIGINS")


def test_an_applet_registered_in_tator_renders_and_verifies(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator) -> None:
    """Registered as a Hosted Template and an Applet, the page Tator renders works."""
    tator = httpx.Client(base_url=tator_emulator.url, headers=tator_emulator.headers("alice"),
                         timeout=30)
    template = tator.post("/rest/HostedTemplates/1", json={
        "name": "FiftyOne", "url": f"{applet_env.api_url}/render",
        "tparams": [{"name": "sync_service_url", "value": applet_env.api_url}]})
    assert template.status_code in (200, 201), template.text
    applet = tator.post("/rest/Applets/1", json={
        "name": "FiftyOne sync", "html_file": "", "description": "", "categories": [],
        "template": template.json()["id"],
        "tparams": [{"name": "project", "value": "1"}, {"name": "version_id", "value": "1"}]})
    assert applet.status_code in (200, 201), applet.text
    listed = tator.get("/rest/Applets/1").json()

    applet_env.pages.rendered = listed[-1]["rendered"]
    page.goto(applet_env.pages.origin + "/tator")
    frame = page.frame_locator("#applet")
    _verify(frame, tator_emulator.tokens["bob"])
    _accepted(frame)
    expect(frame.locator("#version")).to_have_value("1")
    shot(page, "rendered-by-tator")
