"""A real browser follows a ``/launch`` link from another site and sees the dataset's samples.

The page with the link is served from ``http://localhost:<port>`` and the API is reached as
``http://127.0.0.1:<port>``: two different sites, as Tator and this service are in
production, so the access cookie must survive a cross-site top-level navigation.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Response, sync_playwright

from tests.apps.conftest import ApiServer, dataset_of
from tests.fixtures.net import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def link_page() -> Iterator[Callable[[str], str]]:
    """Serves a one-link page on ``localhost``; returns a setter of the link's target."""
    target = {"href": ""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (f'<html><body><h1>Tator applet stand-in</h1><a id="open" '
                    f'href="{target["href"]}" target="_blank">Open in FiftyOne</a>'
                    "</body></html>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Silent."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def point_at(href: str) -> str:
        target["href"] = href
        return f"http://localhost:{server.server_address[1]}/"

    yield point_at
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_a_browser_opens_the_app_from_another_site_and_sees_samples(
        start_api: Callable[..., ApiServer], tator_emulator,
        link_page: Callable[[str], str]) -> None:
    api = start_api()
    launched = httpx.get(f"{api.url}/launch", params={"project_id": 1},
                         headers=tator_emulator.headers("alice"), timeout=120)
    assert launched.status_code == 200, launched.text
    page_url = link_page(launched.json()["datasets"][0]["url"])

    media: list[Response] = []
    refused: list[str] = []

    def watch(response: Response) -> None:
        if "/apps/1/media" in response.url and response.status == 200:
            media.append(response)
        if response.status in (401, 403):
            refused.append(response.url)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.on("response", watch)
            page = context.new_page()
            page.goto(page_url)
            with context.expect_page() as opened:
                page.click("#open")
            app = opened.value

            deadline = time.monotonic() + 90
            while len(media) < 2 and time.monotonic() < deadline:
                app.wait_for_timeout(500)
            _dismiss_enterprise_banner(app)
            ARTIFACTS.mkdir(exist_ok=True)
            app.screenshot(path=str(ARTIFACTS / "app-through-access-path.png"))
            final_url = app.url
            named = app.get_by_text(dataset_of(1), exact=True).count()
            counted = app.get_by_text("2 samples", exact=True).count()
        finally:
            browser.close()

    assert final_url.startswith(f"{api.url}/apps/1/datasets/{dataset_of(1)}")
    assert "proxy=%2Fapps%2F1" in final_url
    assert not refused, refused
    assert len({response.url for response in media}) >= 2, "the samples' images never loaded"
    assert named >= 1, "the App does not show the dataset's name"
    assert counted >= 1, "the App's grid does not count the dataset's 2 samples"


def _dismiss_enterprise_banner(app: Page) -> None:
    """Closes the App's advertising pop-up (when shown) so the screenshot shows the grid."""
    dismiss = app.get_by_text("Dismiss", exact=True)
    if dismiss.count():
        dismiss.first.click()
    app.wait_for_timeout(1500)
