"""``fiftyone-sync demo`` end to end: a real subprocess, real stores, real App, then Ctrl-C.

The demo runs with free ports and a tmp data dir. The test waits for its summary, opens the
App through the access path (GraphQL through the proxy, then a browser that must get every
sample's image), checks that the applet page (as Tator shows it) accepts the token, sends
SIGINT, and checks that every process the demo reported (``state/demo.json``) is gone.

With ``FIFTYONE_SYNC_UPDATE_DOCS=1`` it also saves a screenshot of the App showing the demo
dataset to ``docs/demo-app.png`` (the README's picture of what a newcomer should see).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from fiftyone_sync.apps.manager import stop_all as stop_all_apps
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores.embedded import stop_all as stop_all_stores
from tests.fixtures.net import free_port

SUMMARY_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0
DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "demo-app.png"
CHROMIUM = "/usr/bin/chromium"
OUTSIDE_SERVERS = ("FIFTYONE_DATABASE_URI", "FIFTYONE_DATABASE_NAME", "REDIS_URL",
                   "FASTVSS_API_URL")


class DemoProcess:
    """``fiftyone-sync demo`` in a subprocess, its stdout collected line by line."""

    def __init__(self, data_dir: Path, arguments: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS}
        env.update(FIFTYONE_SYNC_DATA_DIR=str(data_dir), FIFTYONE_SYNC_EMBED_MAP_METHOD="pca")
        script = Path(sys.executable).parent / "fiftyone-sync"
        self.stderr_path = data_dir / "demo-stderr.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [str(script), "demo", *arguments], env=env, stdout=subprocess.PIPE,
                stderr=stderr, stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        """Everything the demo printed so far."""
        return "\n".join(self.lines)

    def wait_for_summary(self, timeout: float = SUMMARY_TIMEOUT) -> str:
        """Waits for the closing message; fails with the output and stderr tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Press Ctrl-C" in self.output:
                return self.output
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        tail = self.stderr_path.read_text(errors="replace")[-3000:]
        raise AssertionError(f"no demo summary (exit {self.process.poll()}):\n{self.output}\n"
                             f"--- stderr ---\n{tail}")

    def stop(self) -> None:
        """Stops the demo whatever state it is in: Ctrl-C first, then SIGKILL."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)

    def interrupt(self) -> int:
        """Ctrl-C, then waits for the demo to exit; returns its exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(STOP_TIMEOUT)


