"""Helpers for push tests: pull, plan, apply, App edits, reading Tator and the dataset."""

from __future__ import annotations

from typing import Any

import httpx
from bson import ObjectId

from tests.push.conftest import DATASET

BOXES = ("boxes", "detections")


def pull(ctx: Any) -> Any:
    """Pulls project 1 version 1 (the pull helper's own job body)."""
    from fiftyone_sync.dataset.pull import PullRequest
    from fiftyone_sync.dataset.pull import pull as run_pull

    return run_pull(ctx, PullRequest(version_id=1))


def plan(ctx: Any) -> dict[str, Any]:
    """Runs the plan job body; returns its result."""
    from fiftyone_sync.push.jobs import plan_body

    return plan_body(ctx, {})


def plan_items(db: Any, plan_id: str) -> list[Any]:
    """Every item of a stored plan."""
    from fiftyone_sync.push.plan import PlanStore

    return list(PlanStore(db).items(plan_id))


def apply(ctx: Any, plan_id: str) -> dict[str, Any]:
    """Runs the apply job body; returns its result."""
    from fiftyone_sync.push.jobs import apply_body

    return apply_body(ctx, {"plan_id": plan_id})


def push(ctx: Any) -> dict[str, Any]:
    """Plan, then apply it."""
    return apply(ctx, plan(ctx)["plan_id"])


def samples(db: Any) -> dict[tuple[int, int], dict[str, Any]]:
    """Sample documents by (media id, frame)."""
    name = db["datasets"].find_one({"name": DATASET})["sample_collection_name"]
    return {(d["tator_media_id"], d.get("frame") or 0): d for d in db[name].find({})}


def boxes(db: Any) -> dict[str, tuple[dict, dict]]:
    """Every box label by elemental id (new ones under their label id): (sample, label)."""
    found = {}
    for sample in samples(db).values():
        for label in (sample.get("boxes") or {}).get("detections") or []:
            found[label.get("tator_elemental_id") or str(label["_id"])] = (sample, label)
    return found


def tator_latest(tator_emulator: Any, show_deleted: bool = False) -> dict[str, dict]:
    """Tator's latest rows of version 1 by elemental id."""
    api = tator_emulator.api("alice")
    rows = api.get_localization_list(1, version=[1], show_deleted=int(show_deleted))
    return {r["elemental_id"]: dict(r) for r in rows}


def dataset_id(db: Any) -> str:
    """The FiftyOne dataset id (the App route needs it)."""
    return str(db["datasets"].find_one({"name": DATASET})["_id"])


def app_patch(app: Any, db: Any, sample: dict[str, Any], ops: list[dict]) -> httpx.Response:
    """Saves ``ops`` the way the App does: JSON-patch with If-Match on the sample route."""
    app_url = app.for_dataset(dataset_id(db))
    name = db["datasets"].find_one({"name": DATASET})["sample_collection_name"]
    current = db[name].find_one({"_id": ObjectId(str(sample["_id"]))})
    answer = httpx.patch(
        f"{app_url}/dataset/{dataset_id(db)}/sample/{current['_id']}",
        json=ops, timeout=30,
        headers={"Content-Type": "application/json-patch+json",
                 "If-Match": current["last_modified_at"].isoformat()})
    assert answer.status_code == 200, answer.text
    return answer


def index_of(sample: dict[str, Any], eid: str) -> int:
    """The position of a box in its sample's detections (App paths are positional)."""
    labels = sample["boxes"]["detections"]
    return next(i for i, lb in enumerate(labels) if lb.get("tator_elemental_id") == eid)
