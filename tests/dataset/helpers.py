"""Helpers shared by the pull tests: run a pull, read Tator's rows and the pulled labels."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE, Popen
from typing import Any

DATASET = "tator-p1-v1"
FIELDS = {"box": ("boxes", "detections"), "dot": ("dots", "keypoints"),
          "line": ("lines", "polylines"), "poly": ("polys", "polylines")}
DTYPES = {1: "box", 2: "dot", 3: "line", 4: "poly"}


def pull(make_ctx: Any, user: str = "alice", **request: Any) -> Any:
    """Runs a pull of version 1 (or ``version_id``) as ``user``; returns its result."""
    from fiftyone_sync.dataset.pull import PullRequest
    from fiftyone_sync.dataset.pull import pull as run

    return run(make_ctx(user), PullRequest(version_id=request.pop("version_id", 1), **request))


def tator_locs(tator_emulator: Any) -> list[dict]:
    """Tator's live localizations of version 1, as alice lists them."""
    api = tator_emulator.api("alice")
    return [dict(loc) for loc in api.get_localization_list(1, version=[1])]


def labels(fo: Any) -> dict[str, tuple[Any, str, Any]]:
    """elemental id -> (sample, field, label) of every pulled label."""
    found = {}
    dataset = fo.load_dataset(DATASET)
    dataset.reload()
    for sample in dataset:
        for field, key in FIELDS.values():
            container = sample[field] if sample.has_field(field) else None
            for label in (container[key] if container else []):
                found[label["tator_elemental_id"]] = (sample, field, label)
    return found


def modified(fo: Any) -> dict[str, dt.datetime]:
    """sample id -> last_modified_at of every sample of the dataset."""
    dataset = fo.load_dataset(DATASET)
    return dict(zip(*dataset.values(["id", "last_modified_at"]), strict=True))


@contextlib.contextmanager
def lock_held_elsewhere(root: Path, project: int, exclusive: bool) -> Iterator[Popen]:
    """Holds a project's media cache lock in another process until the block ends (as a
    pull or a deletion running in another worker would)."""
    code = ("import sys; from fiftyone_sync.dataset import media_lock\n"
            "with media_lock.held(sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'x', 5):\n"
            "    print('held', flush=True); sys.stdin.read()")
    holder = Popen([sys.executable, "-c", code, str(root), str(project),
                    "x" if exclusive else "s"], stdin=PIPE, stdout=PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            holder.communicate("", timeout=10)
