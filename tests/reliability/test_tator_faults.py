"""Tator failing under the running service (the API on a socket, a real worker subprocess,
the Tator emulator's fault knobs, the session's MongoDB and Redis).

For each fault: the job ends failed (or reports what failed), the dataset is as before or
fully updated, Tator holds no duplicate and loses no edit, the dataset lock is free,
``/ready`` stays 200 (Tator is not one of its dependencies) and a re-run succeeds.

Token checks answer 503 and are not cached. The workers' Tator timeout is
``service.TATOR_TIMEOUT`` (2 s, ``FIFTYONE_SYNC_TATOR_TIMEOUT``); a latency fault of twice
that only fails a job if the setting reaches the Tator client (the default is 60 s).
"""

from __future__ import annotations

import httpx
import pytest

from fiftyone_sync.settings import Settings
from tests.reliability import service as s

SLOW = s.TATOR_TIMEOUT * 2
"""A latency fault longer than the workers' Tator timeout."""


def test_a_failing_tator_gives_503_and_the_failure_is_not_cached(
        api: httpx.Client, tator_emulator) -> None:
    """A token check that meets a Tator 500 or a dropped connection is a 503 naming the
    cause, and the next request checks again (a failure must not lock a user out)."""
    bob = tator_emulator.headers("bob")
    tator_emulator.faults.add("GetProject", status=500, times=1)

    failed = api.get("/versions", params={"project_id": 1}, headers=bob)
    assert failed.status_code == 503 and "HTTP 500" in failed.json()["detail"]

    tator_emulator.faults.add("GetProject", drop=True, times=1)
    dropped = api.get("/versions", params={"project_id": 1}, headers=bob)
    assert dropped.status_code == 503 and "unreachable" in dropped.json()["detail"]

    assert api.get("/versions", params={"project_id": 1}, headers=bob).status_code == 200


def _tator_changes(tator_emulator) -> tuple[str, str]:
    """Bob deletes box 1 and relabels box 7 (a Salp) in Tator; returns their elemental ids."""
    gone = tator_emulator.store.get_localization(1).elemental_id
    relabelled = tator_emulator.store.get_localization(7).elemental_id
    tator_emulator.store.delete_localization(1, user="bob")
    tator_emulator.store.patch_localization(7, user="bob", attributes={"Label": "Diatom"})
    return gone, relabelled


def _assert_pulled(settings: Settings, gone: str, relabelled: str) -> None:
    """The dataset holds Tator's changes: box ``gone`` removed, ``relabelled`` a Diatom."""
    labels = {b.get("tator_elemental_id"): b for b in s.boxes(settings)}
    assert gone not in labels
    assert labels[relabelled]["label"] == "Diatom"


FAILED_LISTINGS = [({"drop": True}, "Connection aborted"),
                   ({"status": 500}, "Tator answered 500"),
                   ({"latency": SLOW}, "Read timed out")]
"""Faults of the localization listing, and what the failed pull's error says."""


@pytest.mark.slow
def test_a_pull_whose_tator_fails_leaves_the_dataset_as_it_was_and_the_rerun_updates_it(
        fault_api: httpx.Client, fault_settings: Settings, tator_emulator,
        start_worker) -> None:
    """Tator dropping the connection, answering 500, or answering later than the Tator
    timeout while a pull lists localizations: each time the job fails with the cause, no
    sample or label changes (a partial listing must never remove anything) and the lock is
    free; the re-run brings in what changed in Tator."""
    alice = tator_emulator.headers("alice")
    worker = start_worker(fault_settings)
    assert s.pull(fault_api, alice)["state"] == "succeeded"
    before = s.samples(fault_settings)
    gone, relabelled = _tator_changes(tator_emulator)

    for fault, cause in FAILED_LISTINGS:
        tator_emulator.faults.clear()
        tator_emulator.faults.add("GetLocalizationList", **fault)
        broken = s.pull(fault_api, alice)
        assert broken["state"] == "failed", (fault, broken)
        assert "listing localizations" in broken["error"], (fault, broken["error"])
        assert cause in broken["error"], (fault, broken["error"])
        assert s.samples(fault_settings) == before, fault
        assert s.lock_holder(fault_settings) is None, fault
        assert s.ready(fault_api)[0] == 200

    tator_emulator.faults.clear()
    again = s.pull(fault_api, alice)
    assert again["state"] == "succeeded", again
    assert again["result"]["labels"]["removed"] == 1
    _assert_pulled(fault_settings, gone, relabelled)
    assert worker.alive()
    assert tator_emulator.tokens["alice"] not in worker.log()


