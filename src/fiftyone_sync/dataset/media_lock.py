"""A reader-writer lock on one project's media cache, shared by every version's dataset.

Pulls of different versions of a project use the same cached files, so they hold the lock
*shared* and run side by side. Removing files that no dataset references any more (when a
dataset is deleted) holds it *exclusive*: a pull that already found a cached file but has
not yet written the sample that references it must never see a deletion remove that file.
(Size-limit eviction takes no lock; :mod:`.media_cache` says what that costs.)

The lock is an ``flock`` on ``{media_dir}/.locks/p{project}.lock``. The kernel releases it
when its holder's process dies, so a killed worker never leaves the cache locked. It binds
every process that opens the same file, which all workers of a deployment do, as they share
the media cache; on a network file system that holds only where it supports locks (Linux
maps ``flock`` onto NFS byte-range locks). Lock order, to rule out deadlocks: a job takes
its dataset lock first and this lock second, never the other way round.

A writer waits while readers come and go; with pulls of other versions overlapping without
a break, a delete waits until ``Settings.job_lock_wait`` and then fails, deleting nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from fiftyone_sync.jobs.context import JobContext

logger = logging.getLogger(__name__)

LOCK_DIR = ".locks"
"""The folder of lock files under the media cache; eviction never walks into it."""

POLL_SECONDS = 0.5
WAITING_PHASE = "waiting for the media cache"


class MediaCacheBusy(Exception):
    """The project's media cache stayed locked against us for longer than the wait allows."""


def lock_path(root: Path, project: int) -> Path:
    """The lock file of project ``project``'s cache under cache root ``root``."""
    return Path(root) / LOCK_DIR / f"p{int(project)}.lock"


@contextlib.contextmanager
def held(root: Path, project: int, exclusive: bool, wait: float,
         on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Holds the project cache's lock for the ``with`` block.

    Args:
        root: the media cache (``settings.media_dir``).
        project: the Tator project whose cache to lock.
        exclusive: True to remove files, False to use and add them.
        wait: the longest time to wait for the lock, in seconds.
        on_wait: called before each pause while the lock is busy (to report progress, or
            to raise when the job was cancelled).

    Raises:
        MediaCacheBusy: the lock stayed busy for ``wait`` seconds.
    """
    path = lock_path(root, project)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH

    # Read-write: NFS turns flock into byte-range locks, and a shared one needs read access.
    with open(path, "a+b") as handle:
        _acquire(handle.fileno(), mode, wait, on_wait, project)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def held_by_job(ctx: JobContext, exclusive: bool) -> AbstractContextManager[None]:
    """:func:`held` for a job's project: it waits as long as for its dataset lock, shows the
    wait as its phase and stops waiting when cancelled."""
    def on_wait() -> None:
        ctx.progress(WAITING_PHASE)
        ctx.check_cancelled()

    return held(ctx.settings.media_dir, ctx.project_id, exclusive, ctx.settings.job_lock_wait,
                on_wait)


def _acquire(fd: int, mode: int, wait: float, on_wait: Callable[[], None],
             project: int) -> None:
    """Polls for the lock until ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    waited = False
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise MediaCacheBusy(
                    f"the media cache of project {project} stayed in use by another job for "
                    f"{wait:.0f} s; try again when the project's pulls have finished"
                ) from None
            if not waited:
                waited = True
                logger.info("Waiting for the media cache lock of project %s", project)
            on_wait()
            time.sleep(POLL_SECONDS)
