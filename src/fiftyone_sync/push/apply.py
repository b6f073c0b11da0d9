"""Applying a reviewed plan to Tator with Tator's own semantics, then recording the outcome.

Order of the work (DESIGN.md section 7):

1. claim the plan (refused if the dataset changed since it was made, or it was applied);
2. **guard**: one listing of the latest marks of every element to update or delete; an
   element whose mark moved since the plan becomes a conflict, not a failure;
3. attribute-only updates, grouped by (type, same change): one bulk PATCH per group chunk,
   selected by ``elemental_ids`` with ``count`` as a safety check (new revisions; a bulk
   PATCH with body ``ids`` is never used: it edits stale rows in place);
4. geometry updates: one PATCH per element on the pulled row id with ``pedantic=1`` (a 400
   pedantic answer is a conflict), with bounded concurrency;
5. creates: ``elemental_id``s minted and saved on the labels first, then chunks of at most
   500 (a 400 halves the chunk), so a retried push finds its earlier creates by id;
6. deletes: soft, in chunks selected by ``elemental_ids`` with ``count`` (never unfiltered);
7. re-list what bulk calls touched (they return no ids) and write the new ids and marks on
   the labels (by label id) and in the sync state, so the next plan is empty.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from tator.exceptions import ApiException

from fiftyone_sync.dataset import mapping
from fiftyone_sync.dataset.sync_state import ElementState, SyncState
from fiftyone_sync.dataset.writer import SampleWriter
from fiftyone_sync.push import plan as plans
from fiftyone_sync.push.diff import dataset_types
from fiftyone_sync.push.result import PushResult
from fiftyone_sync.push.tator_io import TatorCallError, describe, latest_rows
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

MAX_CREATE = 500
UNCERTAIN = (ApiException, OSError, ValueError)


class PushFailed(RuntimeError):
    """A push that wrote nothing and failed; the message carries the reasons."""


def _is_pedantic(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 400 and \
        "pedantic" in str(exc.body).lower()


def _is_safety(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 400 and \
        "safety check" in str(exc.body).lower()


class Applier:
    """Applies one stored plan.

    Args:
        db: the project database.
        dataset: the dataset name.
        api: the user's tator-py API object.
        project, version: the Tator project and version ids.
        settings: chunk size, geometry concurrency, delay between bulk calls, Tator URL.
        progress: called with ``(phase, done, total)``.
    """

    def __init__(self, db: Database, dataset: str, api: Any, project: int, version: int,
                 settings: Settings,
                 progress: Callable[[str, int, int | None], None] | None = None) -> None:
        self.db = db
        self.dataset = dataset
        self.api = api
        self.project = project
        self.version = version
        self.settings = settings
        self.progress = progress or (lambda phase, done, total: None)
        self.store = plans.PlanStore(db)
        self.state = SyncState(db)
        self.done: dict[str, plans.PlanItem] = {}
        self.rows: dict[str, dict[str, Any]] = {}
        self.removed: list[str] = []
        self.relist_error: str | None = None
        self.sent = False

    def run(self, plan_id: str) -> PushResult:
        """Applies the plan; returns what happened (raises only if nothing could be done).

        Raises:
            PlanStale: the dataset changed since the plan, or it was applied already.
            PushFailed: every change failed.
        """
        started = time.monotonic()
        self.store.claim(plan_id, plans.fingerprint(self.db, self.dataset))
        plan = self.store.load(plan_id, self.dataset)
        self.result = PushResult(plan.id, self.dataset)
        self.infos = dataset_types(self.db, self.dataset)
        self.writer = self._writer()
        try:
            self._apply(plan.items)
        finally:
            self._record()
            self.result.sent = self.sent
            self.result.duration = time.monotonic() - started
            self.store.finish(plan_id, self.result.to_dict())
        logger.info("Applied push plan %s to %s in %.2f s: %s", plan_id, self.dataset,
                    self.result.duration, self.result.counts)
        if self.result.outcome == "failed":
            reasons = "; ".join(i["reason"] or "" for i in self.result.items["failed"][:5])
            raise PushFailed(f"nothing was written to Tator; {self.result.counts['failed']} "
                             f"change(s) failed: {reasons}")
        return self.result

    def _writer(self) -> SampleWriter:
        doc = self.db[plans.DATASETS].find_one({"name": self.dataset}, {"_id": 1})
        collection = self.db[plans.sample_collection(self.db, self.dataset)]
        return SampleWriter(collection, doc["_id"])

    def _apply(self, items: list[plans.PlanItem]) -> None:
        by_kind: dict[str, list[plans.PlanItem]] = defaultdict(list)
        for item in items:
            by_kind[item.kind].append(item)
        for item in by_kind["invalid"]:
            self.result.add("invalid", item)
        for item in by_kind["conflict"]:
            self.result.add("conflicts", item)

        updates = self._guard(by_kind["update"] + by_kind["delete"])
        self._bulk_updates([i for i in updates if i.kind == "update" and i.attribute_only])
        self._geometry_updates([i for i in updates if i.kind == "update"
                                and not i.attribute_only])
        self._creates(by_kind["create"])
        self._deletes([i for i in updates if i.kind == "delete"])

    # Guard ------------------------------------------------------------------------------

    def _guard(self, items: list[plans.PlanItem]) -> list[plans.PlanItem]:
        """Items whose element still has the planned mark; the others become conflicts."""
        guarded = [i for i in items if i.base_id is not None]
        for item in items:
            if item.base_id is None:
                self.removed.append(str(item.elemental_id))
                self.result.add("deleted", item)
        if not guarded:
            return []
        self.progress("checking", 0, len(guarded))
        try:
            rows = latest_rows(self.api, self.project, self.version,
                               [str(i.elemental_id) for i in guarded])
        except TatorCallError as exc:
            for item in guarded:
                self.result.add("failed", item, str(exc))
            return []
        finally:
            self.result.count_call("GetLocalizationListById", _chunks(len(guarded), 500))
        fresh = []
        for item in guarded:
            row = rows.get(str(item.elemental_id))
            if row is None or row.get("variant_deleted") or int(row["id"]) != item.base_id:
                self.result.add("conflicts", item, "changed in Tator after the plan was made "
                                f"(now mark {None if row is None else row.get('mark')})")
            else:
                fresh.append(item)
        return fresh

    # Attribute-only updates -------------------------------------------------------------

    def _bulk_updates(self, items: list[plans.PlanItem]) -> None:
        groups: dict[str, list[plans.PlanItem]] = defaultdict(list)
        for item in items:
            key = json.dumps([item.type_id, item.attributes, sorted(item.null_attributes)],
                             sort_keys=True, default=str)
            groups[key].append(item)
        done = 0
        for group in groups.values():
            for chunk in _split(group, self._chunk_size()):
                self._bulk_update(chunk)
                done += len(chunk)
                self.progress("updating attributes", done, len(items))

    def _bulk_update(self, chunk: list[plans.PlanItem]) -> None:
        first = chunk[0]
        body: dict[str, Any] = {"elemental_ids": [str(i.elemental_id) for i in chunk]}
        if first.attributes:
            body["attributes"] = first.attributes
        if first.null_attributes:
            body["null_attributes"] = first.null_attributes
        if not body["elemental_ids"]:
            return
        try:
            self.result.count_call("UpdateLocalizationList")
            self.api.update_localization_list(self.project, localization_bulk_update=body,
                                              version=[self.version], count=len(chunk))
        except UNCERTAIN as exc:
            self._chunk_failed(chunk, exc, "conflicts" if _is_safety(exc) else "failed")
            return
        finally:
            self._pause()
        self.sent = True
        for item in chunk:
            self.done[str(item.elemental_id)] = item

    # Geometry updates -------------------------------------------------------------------

    def _geometry_updates(self, items: list[plans.PlanItem]) -> None:
        if not items:
            return
        workers = max(1, int(self.settings.push_geometry_concurrency))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push-geometry") as pool:
            for done, (item, answer) in enumerate(zip(items, pool.map(self._patch_one, items),
                                                      strict=True), start=1):
                self._patched(item, answer)
                self.progress("updating geometry", done, len(items))

    def _patch_one(self, item: plans.PlanItem) -> Any:
        update: dict[str, Any] = {**(item.geometry or {}), "pedantic": 1}
        if item.attributes:
            update["attributes"] = item.attributes
        if item.null_attributes:
            update["null_attributes"] = item.null_attributes
        try:
            return dict(self.api.update_localization(item.base_id,
                                                     localization_update=update))
        except UNCERTAIN as exc:
            return exc

    def _patched(self, item: plans.PlanItem, answer: Any) -> None:
        self.result.count_call("UpdateLocalization")
        if isinstance(answer, BaseException):
            if _is_pedantic(answer):
                self.result.add("conflicts", item, "changed in Tator after the plan was made "
                                "(Tator refused the edit of an old revision)")
            else:
                self._item_failed(item, answer)
            return
        row = dict(answer.get("object") or {})
        if row.get("variant_deleted"):
            self.result.add("conflicts", item, "deleted in Tator after the plan was made")
            return
        self.sent = True
        self.rows[str(item.elemental_id)] = row
        self.done[str(item.elemental_id)] = item

    # Creates ----------------------------------------------------------------------------

    def _creates(self, items: list[plans.PlanItem]) -> None:
        adopted = [i for i in items if i.base_id is not None]
        for item in adopted:
            self.done[str(item.elemental_id)] = item
        fresh = [i for i in items if i.base_id is None]
        if not fresh:
            return
        self._mint(fresh)
        done = 0
        for chunk in _split(fresh, min(MAX_CREATE, self._chunk_size())):
            self._create_chunk(chunk)
            done += len(chunk)
            self.progress("creating", done, len(fresh))

    def _mint(self, items: list[plans.PlanItem]) -> None:
        """Gives new labels their elemental id, saved on the label before anything is sent."""
        for item in items:
            if item.elemental_id is None:
                item.elemental_id = str(uuid.uuid4())
                info = self.infos[int(item.type_id or 0)]
                self.writer.set_label(ObjectId(item.sample_id), info.field, info.list_key,
                                      ObjectId(item.label_id),
                                      {"tator_elemental_id": item.elemental_id,
                                       "tator_version": self.version})
        self.writer.flush()

    def _create_chunk(self, chunk: list[plans.PlanItem]) -> None:
        specs = [self._spec(item) for item in chunk]
        try:
            self.result.count_call("CreateLocalizationList")
            self.api.create_localization_list(self.project, body=specs)
        except UNCERTAIN as exc:
            if isinstance(exc, ApiException) and exc.status == 400 and len(chunk) > 1:
                logger.warning("Tator refused %d creates (%s); halving the chunk", len(chunk),
                               describe(exc)[0])
                half = len(chunk) // 2
                self._create_chunk(chunk[:half])
                self._create_chunk(chunk[half:])
                return
            self._chunk_failed(chunk, exc, "failed")
            return
        finally:
            self._pause()
        self.sent = True
        for item in chunk:
            self.done[str(item.elemental_id)] = item

    def _spec(self, item: plans.PlanItem) -> dict[str, Any]:
        return {"media_id": int(item.media_id or 0), "type": int(item.type_id or 0),
                "frame": int(item.frame or 0), "version": self.version,
                "elemental_id": item.elemental_id, "attributes": item.attributes,
                **(item.geometry or {})}

    # Deletes ----------------------------------------------------------------------------

    def _deletes(self, items: list[plans.PlanItem]) -> None:
        done = 0
        for chunk in _split(items, self._chunk_size()):
            self._delete_chunk(chunk)
            done += len(chunk)
            self.progress("deleting", done, len(items))

    def _delete_chunk(self, chunk: list[plans.PlanItem]) -> None:
        ids = [str(i.elemental_id) for i in chunk if i.elemental_id]
        if not ids or len(ids) != len(chunk):
            raise ValueError("a bulk delete needs one elemental id per element; refusing an "
                             "unfiltered delete")
        try:
            self.result.count_call("DeleteLocalizationList")
            self.api.delete_localization_list(
                self.project, localization_bulk_delete={"elemental_ids": ids},
                version=[self.version], count=len(ids))
        except UNCERTAIN as exc:
            self._chunk_failed(chunk, exc, "conflicts" if _is_safety(exc) else "failed")
            return
        finally:
            self._pause()
        self.sent = True
        for item in chunk:
            self.removed.append(str(item.elemental_id))
            self.result.add("deleted", item)

    # Recording --------------------------------------------------------------------------

    def _record(self) -> None:
        """Re-lists what bulk calls touched; writes ids and marks on labels and state."""
        unknown = [eid for eid in self.done if eid not in self.rows]
        if unknown:
            try:
                self.rows.update(latest_rows(self.api, self.project, self.version, unknown))
            except TatorCallError as exc:
                logger.warning("Could not re-list %d pushed elements: %s", len(unknown), exc)
                self.relist_error = (f"sent, but re-listing it afterwards failed ({exc}); the "
                                     "next plan adopts it without sending it again")
            finally:
                self.result.count_call("GetLocalizationListById", _chunks(len(unknown), 500))
        states = []
        for eid, item in self.done.items():
            row = self.rows.get(eid)
            if row is None or row.get("variant_deleted"):
                self.result.add("failed", item, self.relist_error or (
                    "sent, but Tator does not list it afterwards; the next plan shows it "
                    "again"))
                continue
            states.append(self._write_label(item, row))
            self.result.add("created" if item.kind == "create" else "updated", item)
        self.writer.flush()
        self.state.write(self.dataset, states, self.removed,
                         known={s.elemental_id for s in states})
        finished = list(self.done) + self.removed
        self.db[plans.ACCEPTED].delete_many({"dataset": self.dataset,
                                             "elemental_id": {"$in": finished}})

    def _write_label(self, item: plans.PlanItem, row: dict[str, Any]) -> ElementState:
        info = self.infos[int(item.type_id or 0)]
        eid = str(item.elemental_id)
        values: dict[str, Any] = {**item.fixes, "tator_elemental_id": eid,
                                  "tator_version": self.version, "tator_id": int(row["id"]),
                                  "tator_mark": int(row.get("mark") or 0),
                                  "tator_type": info.id}
        label_digest = str(item.digest)
        if item.kind == "create":
            link = mapping.deep_link(self.settings.tator_url, self.project,
                                     int(item.media_id or 0), int(item.frame or 0),
                                     self.version, eid, info.id)
            doc, _ = mapping.label_doc(row, info, link, ObjectId(item.label_id))
            values.update({k: v for k, v in doc.items()
                           if k not in ("_id", "_cls", "tags", "attributes")})
            label_digest = mapping.digest(doc, info)
        self.writer.set_label(ObjectId(item.sample_id), info.field, info.list_key,
                              ObjectId(item.label_id), values)
        return ElementState(
            elemental_id=eid, version=self.version, tator_id=int(row["id"]),
            mark=int(row.get("mark") or 0), modified=row.get("modified_datetime"),
            digest=label_digest, sample_id=str(item.sample_id),
            label_id=str(item.label_id), field=info.field, type_id=info.id,
            media_id=int(item.media_id or 0), frame=int(item.frame or 0))

    # Helpers ----------------------------------------------------------------------------

    def _chunk_size(self) -> int:
        return max(1, int(self.settings.push_chunk_size))

    def _pause(self) -> None:
        if self.settings.push_delay > 0:
            time.sleep(self.settings.push_delay)

    def _chunk_failed(self, chunk: list[plans.PlanItem], exc: BaseException,
                      outcome: str) -> None:
        reason, _ = describe(exc)
        logger.warning("Push of %d element(s) failed: %s", len(chunk), reason)
        for item in chunk:
            self.result.add(outcome, item, reason)

    def _item_failed(self, item: plans.PlanItem, exc: BaseException) -> None:
        reason, _ = describe(exc)
        logger.warning("Push of element %s failed: %s", item.elemental_id, reason)
        self.result.add("failed", item, reason)


def _split(items: list[plans.PlanItem], size: int) -> Iterable[list[plans.PlanItem]]:
    for offset in range(0, len(items), size):
        yield items[offset:offset + size]


def _chunks(count: int, size: int) -> int:
    return math.ceil(count / size) if count else 0
