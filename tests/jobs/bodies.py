"""Job bodies for tests only; worker subprocesses import them (the repo root on PYTHONPATH).

Each writes what it did to MongoDB with plain ``pymongo`` in the database its process was
bound to, so a test can check where the writes landed and when each body ran.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import pymongo

from fiftyone_sync import stores
from fiftyone_sync.jobs.context import JobContext

RUNS = "job_test_runs"
"""The collection each body run writes one document to."""


def sleepy(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Reports ``steps`` steps of ``delay`` seconds each, stopping if cancelled.

    Params: ``steps``, ``delay``, ``fail`` (raise a ValueError at step ``fail``).
    """
    steps, delay = int(params.get("steps", 3)), float(params.get("delay", 0.1))
    fail_at = params.get("fail")
    runs = _runs(ctx)
    started = time.time()
    runs.insert_one({"job_id": ctx.job_id, "started": started, "pid": os.getpid(),
                     "database_env": os.environ.get("FIFTYONE_DATABASE_NAME")})

    done = 0
    try:
        for done in range(steps):
            ctx.progress("sleeping", done, steps)
            ctx.check_cancelled()
            if fail_at is not None and done == int(fail_at):
                raise ValueError(f"the test body failed on purpose at step {done}")
            time.sleep(delay)
        done = steps
        ctx.progress("sleeping", done, steps)
    finally:
        runs.update_one({"job_id": ctx.job_id}, {"$set": {"ended": time.time(), "done": done}})

    return {"steps": done, "credential_sha256": _digest(ctx.credential.token)}


def with_fiftyone(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Creates the context's FiftyOne dataset with one sample; reports the bound database."""
    import fiftyone as fo

    if fo.dataset_exists(ctx.dataset_name):
        fo.delete_dataset(ctx.dataset_name)
    dataset = fo.Dataset(ctx.dataset_name, persistent=True)
    dataset.add_sample(fo.Sample(filepath=f"/tmp/{ctx.job_id}.png", tag_job=ctx.job_id))
    return {"database": fo.config.database_name, "samples": len(dataset)}


def _runs(ctx: JobContext) -> pymongo.collection.Collection:
    client = pymongo.MongoClient(stores.mongo_uri(ctx.settings))
    return client[ctx.database_name][RUNS]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
