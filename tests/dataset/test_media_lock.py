"""The project media cache's reader-writer lock, between real processes."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from fiftyone_sync.dataset import media_lock
from fiftyone_sync.dataset.media_lock import MediaCacheBusy
from fiftyone_sync.jobs.context import JobCancelled
from tests.dataset.helpers import lock_held_elsewhere


def test_pulls_share_the_lock(tmp_path):
    with lock_held_elsewhere(tmp_path, 1, exclusive=False):
        with media_lock.held(tmp_path, 1, exclusive=False, wait=0):
            assert media_lock.lock_path(tmp_path, 1).exists()


def test_a_deletion_waits_for_a_pull_then_gives_up_with_the_reason(tmp_path):
    waits: list[int] = []

    with lock_held_elsewhere(tmp_path, 1, exclusive=False):
        with pytest.raises(MediaCacheBusy, match="media cache of project 1 stayed in use"):
            with media_lock.held(tmp_path, 1, exclusive=True, wait=1.2,
                                 on_wait=lambda: waits.append(1)):
                pytest.fail("the exclusive lock was granted beside a shared one")

    assert len(waits) >= 2


def test_a_pull_waits_for_a_deletion_and_goes_on_once_it_ends(tmp_path):
    waits: list[int] = []

    with lock_held_elsewhere(tmp_path, 1, exclusive=True) as deletion:
        with pytest.raises(MediaCacheBusy):
            with media_lock.held(tmp_path, 1, exclusive=False, wait=0.6):
                pytest.fail("the shared lock was granted beside an exclusive one")

        assert deletion.stdin is not None
        threading.Timer(1.0, deletion.stdin.close).start()
        with media_lock.held(tmp_path, 1, exclusive=False, wait=20,
                             on_wait=lambda: waits.append(1)):
            assert deletion.wait(timeout=10) == 0

    assert waits, "the pull never waited"


def test_other_projects_are_not_locked(tmp_path):
    with lock_held_elsewhere(tmp_path, 1, exclusive=True):
        with media_lock.held(tmp_path, 2, exclusive=True, wait=0):
            assert media_lock.lock_path(tmp_path, 2).exists()


def test_a_killed_holder_leaves_the_cache_unlocked(tmp_path):
    with lock_held_elsewhere(tmp_path, 1, exclusive=True) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        assert holder.wait(timeout=10) == -signal.SIGKILL

        with media_lock.held(tmp_path, 1, exclusive=True, wait=5):
            assert holder.poll() is not None


def test_a_cancelled_job_stops_waiting(tmp_path):
    def cancelled() -> None:
        raise JobCancelled("job j was cancelled")

    with lock_held_elsewhere(tmp_path, 1, exclusive=False):
        with pytest.raises(JobCancelled):
            with media_lock.held(tmp_path, 1, exclusive=True, wait=60, on_wait=cancelled):
                pytest.fail("the lock was granted")
