"""``fiftyone-sync demo`` end to end: a real subprocess, real stores, real App, then Ctrl-C.

The demo runs with free ports and a tmp data dir. The main test waits for its summary, checks
the progress it printed, that every pulled video box covers the drawn object on its frame,
opens the App through the access path (GraphQL through the proxy, then a browser that must get
every sample's image), checks that the applet page (as Tator shows it) accepts the token,
sends SIGINT, and checks that nothing it started is left: no process of its tree (captured
while it ran), none it recorded (``state/demo.json``), nothing on its ports. Then it runs the
demo a second time on the same data dir: nothing is downloaded again and the pull changes
nothing. Another test runs the demo on the real marine-life images of
``<repo>/../shared/data/fastvss-test-images`` (``--data``).

With ``FIFTYONE_SYNC_UPDATE_DOCS=1`` it also saves a screenshot of the App showing the demo
dataset to ``docs/demo-app.png`` (the README's picture of what a newcomer should see).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
import pymongo
import pytest
from PIL import Image

from fiftyone_sync import demo as demo_module
from fiftyone_sync.apps.manager import stop_all as stop_all_apps
from fiftyone_sync.emulators.tator import demo as tator_demo
from fiftyone_sync.settings import Settings
from fiftyone_sync.stores.embedded import stop_all as stop_all_stores
from tests.fixtures.net import free_port

SUMMARY_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0
REPO = Path(__file__).resolve().parents[1]
DOCS_PNG = REPO / "docs" / "demo-app.png"
SHARED_IMAGES = REPO.parent / "shared" / "data" / "fastvss-test-images"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
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
        self.began = time.monotonic()
        self.seconds_to_summary: float | None = None
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
                self.seconds_to_summary = round(time.monotonic() - self.began, 1)
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

    def ports(self) -> set[int]:
        """Every loopback port the demo printed (stores, emulators, API, App)."""
        return {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", self.output)}

    def tree(self) -> dict[int, str]:
        """The demo's process tree right now, and whatever listens on its ports: pid ->
        command line (captured while it runs, to check after Ctrl-C that all of it ended)."""
        found = {}
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                found[child.pid] = " ".join(child.cmdline())
        ports = self.ports()
        for pid, port in _listeners(ports):
            with contextlib.suppress(psutil.Error):
                found[pid] = f"{' '.join(psutil.Process(pid).cmdline())} (port {port})"
        found.pop(self.process.pid, None)
        return found


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
    demo = _start_demo(demo_dir, ["--data", "plankton", "--images", str(images)])
    try:
        summary = demo.wait_for_summary()
        samples, labels = _counts(summary)
        # Each image has 3 boxes, the first also a dot, a line and a polygon; the video has
        # 3 annotated frames (one sample each) with 3 boxes and a dot.
        assert (samples, labels) == (images + 3, 3 * images + 7), summary
        assert f"{labels} labels, {labels} embedded (Fast-VSS ok)" in summary, summary
        _check_progress(summary)
        report = _pull_report(summary)
        assert report["files"] >= images and report["new_labels"] == labels, summary
        calls = httpx.get(f"{_tator_url(summary)}/_emulator/calls", timeout=30).json()["calls"]
        assert (calls.get("DownloadObject", 0), calls.get("GetFrame", 0)) == (images, 3), calls

        mongo = _mongo(summary)
        _check_video_boxes_cover_the_object(mongo)
        _check_applet_page(_field(summary, "Tator applet"))
        _check_app(_field(summary, "FiftyOne App"), samples)
        shot = _browse_app(summary, DOCS_PNG if update_docs else demo_dir / "app.png", samples)
        assert shot >= samples, f"the browser loaded {shot} of {samples} images"
        pids = json.loads((demo_dir / "demo" / "state" / "demo.json").read_text())["processes"]
        assert {"api", "worker", "app-1", "mongod", "redis"} <= set(pids), pids
        assert all(psutil.pid_exists(pid) for pid in pids.values()), pids
        tree, ports = demo.tree(), demo.ports()
        assert set(pids.values()) <= set(tree), (pids, tree)

        assert demo.interrupt() == 0, demo.output
    finally:
        demo.stop()

    assert "demo stopped" in demo.output
    _check_nothing_left(tree, ports, demo_dir)
    cold = demo.seconds_to_summary

    warm = _start_demo(demo_dir, ["--data", "plankton", "--images", str(images)])
    try:
        summary = warm.wait_for_summary()
        calls = httpx.get(f"{_tator_url(summary)}/_emulator/calls", timeout=30).json()["calls"]
        tree, ports = warm.tree(), warm.ports()
        assert warm.interrupt() == 0, warm.output
    finally:
        warm.stop()
    print(f"demo time to summary: cold {cold} s, warm {warm.seconds_to_summary} s")

    assert _counts(summary) == (samples, labels), summary
    assert _pull_report(summary) == {"files": 0, "new_samples": 0, "updated_samples": 0,
                                     "removed_samples": 0, "new_labels": 0,
                                     "updated_labels": 0, "unchanged_labels": labels,
                                     "removed_labels": 0}, summary
    assert "done  embed: 0 labels embedded" in summary, summary
    assert calls.get("GetLocalizationList", 0) >= 1, calls
    assert {op: calls.get(op, 0) for op in ("DownloadInfo", "DownloadObject", "GetFrame")} \
        == {"DownloadInfo": 0, "DownloadObject": 0, "GetFrame": 0}, calls
    _check_nothing_left(tree, ports, demo_dir)


@pytest.mark.timeout(300)
def test_demo_on_the_real_marine_life_images(demo_dir: Path) -> None:
    if not SHARED_IMAGES.is_dir():
        pytest.skip(f"no real images at {SHARED_IMAGES} (../shared is not next to the repo)")
    folders = {folder.name: [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
               for folder in SHARED_IMAGES.iterdir() if folder.is_dir()}
    images = sum(len(paths) for paths in folders.values())
    demo = _start_demo(demo_dir, ["--data", str(SHARED_IMAGES)])
    try:
        summary = demo.wait_for_summary()
        mongo = _mongo(summary)
        boxes = {doc["tator_media_name"]: [d["label"] for d in doc["boxes"]["detections"]]
                 for doc in mongo.find({}, {"tator_media_name": 1, "boxes": 1})}
        tree, ports = demo.tree(), demo.ports()
        assert demo.interrupt() == 0, demo.output
    finally:
        demo.stop()
    print(f"demo on {images} real images: {demo.seconds_to_summary} s to the summary")

    assert _counts(summary) == (images, images), summary
    assert f"{images} embedded (Fast-VSS ok)" in summary, summary
    assert len(boxes) == images, boxes
    assert all(labels == [name.split("/")[0]] for name, labels in boxes.items()), boxes
    assert {labels[0] for labels in boxes.values()} == set(folders), boxes
    _check_nothing_left(tree, ports, demo_dir)


def test_video_boxes_dot_line_and_polygon_are_on_the_moving_object(tmp_path: Path) -> None:
    """Every localization of the drawn video lies on the object as drawn on its frame."""
    crops = tmp_path / "crops"
    for label in ("atolla", "kelp"):
        (crops / label).mkdir(parents=True)
        Image.new("RGB", (64, 48), (20, 60, 90)).save(crops / label / f"{label}1.png")
    plankton = tator_demo.plankton_fixture(tmp_path / "media", images=1)
    marine = tator_demo.marine_fixture(crops, tmp_path / "media")
    video = tmp_path / "media" / tator_demo.VIDEO_NAME
    frames = _decoded_frames(video)

    for fixture in (plankton, marine):
        locs = [loc for loc in fixture["projects"][0]["localizations"]
                if loc["media"] == tator_demo.VIDEO_NAME]
        boxes = [loc for loc in locs if loc["type"] == "Boxes"]
        assert sorted(loc["frame"] for loc in boxes) == [0, 5, 10]
        for box in boxes:
            _assert_box_covers_object(frames[box["frame"]], box, f"frame {box['frame']}")
        for dot in (loc for loc in locs if loc["type"] == "Dots"):
            assert _object_at(frames[dot["frame"]], dot["x"], dot["y"]), dot

    shapes = {loc["type"]: loc for loc in marine["projects"][0]["localizations"]
              if loc["media"] == tator_demo.VIDEO_NAME and loc["type"] in ("Lines", "Polys")}
    line, poly = shapes["Lines"], shapes["Polys"]
    middle = (line["x"] + line["u"] / 2, line["y"] + line["v"] / 2)
    assert _object_at(frames[line["frame"]], *middle), line
    assert math.hypot(line["u"] * 320, line["v"] * 240) > 30, line
    xs, ys = [p[0] for p in poly["points"]], [p[1] for p in poly["points"]]
    _assert_box_covers_object(frames[poly["frame"]], {
        "x": min(xs) - 0.01, "y": min(ys) - 0.01, "width": max(xs) - min(xs) + 0.02,
        "height": max(ys) - min(ys) + 0.02}, "the polygon's extent")
    labels = marine["projects"][0]["localization_types"][0]["attribute_types"][0]["choices"]
    assert labels == ["atolla", "kelp", "Salp", "Unknown"]


def test_demo_project_is_the_real_images_when_there_else_drawn(tmp_path: Path,
                                                               monkeypatch) -> None:
    crops = tmp_path / "crops"
    (crops / "jelly").mkdir(parents=True)
    Image.new("RGB", (32, 32), (20, 60, 90)).save(crops / "jelly" / "j.png")
    (crops / "NOTICE.md").write_text("not an image")
    media = tmp_path / "media"

    def names(options: demo_module.DemoOptions) -> list[str]:
        fixture, _ = demo_module.demo_fixture(options, media)
        return [m["name"] for m in fixture["projects"][0]["media"]]

    monkeypatch.setattr(demo_module, "shared_images", lambda: crops)
    assert names(demo_module.DemoOptions()) == ["jelly/j.png", "index_clip.mp4"]
    assert names(demo_module.DemoOptions(data=Path("plankton"), images=2)) == [
        "plankton_000.png", "plankton_001.png", "index_clip.mp4"]
    assert names(demo_module.DemoOptions(data=crops)) == ["jelly/j.png"]
    monkeypatch.setattr(demo_module, "shared_images", lambda: None)
    assert names(demo_module.DemoOptions(images=1)) == ["plankton_000.png", "index_clip.mp4"]
    with pytest.raises(demo_module.DemoError, match="no images laid out"):
        demo_module.demo_fixture(demo_module.DemoOptions(data=media), media)
    with pytest.raises(demo_module.DemoError, match="is not a folder"):
        demo_module.demo_fixture(demo_module.DemoOptions(data=tmp_path / "nope"), media)


def _start_demo(data_dir: Path, arguments: list[str]) -> DemoProcess:
    """The demo on free ports, in ``data_dir``."""
    ports = [free_port() for _ in range(4)]
    return DemoProcess(data_dir, [
        "--api-port", str(ports[0]), "--tator-port", str(ports[1]),
        "--fastvss-port", str(ports[2]), "--app-base-port", str(ports[3] - 1), *arguments])


def _counts(summary: str) -> tuple[int, int]:
    """(samples, labels) from the summary."""
    counts = re.search(r"(\d+) samples, (\d+) labels, (\d+) embedded", summary)
    assert counts, summary
    return int(counts.group(1)), int(counts.group(2))


def _pull_report(output: str) -> dict[str, int]:
    """What the pull's ``done`` line says each phase did."""
    found = re.search(
        r"done  pull: downloading: (\d+) files \(.*?\); writing: samples (\d+) new, (\d+) "
        r"updated, (\d+) removed; labels (\d+) new, (\d+) updated, (\d+) unchanged, "
        r"(\d+) removed", output)
    assert found, output
    keys = ("files", "new_samples", "updated_samples", "removed_samples", "new_labels",
            "updated_labels", "unchanged_labels", "removed_labels")
    return dict(zip(keys, (int(value) for value in found.groups()), strict=True))


