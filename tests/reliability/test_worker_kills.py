"""Workers killed outright (SIGKILL) in the middle of a pull and of a push, against the
running service: the job ends failed with the cause, the dataset is as it was (pull) or
Tator holds each change exactly once (push), the dataset lock is free, ``/ready`` stays
200, and the re-run succeeds.

Two ways to die: the work-horse alone (its worker records the death and frees the lock at
once), and the whole worker with its horse (a lost host: the job is recognised as failed
once its lock's heartbeat stops, ``job_lock_ttl`` = 3 s here, and another worker re-runs).
"""

from __future__ import annotations

import httpx
import pytest

from fiftyone_sync.settings import Settings
from tests.fixtures.net import wait_until
from tests.reliability import service as s

STUCK = 20.0
"""Latency that keeps a Tator call in flight until the test kills the worker."""


def _in_flight(tator_emulator, operation: str, calls: int = 1) -> None:
    """Waits until Tator received ``calls`` requests of ``operation``."""
    wait_until(lambda: tator_emulator.calls.get(operation, 0) >= calls, timeout=60,
               what=f"{operation} to be in flight")


@pytest.mark.slow
def test_a_work_horse_killed_mid_pull_fails_its_job_and_the_rerun_updates_the_dataset(
        fault_api: httpx.Client, fault_settings: Settings, tator_emulator,
        start_worker) -> None:
    """SIGKILL of the work-horse while it lists Tator: the worker marks the job failed with
    the signal and frees the lock at once, the dataset keeps every sample and label, the
    worker lives on and its next pull brings Tator's changes in."""
    alice = tator_emulator.headers("alice")
    worker = start_worker(fault_settings)
    assert s.pull(fault_api, alice)["state"] == "succeeded"
    before = s.samples(fault_settings)
    gone = tator_emulator.store.get_localization(1).elemental_id
    tator_emulator.store.delete_localization(1, user="bob")

    tator_emulator.reset_calls()
    tator_emulator.faults.add("GetLocalizationList", latency=STUCK, times=1)
    job_id = s.queue(fault_api, "/sync", alice)
    _in_flight(tator_emulator, "GetLocalizationList")
    running = s.job(fault_api, job_id, alice)
    assert running["state"] == "running" and s.lock_holder(fault_settings) == job_id
    s.kill(running["pid"])

    dead = s.wait_job(fault_api, job_id, alice, timeout=30)
    assert dead["state"] == "failed", dead
    assert "killed by signal 9 (SIGKILL)" in dead["error"], dead
    wait_until(lambda: s.lock_holder(fault_settings) is None, timeout=10, what="a free lock")
    assert s.samples(fault_settings) == before
    assert worker.alive() and s.ready(fault_api)[0] == 200

    again = s.pull(fault_api, alice)
    assert again["state"] == "succeeded", again
    assert gone not in {b.get("tator_elemental_id") for b in s.boxes(fault_settings)}
    assert len(s.boxes(fault_settings)) == len([b for b in s.tator_boxes(tator_emulator)])


@pytest.mark.slow
def test_a_worker_killed_mid_push_adds_no_duplicate_when_another_worker_reruns_it(
        fault_api: httpx.Client, fault_settings: Settings, tator_emulator,
        start_worker) -> None:
    """The whole worker (parent and work-horse) SIGKILLed after Tator made the creates but
    before the push recorded them: the job turns failed once its lock lapses, a new
    worker's push adopts the creates (it sends none again), each box is in Tator once, and
    the plan after that is empty."""
    alice = tator_emulator.headers("alice")
    worker = start_worker(fault_settings)
    assert s.pull(fault_api, alice)["state"] == "succeeded"
    notes = [f"killed-{n}" for n in range(3)]
    s.draw_boxes(fault_settings, 3, notes)
    planned = s.plan(fault_api, alice)
    assert planned["result"]["counts"]["create"] == 3

    tator_emulator.reset_calls()
    tator_emulator.faults.add("GetLocalizationListById", latency=STUCK, times=1)
    job_id = s.queue(fault_api, "/push", alice, plan_id=planned["result"]["plan_id"])
    _in_flight(tator_emulator, "GetLocalizationListById")
    horse = s.job(fault_api, job_id, alice)["pid"]
    worker.kill()
    s.kill(horse)
    assert s.notes_in_tator(tator_emulator, "killed-") == notes

    dead = s.wait_job(fault_api, job_id, alice, timeout=30)
    assert dead["state"] == "failed" and "stopped answering" in dead["error"], dead
    assert s.lock_holder(fault_settings) is None and s.ready(fault_api)[0] == 200

    start_worker(fault_settings)
    tator_emulator.faults.clear()
    tator_emulator.reset_calls()
    replanned, rerun = s.push(fault_api, alice)
    assert replanned["result"]["counts"]["create"] == 3
    assert rerun["state"] == "succeeded", rerun
    assert rerun["result"]["created"] == 3 and rerun["result"]["failed"] == 0
    assert "CreateLocalizationList" not in tator_emulator.calls, "adopted, not sent again"
    assert s.notes_in_tator(tator_emulator, "killed-") == notes
    assert s.plan(fault_api, alice)["result"]["total"] == 0
