"""Times the Tator emulator's synthetic project generator and paging through the result.

Run: ``.venv/bin/python bench/bench_emulator_generator.py [--media 10000] [--per-media 10]``.
Prints the generation time, then lists every localization through the real HTTP API with
tator-py, ``after``/``stop`` pages of 5,000, and prints that time too.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import tator

from fiftyone_sync.emulators.tator import demo
from fiftyone_sync.emulators.tator.generator import generate_project
from fiftyone_sync.emulators.tator.server import EmulatorServer


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
        print(f"generated {len(store.media)} media, {len(store.localizations)} localizations "
              f"in {generated:.2f} s")

        with EmulatorServer(store) as server:
            api = tator.get_api(server.url, demo.token_for("alice"))
            started = time.perf_counter()
            seen, after = 0, None
            while True:
                page = api.get_localization_list(project.id, after=after, stop=args.page)
                if not page:
                    break
                seen += len(page)
                after = page[-1].id
            listed = time.perf_counter() - started
        print(f"listed {seen} localizations in pages of {args.page} in {listed:.2f} s")
        store.close()


if __name__ == "__main__":
    main()