def _check_progress(output: str) -> None:
    """The console says what is starting before it is up, and shows the pull's phases."""
    lines = output.splitlines()

    def first(prefix: str) -> int:
        found = [n for n, line in enumerate(lines) if line.startswith(prefix)]
        assert found, f"no line starting {prefix!r} in:\n{output}"
        return found[0]

    for starting, up in [("embedded MongoDB and Redis", "embedded mongod"),
                         ("Tator emulator", "Tator emulator"),
                         ("Fast-VSS emulator", "Fast-VSS emulator"), ("API", "API"),
                         ("worker", "worker"), ("FiftyOne App", "FiftyOne App")]:
        assert first(f"start {starting}") < first(f"  up  {up}"), (starting, output)
    assert first("start pull") < first("job   pull") < first("done  pull") \
        < first("start embedding") < first("done  embed"), output
    phases = {line.split(":", 1)[1].strip() for line in lines if "pull phase:" in line}
    assert phases & {"listing", "downloading", "writing"}, output
    assert re.search(r"^pull: done .* (\d+)/\1 ", output, re.MULTILINE), output


def _tator_url(summary: str) -> str:
    return _field(summary, "Tator applet").removesuffix(demo_module.APPLET_PATH)


def _mongo(summary: str) -> object:
    """The pulled dataset's sample collection, in the demo's embedded MongoDB."""
    port = re.search(r"up  embedded mongod\s+127\.0\.0\.1:(\d+)", summary).group(1)
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=5000)
    database = client["fiftyone_project_1"]
    dataset = database.datasets.find_one({"name": "tator-p1-v1"})
    assert dataset is not None, database.list_collection_names()
    return database[dataset["sample_collection_name"]]


