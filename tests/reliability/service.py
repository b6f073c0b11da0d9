"""The running service for fault tests: a real ``fiftyone-sync worker`` subprocess, jobs
driven over the API, and plain reads of what each fault may have damaged (the dataset in
MongoDB, the rows in Tator, the dataset lock in Redis).

The test process never imports FiftyOne: the pull runs in the worker's work-horse, and the
"reviewer's edits" are written to the sample documents with ``pymongo`` the way the App
saves them (by label, with a new ``last_modified_at``).
"""

from __future__ import annotations

import copy
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pymongo
import redis
from bson import ObjectId

from fiftyone_sync import naming
from fiftyone_sync.jobs.locks import lock_key
from fiftyone_sync.settings import Settings
from tests.fixtures.net import wait_until
from tests.jobs.helpers import CLI, REPO, stop_gently, worker_env

PROJECT, VERSION = 1, 1
DATASET = naming.dataset_name(PROJECT, VERSION)
FINAL = ("succeeded", "failed", "cancelled")
TATOR_TIMEOUT = 2.0
"""The workers' ``FIFTYONE_SYNC_TATOR_TIMEOUT``: a latency fault longer than this times out."""


MONITORED_WORKER = """
import sys
from fiftyone_sync.jobs import worker
from fiftyone_sync.cli import main

init = worker.ServiceWorker.__init__
def every(self, *args, **kwargs):
    init(self, *args, **{**kwargs, "job_monitoring_interval": %d})
worker.ServiceWorker.__init__ = every
sys.argv = ["fiftyone-sync", "worker"]
main()
"""
"""``fiftyone-sync worker`` whose RQ heartbeats run every N s rather than every 30 s."""