@pytest.mark.slow
def test_a_push_whose_tator_times_out_is_rerun_without_duplicates(
        fault_api: httpx.Client, fault_settings: Settings, tator_emulator,
        start_worker) -> None:
    """Creates whose call times out fail the apply (nothing written); creates that Tator
    made but whose re-listing timed out are adopted by the next push, never sent again.
    Every drawn box ends in Tator exactly once and the plan after that is empty."""
    alice = tator_emulator.headers("alice")
    start_worker(fault_settings)
    assert s.pull(fault_api, alice)["state"] == "succeeded"
    notes = [f"timeout-{n}" for n in range(3)]
    s.draw_boxes(fault_settings, 2, notes)

    tator_emulator.faults.add("CreateLocalizationList", latency=SLOW, times=1)
    _, failed = s.push(fault_api, alice)
    assert failed["state"] == "failed" and "nothing was written" in failed["error"], failed
    assert "Read timed out" in failed["error"]
    assert s.notes_in_tator(tator_emulator, "timeout-") == []
    assert s.lock_holder(fault_settings) is None

    planned = s.plan(fault_api, alice)
    tator_emulator.faults.add("GetLocalizationListById", latency=SLOW, times=1)
    unlisted = s.apply(fault_api, alice, planned)
    assert unlisted["state"] == "succeeded", unlisted
    assert unlisted["result"]["outcome"] == "partial"
    assert unlisted["result"]["failed"] == 3 and "re-listing" in str(unlisted["result"])
    assert s.notes_in_tator(tator_emulator, "timeout-") == notes

    tator_emulator.reset_calls()
    planned, adopted = s.push(fault_api, alice)
    assert adopted["state"] == "succeeded", adopted
    assert adopted["result"]["created"] == 3 and adopted["result"]["failed"] == 0
    assert "CreateLocalizationList" not in tator_emulator.calls, "adopted, not sent again"
    assert s.notes_in_tator(tator_emulator, "timeout-") == notes
    assert s.plan(fault_api, alice)["result"]["total"] == 0
    assert s.lock_holder(fault_settings) is None and s.ready(fault_api)[0] == 200


@pytest.mark.slow
def test_a_push_whose_tator_answers_500_and_drops_a_connection_is_rerun_without_duplicates(
        fault_api: httpx.Client, fault_settings: Settings, tator_emulator,
        start_worker) -> None:
    """One create chunk answered 500 and the bulk attribute edit's connection dropped: the
    apply reports those items failed with the cause and the rest applied; the re-run sends
    only what failed, so every box is in Tator once and the relabel is not lost."""
    alice = tator_emulator.headers("alice")
    start_worker(fault_settings, FIFTYONE_SYNC_PUSH_CHUNK_SIZE="2")
    assert s.pull(fault_api, alice)["state"] == "succeeded"
    edited = tator_emulator.store.get_localization(10).elemental_id
    notes = [f"flaky-{n}" for n in range(5)]
    s.draw_boxes(fault_settings, 3, notes)
    s.relabel(fault_settings, edited, "Ctenophore")

    tator_emulator.faults.add("CreateLocalizationList", status=500, after=1, times=1)
    tator_emulator.faults.add("UpdateLocalizationList", drop=True, times=1)
    planned, partial = s.push(fault_api, alice)
    assert planned["result"]["counts"] == {"update": 1, "create": 5, "delete": 0,
                                           "conflict": 0, "invalid": 0}
    assert partial["state"] == "succeeded", partial
    result = partial["result"]
    assert (result["outcome"], result["created"], result["updated"], result["failed"]) == (
        "partial", 3, 0, 3)
    reasons = " ".join(item["reason"] for item in result["items"]["failed"])
    assert "500" in reasons and "Connection aborted" in reasons, reasons
    assert len(s.notes_in_tator(tator_emulator, "flaky-")) == 3
    latest = {row["elemental_id"]: row for row in s.tator_boxes(tator_emulator)}
    assert latest[edited]["attributes"]["Label"] != "Ctenophore"

    _, rerun = s.push(fault_api, alice)
    assert rerun["state"] == "succeeded", rerun
    assert (rerun["result"]["created"], rerun["result"]["updated"],
            rerun["result"]["failed"]) == (2, 1, 0)
    assert s.notes_in_tator(tator_emulator, "flaky-") == notes
    latest = {row["elemental_id"]: row for row in s.tator_boxes(tator_emulator)}
    assert latest[edited]["attributes"]["Label"] == "Ctenophore"
    assert s.plan(fault_api, alice)["result"]["total"] == 0
    assert s.lock_holder(fault_settings) is None and s.ready(fault_api)[0] == 200