def _check_video_boxes_cover_the_object(samples: object) -> None:
    """Each pulled video frame's box covers the drawn object in the frame image pulled."""
    frames = list(samples.find({"tator_media_name": tator_demo.VIDEO_NAME}))
    assert sorted(doc["frame"] for doc in frames) == [0, 5, 10], frames
    for doc in frames:
        rgb = np.asarray(Image.open(doc["filepath"]).convert("RGB"))
        for det in doc["boxes"]["detections"]:
            x, y, w, h = det["bounding_box"]
            _assert_box_covers_object(rgb, {"x": x, "y": y, "width": w, "height": h},
                                      f"pulled frame {doc['frame']}")


def _decoded_frames(video: Path) -> list[np.ndarray]:
    """Every frame of ``video`` as RGB, decoded here with OpenCV."""
    capture, frames = cv2.VideoCapture(str(video)), []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    assert len(frames) == tator_demo.VIDEO_FRAMES
    return frames


def _object_mask(rgb: np.ndarray) -> np.ndarray:
    """The drawn object's pixels: coloured, unlike the blue-black water and the grey index
    text and bars; above the bars (the lower third)."""
    channels = rgb.astype(np.int16)
    mask = channels.max(axis=2) - channels.min(axis=2) > 80
    mask[rgb.shape[0] * 2 // 3:] = False
    return mask


def _object_at(rgb: np.ndarray, x: float, y: float) -> bool:
    height, width = rgb.shape[:2]
    return bool(_object_mask(rgb)[int(y * height), int(x * width)])


def _assert_box_covers_object(rgb: np.ndarray, box: dict[str, float], where: str) -> None:
    """The box holds (almost) all of the object, and the object fills much of the box: the
    pixels inside it differ from the background."""
    height, width = rgb.shape[:2]
    mask = _object_mask(rgb)
    x0, y0 = int(box["x"] * width), int(box["y"] * height)
    x1 = math.ceil((box["x"] + box["width"]) * width)
    y1 = math.ceil((box["y"] + box["height"]) * height)
    inside = mask[y0:y1, x0:x1]
    assert mask.sum() > 200, f"{where}: no object drawn"
    assert inside.sum() >= 0.97 * mask.sum(), \
        f"{where}: the box {box} holds {inside.sum()} of the object's {mask.sum()} pixels"
    assert inside.mean() >= 0.3, f"{where}: the object fills {inside.mean():.0%} of {box}"


def _listeners(ports: set[int]) -> list[tuple[int, int]]:
    """(pid, port) of every process listening on one of ``ports``."""
    return [(conn.pid, conn.laddr.port) for conn in psutil.net_connections("tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port in ports and conn.pid]


def _check_nothing_left(tree: dict[int, str], ports: set[int], data_dir: Path) -> None:
    """After Ctrl-C: no process of the demo's tree, none on its ports, none using its data."""
    left = {pid: command for pid, command in tree.items() if _alive([pid])}
    assert not left, f"left running after Ctrl-C: {left}"
    listening = _listeners(ports)
    assert not listening, f"still listening after Ctrl-C (pid, port): {listening}"
    using = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.pid != os.getpid() and str(data_dir) in " ".join(process.cmdline()) \
                    + process.environ().get("FIFTYONE_SYNC_DATA_DIR", ""):
                using.append((process.pid, process.cmdline()))
    assert not using, f"processes still using {data_dir}: {using}"


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