class Worker:
    """A ``fiftyone-sync worker`` subprocess; ``env`` adds settings to :func:`worker_env`.

    ``monitor_every`` makes the worker renew its RQ heartbeats in Redis every so many
    seconds while a job runs (RQ's ``job_monitoring_interval``, 30 s otherwise), so that a
    short Redis outage is sure to meet one.
    """

    def __init__(self, settings: Settings, log_path: Path, monitor_every: int | None = None,
                 **env: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        command = [str(CLI), "worker"] if monitor_every is None else [
            sys.executable, "-c", MONITORED_WORKER % monitor_every]
        self.process = subprocess.Popen(
            command, env={**worker_env(settings), **env}, cwd=REPO,
            stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        """Everything the worker and its work-horses wrote so far."""
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        """Whether the worker process still runs."""
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILLs the worker process (not its work-horse)."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Asks the worker to stop (warm shutdown), then kills it if it lingers."""
        stop_gently(self.process)
        self._log.close()


def worker_settings(**extra: str) -> dict[str, str]:
    """Worker environment for fault tests: a short Tator timeout, no embedding after pulls."""
    return {"FIFTYONE_SYNC_TATOR_TIMEOUT": str(TATOR_TIMEOUT),
            "FIFTYONE_SYNC_EMBED_AFTER_PULL": "false", "FIFTYONE_SYNC_DOWNLOAD_RETRIES": "1",
            **extra}


# Jobs over the API --------------------------------------------------------------------------

def queue(api: httpx.Client, path: str, headers: dict[str, str], **params: Any) -> str:
    """POSTs a job-queuing route for project 1 version 1; returns the job id."""
    answer = api.post(path, params={"project_id": PROJECT, "version_id": VERSION, **params},
                      headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


def job(api: httpx.Client, job_id: str, headers: dict[str, str]) -> dict:
    """The job's record as ``GET /jobs/{id}`` shows it."""
    answer = api.get(f"/jobs/{job_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_job(api: httpx.Client, job_id: str, headers: dict[str, str], until: Any = None,
             timeout: float = 120.0) -> dict:
    """Polls the job until ``until(record)`` holds (default: a final state)."""
    until = until or (lambda record: record["state"] in FINAL)
    deadline = time.monotonic() + timeout
    record: dict = {}
    while time.monotonic() < deadline:
        record = job(api, job_id, headers)
        if until(record):
            return record
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s: {record}")


def run(api: httpx.Client, path: str, headers: dict[str, str], **params: Any) -> dict:
    """Queues a job and waits for its final record."""
    return wait_job(api, queue(api, path, headers, **params), headers)


def pull(api: httpx.Client, headers: dict[str, str], **params: Any) -> dict:
    """A pull of project 1 version 1, to its end."""
    return run(api, "/sync", headers, **params)


def plan(api: httpx.Client, headers: dict[str, str]) -> dict:
    """A push dry run (the plan), to its end; it must succeed."""
    planned = run(api, "/push", headers, dry_run="true")
    assert planned["state"] == "succeeded", planned
    return planned


def apply(api: httpx.Client, headers: dict[str, str], planned: dict) -> dict:
    """Applies the plan of the finished dry run ``planned``; returns the final record."""
    return run(api, "/push", headers, plan_id=planned["result"]["plan_id"])


def push(api: httpx.Client, headers: dict[str, str]) -> tuple[dict, dict]:
    """A dry run, then the apply of its plan; returns both final records."""
    planned = plan(api, headers)
    return planned, apply(api, headers, planned)


# What a fault may have damaged --------------------------------------------------------------

def database(client: pymongo.MongoClient, settings: Settings) -> Any:
    """Project 1's database."""
    return client[naming.database_name(PROJECT, settings)]


def samples(settings: Settings) -> list[dict]:
    """Every sample document of the dataset (empty when it does not exist)."""
    with pymongo.MongoClient(settings.database_uri) as client:
        db = database(client, settings)
        info = db["datasets"].find_one({"name": DATASET})
        if info is None:
            return []
        return list(db[info["sample_collection_name"]].find({}, sort=[("_id", 1)]))


def boxes(settings: Settings) -> list[dict]:
    """Every box label of the dataset."""
    return [label for sample in samples(settings)
            for label in (sample.get("boxes") or {}).get("detections") or []]


def lock_holder(settings: Settings) -> str | None:
    """The job holding the dataset's lock, or None."""
    with redis.Redis.from_url(str(settings.redis_url), decode_responses=True) as client:
        return client.get(lock_key(naming.database_name(PROJECT, settings), PROJECT, VERSION))


def tator_boxes(tator_emulator: Any) -> list[dict]:
    """Tator's live latest box rows (type 1) of version 1, one per element."""
    rows = tator_emulator.api("alice").get_localization_list(PROJECT, version=[VERSION])
    return [dict(row) for row in rows if row["type"] == 1]


def notes_in_tator(tator_emulator: Any, prefix: str) -> list[str]:
    """The ``Notes`` of Tator's live boxes that start with ``prefix`` (one per element)."""
    return sorted(str(row["attributes"].get("Notes")) for row in tator_boxes(tator_emulator)
                  if str(row["attributes"].get("Notes") or "").startswith(prefix))


def ready(api: httpx.Client) -> tuple[int, dict]:
    """``/ready``'s status code and checks."""
    answer = api.get("/ready")
    return answer.status_code, answer.json()["checks"]


# A reviewer's edits, saved the way the App saves them ---------------------------------------

def draw_boxes(settings: Settings, media_id: int, notes: list[str]) -> None:
    """Adds one new box per note to the sample of ``media_id`` (copies of its first box,
    without Tator identity, moved apart, ``Notes`` set to the note)."""
    with pymongo.MongoClient(settings.database_uri) as client:
        db = database(client, settings)
        collection = db[db["datasets"].find_one({"name": DATASET})["sample_collection_name"]]
        sample = collection.find_one({"tator_media_id": media_id})
        template = sample["boxes"]["detections"][0]
        new = []
        for n, note in enumerate(notes):
            label = {k: v for k, v in copy.deepcopy(template).items()
                     if not k.startswith("tator_")}
            label.update(_id=ObjectId(), label="Salp", Notes=note,
                         bounding_box=[0.05 + 0.1 * n, 0.8, 0.05, 0.05])
            new.append(label)
        changed = collection.update_one(
            {"_id": sample["_id"]},
            {"$push": {"boxes.detections": {"$each": new}}, "$set": _modified()})
        assert changed.modified_count == 1


def relabel(settings: Settings, elemental_id: str, label: str) -> None:
    """Changes the class of the box with ``elemental_id``."""
    with pymongo.MongoClient(settings.database_uri) as client:
        db = database(client, settings)
        collection = db[db["datasets"].find_one({"name": DATASET})["sample_collection_name"]]
        changed = collection.update_one(
            {"boxes.detections.tator_elemental_id": elemental_id},
            {"$set": {"boxes.detections.$.label": label, **_modified()}})
        assert changed.modified_count == 1


def _modified() -> dict[str, Any]:
    return {"last_modified_at": datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None)}


def kill(pid: int) -> None:
    """SIGKILLs ``pid`` and waits until it is gone."""
    os.kill(pid, signal.SIGKILL)

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, timeout=10, what=f"pid {pid} to die")