def _field(summary: str, label: str) -> str:
    found = re.search(rf"{label}:\s+(\S+)", summary)
    assert found, f"no {label!r} in the summary:\n{summary}"
    return found.group(1)


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data dir; whatever the demo left running in it is stopped afterwards."""
    yield tmp_path
    state = tmp_path / "demo" / "state" / "demo.json"
    if state.exists():
        for pid in json.loads(state.read_text())["processes"].values():
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if "fiftyone-sync" in " ".join(process.cmdline()):
                    process.kill()
    settings = Settings(data_dir=tmp_path / "demo", database_uri=None, redis_url=None)
    stop_all_apps(settings)
    stop_all_stores(settings)


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_demo_pulls_embeds_opens_the_app_and_stops_everything(demo_dir: Path) -> None:
    update_docs = os.environ.get("FIFTYONE_SYNC_UPDATE_DOCS") == "1"
    images = 12 if update_docs else 4
    ports = [free_port() for _ in range(4)]
    demo = DemoProcess(demo_dir, [
        "--api-port", str(ports[0]), "--tator-port", str(ports[1]),
        "--fastvss-port", str(ports[2]), "--app-base-port", str(ports[3] - 1),
        "--images", str(images)])
    try:
        summary = demo.wait_for_summary()
        counts = re.search(r"(\d+) samples, (\d+) labels, (\d+) embedded \(Fast-VSS (\w+)\)",
                           summary)
        assert counts, summary
        samples, labels, embedded = (int(counts.group(n)) for n in (1, 2, 3))
        # Each image has 3 boxes, the first also a dot, a line and a polygon; the video has
        # 3 annotated frames (one sample each) with 3 boxes and a dot.
        assert (samples, labels) == (images + 3, 3 * images + 7), summary
        assert (embedded, counts.group(4)) == (labels, "ok"), summary

        _check_applet_page(_field(summary, "Tator applet"))
        _check_app(_field(summary, "FiftyOne App"), samples)
        shot = _browse_app(summary, DOCS_PNG if update_docs else demo_dir / "app.png", samples)
        assert shot >= samples, f"the browser loaded {shot} of {samples} images"
        pids = json.loads((demo_dir / "demo" / "state" / "demo.json").read_text())["processes"]
        assert {"api", "worker", "app-1", "mongod", "redis"} <= set(pids), pids
        assert all(psutil.pid_exists(pid) for pid in pids.values()), pids

        assert demo.interrupt() == 0, demo.output
    finally:
        demo.stop()

    assert "demo stopped" in demo.output
    assert not _alive(pids.values()), f"left running: {_alive(pids.values())}"


def _check_applet_page(url: str) -> None:
    """The page shows the launcher as Tator renders it (tparams filled in, in an iframe)."""
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200
    assert "srcdoc=" in page.text
    assert "FiftyOne for Tator project 1" in page.text


def _check_app(url: str, samples: int) -> None:
    """The one-time link opens the App through the access path, showing the dataset."""
    with httpx.Client(timeout=60) as client:
        opened = client.get(url)
        assert opened.status_code == 303, opened.text
        base = url.split("/apps/")[0]
        query = {"query": '{ dataset(name: "tator-p1-v1") { name estimatedSampleCount '
                          "savedViews { slug } } }"}
        answer = client.post(f"{base}/apps/1/graphql", json=query)

    assert answer.status_code == 200, answer.text
    dataset = answer.json()["data"]["dataset"]
    assert dataset["estimatedSampleCount"] == samples
    assert "boxes-patches" in {view["slug"] for view in dataset["savedViews"]}


def _browse_app(summary: str, png: Path, expected: int) -> int:
    """Opens the App in a browser through a fresh access link, screenshots it to ``png``.

    Args:
        summary: the demo's closing message (API URL and token).
        png: where the screenshot goes.
        expected: how many images to wait for (at most 90 s).

    Returns:
        How many images the browser got through the access path's ``/media``.
    """
    from playwright.sync_api import Response, sync_playwright

    api = _field(summary, "API").removesuffix("/docs")
    token = re.search(r"token (Token \S+)\)", summary).group(1)
    launch = httpx.get(f"{api}/launch", params={"project_id": 1},
                       headers={"Authorization": token}, timeout=120).json()
    url = next(row["url"] for row in launch["datasets"] if row["name"] == "tator-p1-v1")
    media: set[str] = set()

    def watch(response: Response) -> None:
        if "/apps/1/media" in response.url and response.status == 200:
            media.add(response.url)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            _verify_token_in_applet(browser, _field(summary, "Tator applet"), token)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.on("response", watch)
            page = context.new_page()
            page.goto(url)
            deadline = time.monotonic() + 90
            while len(media) < expected and time.monotonic() < deadline:
                page.wait_for_timeout(500)
            _dismiss_enterprise_banner(page)
            png.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(png))
        finally:
            browser.close()
    return len(media)


def _verify_token_in_applet(browser: object, url: str, token: str) -> None:
    """The applet, as Tator shows it, accepts the token: its cross-origin calls work."""
    page = browser.new_page()
    page.goto(url)
    applet = page.frame_locator("iframe")
    applet.locator("#token").fill(token.split()[1])
    applet.locator("#verify").click()
    status = applet.locator("#token-status")
    deadline = time.monotonic() + 30
    while "accepted" not in status.inner_text() and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    assert status.inner_text() == "Token accepted for project 1.", status.inner_text()
    page.close()


def _dismiss_enterprise_banner(page: object) -> None:
    """Closes the App's advertising pop-up, when shown, so the screenshot shows the grid."""
    dismiss = page.get_by_text("Dismiss", exact=True)
    if dismiss.count():
        dismiss.first.click()
    page.wait_for_timeout(1500)


def _alive(pids: object) -> list[int]:
    """The pids among ``pids`` that still run (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive
