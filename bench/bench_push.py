"""Times push plans and applies of N mixed edits against the Tator emulator (real HTTP).

Run: ``.venv/bin/python bench/bench_push.py [--sizes 100 10000]``. For each size it starts a
fresh emulator with a synthetic project of N boxes (10 per image), pulls it into a fresh
database of a private mongod, edits N labels (40 % relabels into 4 classes, 20 % moves, 20 %
deletes, 20 % new boxes), then plans and applies the push. It prints a markdown table (wall
time, Tator calls, peak Python memory of each phase) and writes it to bench/results/push.md.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from bson import ObjectId

from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded

RESULTS = Path(__file__).parent / "results" / "push.md"
CLASSES = ("Copepod", "Salp", "Diatom", "Larvacean")


def _edit(db: Any, dataset: str, count: int) -> None:
    """Edits ``count`` labels directly in MongoDB: relabels, moves, deletes, creates."""
    name = db["datasets"].find_one({"name": dataset})["sample_collection_name"]
    rng = random.Random(0)
    samples = list(db[name].find({}, {"_id": 1, "boxes": 1}))
    labels = [(s["_id"], lb["_id"]) for s in samples for lb in s["boxes"]["detections"]]
    rng.shuffle(labels)
    relabel, move, delete = int(count * 0.4), int(count * 0.2), int(count * 0.2)
    create = count - relabel - move - delete
    col = db[name]
    for sid, lid in labels[:relabel]:
        col.update_one({"_id": sid}, {"$set": {"boxes.detections.$[l].label":
                                               rng.choice(CLASSES)}},
                       array_filters=[{"l._id": lid}])
    for sid, lid in labels[relabel:relabel + move]:
        col.update_one({"_id": sid}, {"$set": {"boxes.detections.$[l].bounding_box":
                                               [0.1, 0.1, 0.2, 0.2]}},
                       array_filters=[{"l._id": lid}])
    for sid, lid in labels[relabel + move:relabel + move + delete]:
        col.update_one({"_id": sid}, {"$pull": {"boxes.detections": {"_id": lid}}})
    for n in range(create):
        sid = samples[n % len(samples)]["_id"]
        col.update_one({"_id": sid}, {"$push": {"boxes.detections": {
            "_id": ObjectId(), "_cls": "Detection", "label": "Salp", "tags": [],
            "attributes": {}, "bounding_box": [0.5, 0.5, 0.05, 0.05]}}})


def _timed(fn: Any) -> tuple[Any, float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 1024**2
    tracemalloc.stop()
    return value, elapsed, peak


def run_size(size: int, mongo_uri: str, work: Path) -> dict[str, Any]:
    """One benchmark row."""
    import pymongo

    from fiftyone_sync.dataset.pull import PullRequest, pull
    from fiftyone_sync.emulators.tator.generator import generate_project
    from fiftyone_sync.emulators.tator.server import EmulatorServer
    from fiftyone_sync.jobs.context import JobContext
    from fiftyone_sync.push import jobs as push_jobs
    from fiftyone_sync.tator.client import Credential

    store, project = generate_project(max(1, size // 10), 10, work / f"media-{size}")
    server = EmulatorServer(store).start()
    try:
        version = store.project_versions(project.id)[0].id
        token = store.user_named("alice").token
        settings = Settings(tator_url=server.url, data_dir=work / f"data-{size}",
                            database_uri=mongo_uri)
        ctx = JobContext(job_id="bench", project_id=project.id,
                         database_name=os.environ["FIFTYONE_DATABASE_NAME"],
                         settings=settings, credential=Credential("Token", token),
                         version_id=version, dataset_name=f"tator-p{project.id}-v{version}")
        pull(ctx, PullRequest(version_id=version))
        client = pymongo.MongoClient(mongo_uri)
        _edit(client[ctx.database_name], str(ctx.dataset_name), size)
        server.call_counter.reset()
        planned, plan_s, plan_mb = _timed(lambda: push_jobs.plan_body(ctx, {}))
        plan_calls = sum(server.call_counter.snapshot().values())
        server.call_counter.reset()
        result, apply_s, apply_mb = _timed(lambda: push_jobs.apply_body(ctx, {"plan_id":
                                                                    planned["plan_id"]}))
        calls = server.call_counter.snapshot()
        client.close()
    finally:
        server.stop()
        store.close()
    return {"size": size, "plan_s": plan_s, "plan_calls": plan_calls, "plan_mb": plan_mb,
            "apply_s": apply_s, "apply_calls": sum(calls.values()), "apply_mb": apply_mb,
            "counts": {k: result[k] for k in ("updated", "created", "deleted", "conflicts",
                                              "invalid", "failed")},
            "by_op": calls}


def main() -> None:
    """Runs the sizes and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        work = Path(tmp)
        mongo_settings = Settings(data_dir=work / "mongo")
        mongo_uri = embedded.ensure_mongod(mongo_settings)
        os.environ.update(FIFTYONE_DATABASE_URI=mongo_uri, FIFTYONE_DO_NOT_TRACK="true",
                          FIFTYONE_DATABASE_NAME=f"benchpush_{uuid.uuid4().hex[:6]}",
                          FIFTYONE_DATABASE_VALIDATION="false")
        try:
            rows = [run_size(size, mongo_uri, work) for size in args.sizes]
        finally:
            embedded.stop_mongod(mongo_settings)
    lines = [("| edits | plan s | plan calls | plan MiB | apply s | apply calls | apply MiB "
             "| outcome | calls by operation |"), "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['size']} | {row['plan_s']:.2f} | {row['plan_calls']} | "
                     f"{row['plan_mb']:.1f} | {row['apply_s']:.2f} | {row['apply_calls']} | "
                     f"{row['apply_mb']:.1f} | {row['counts']} | {row['by_op']} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("# Push benchmark\n\nMixed edits: 40 % relabels (4 classes), 20 % "
                       "moves, 20 % deletes, 20 % creates.\n\n" + table + "\n")


if __name__ == "__main__":
    main()
