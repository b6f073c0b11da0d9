"""Times the Tator emulator's synthetic project generator and paging through the result.

Run: ``.venv/bin/python bench/bench_emulator_generator.py [--media 10000] [--per-media 10]
[--page 5000]``. Prints the generation time, then lists every localization through the real
HTTP API with tator-py, ``after``/``stop`` pages of ``--page``, and prints that time too.

It also shows that listing goes page by page: it counts the HTTP responses tator-py received
and the bytes of the largest one against all of them (one response holding everything would
be as large as all of them together), and samples this process's resident memory (emulator
and client both live in it) before and during the listing. The markdown table goes to stdout
and to ``bench/results/emulator_generator.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import threading
import time
from pathlib import Path

import requests
import tator

from fiftyone_sync.emulators.tator import demo
from fiftyone_sync.emulators.tator.generator import generate_project
from fiftyone_sync.emulators.tator.server import EmulatorServer

RESULTS = Path(__file__).resolve().parent / "results" / "emulator_generator.md"
MB = 1024 * 1024


def rss_mb() -> float:
    """This process's resident memory now (Linux ``/proc``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


class PeakRss:
    """Samples the resident memory every 20 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def main() -> None:
    """Generates, serves and pages through a large synthetic project."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--media", type=int, default=10_000)
    parser.add_argument("--per-media", type=int, default=10)
    parser.add_argument("--page", type=int, default=5_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as media_dir:
        started = time.perf_counter()
        store, project = generate_project(args.media, args.per_media, media_dir)
        generated = time.perf_counter() - started
        media_count, loc_count = len(store.media), len(store.localizations)
        print(f"generated {media_count} media, {loc_count} localizations "
              f"in {generated:.2f} s")

        with EmulatorServer(store) as server:
            api = tator.get_api(server.url, demo.token_for("alice"))
            sizes: list[int] = []

            def count_bytes(response: requests.Response, *_: object, **__: object) -> None:
                """A session hook: the body size of every listing response."""
                if "/Localizations/" in response.url:
                    sizes.append(len(response.content))

            api.session.hooks["response"].append(count_bytes)
            before = rss_mb()
            with PeakRss() as memory:
                started = time.perf_counter()
                seen, after = 0, None
                while True:
                    page = api.get_localization_list(project.id, after=after, stop=args.page)
                    if not page:
                        break
                    seen += len(page)
                    after = page[-1].id
                    del page
                listed = time.perf_counter() - started
        print(f"listed {seen} localizations in pages of {args.page} in {listed:.2f} s")
        store.close()

    if seen != loc_count:
        raise SystemExit(f"listed {seen} localizations, the store holds {loc_count}")
    largest, total = max(sizes), sum(sizes)
    print(f"{len(sizes)} responses, largest {largest / MB:.1f} MB of {total / MB:.1f} MB; "
          f"RSS {before:.0f} MB before listing, peak {memory.peak:.0f} MB while listing")
    write_table(args, media_count, seen, generated, listed, sizes, before, memory.peak)


def write_table(args: argparse.Namespace, media: int, localizations: int, generated: float,
                listed: float, sizes: list[int], before: float, peak: float) -> None:
    """Prints the markdown table and writes it to :data:`RESULTS`."""
    largest, total = max(sizes), sum(sizes)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    text = "\n".join([
        "# Emulator generator benchmark", "",
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"shared (load average at the end: {load}). Emulator served in this process; "
        "tator-py lists with `after`/`stop` pages. Responses: HTTP listing responses "
        "tator-py received (the last one empty). RSS: this process (emulator and client).",
        "",
        "| media | localizations | generate s | list s | page | responses | largest response MB "
        "| all responses MB | RSS before listing MB | peak RSS while listing MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {media:,} | {localizations:,} | {generated:.2f} | {listed:.2f} | {args.page:,} "
        f"| {len(sizes)} | {largest / MB:.1f} | {total / MB:.1f} | {before:.0f} "
        f"| {peak:.0f} |",
        "",
    ])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
