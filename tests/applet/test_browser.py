"""The applet in a real browser, rendered the way Tator renders it, against the running product.

Each test fetches ``/render`` over HTTP, renders it with plain ``jinja2.Template`` and the
applet's tparams (as Tator's backend does), serves the result from ``localhost`` (the API is
``127.0.0.1``: cross-origin, as in production) and drives it in headless chromium. Each step
saves a screenshot under ``artifacts/applet/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Browser, FrameLocator, Locator, Page, Response, expect

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


def _watch_texts(locator: Locator, until: Callable[[str], bool], timeout: float) -> list[str]:
    """Every distinct text ``locator`` shows until ``until`` accepts one (polled)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = locator.inner_text()
        if not seen or seen[-1] != text:
            seen.append(text)
        if until(text):
            return seen
        locator.page.wait_for_timeout(100)
    raise AssertionError(f"timed out; texts seen: {seen}")


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


def test_the_page_works_at_phone_width_with_the_keyboard(applet_env: AppletEnv,
                                                         browser: Browser, shot: Callable,
                                                         tator_emulator) -> None:
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
    page.goto(applet_env.render(**applet_env.tparams(version_id="1")))
    _verify(page, tator_emulator.tokens["alice"])
    _accepted(page)

    page.locator("#pull").click()
    texts = _watch_texts(page.locator("#pull-phase"), lambda t: "succeeded" in t
                         or "failed" in t, LONG / 1000)
    shot(page, "pull-finished")
    assert "succeeded" in texts[-1], (texts, applet_env.worker.log()[-3000:])
    assert any("running" in text for text in texts), texts
    result = page.locator("#pull-result")
    expect(result).to_contain_text("Pull finished")
    expect(result).to_contain_text(re.compile(r"samples\s*created 6, updated 0, removed 0"))
    expect(result).to_contain_text(re.compile(r"labels\s*created 16"))
    expect(result).to_contain_text("clipped boxes")
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


def test_api_errors_show_their_detail(applet_env: AppletEnv, page: Page,
                                      tator_emulator) -> None:
    page.goto(applet_env.render(**applet_env.tparams()))
    _verify(page, tator_emulator.tokens["carol"])
    _accepted(page)

    page.locator("#pull").click()
    expect(page.locator("#pull-error")).to_contain_text("HTTP 403")
    expect(page.locator("#pull-error")).to_contain_text("View Only")


HOSTILE_MESSAGE = ("<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">"
                   "{{7*7}} {% if 1 %}jinja{% endif %} '};window.__pwned=3;// "
                   "</script><script>window.__pwned=4</script>" + "x" * 20_000)


def test_hostile_tparams_show_as_text_and_the_page_still_works(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator) -> None:
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
    page.goto(applet_env.render(project="<script>window.__pwned=7</script>{{7*7}}",
                                sync_service_url="javascript:window.__pwned=8//"))

    expect(page.locator("h1")).to_contain_text("<script>window.__pwned=7</script>{{7*7}}")
    expect(page.locator(".problem")).to_have_count(2)
    expect(page.locator("#applet")).to_be_hidden()
    shot(page, "hostile-project")
    assert page.evaluate("() => typeof window.__pwned") == "undefined"


def test_a_missing_service_url_leaves_a_readable_page(applet_env: AppletEnv,
                                                      page: Page) -> None:
    page.goto(applet_env.render(project="1"))

    expect(page.locator(".problem")).to_contain_text("no sync_service_url parameter")
    expect(page.locator("#applet")).to_be_hidden()


def test_a_page_origin_the_api_does_not_allow_gets_a_clear_message(
        applet_env: AppletEnv, page: Page, tator_emulator) -> None:
    applet_env.render(**applet_env.tparams())
    page.goto(applet_env.pages.origin.replace("localhost", "127.0.0.1") + "/")

    expect(page.locator("#service-status")).to_contain_text("Could not reach the sync service")
    _verify(page, tator_emulator.tokens["alice"])
    expect(page.locator("#token-status")).to_contain_text("CORS_ORIGINS")


def test_an_applet_registered_in_tator_renders_and_verifies(
        applet_env: AppletEnv, page: Page, shot: Callable, tator_emulator) -> None:
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
