"""The dataset against the sync state: what a push would change in Tator (a :class:`Plan`).

For every label of a Tator label field (plain ``pymongo`` reads of the sample collection):

- a label without ``tator_elemental_id`` → a **create** (the user drew it);
- a label with an elemental id the sync state does not know → an earlier push minted it and
  may have created it: if Tator holds it, it is adopted (recorded, updated if it differs),
  otherwise it is created under that id;
- a label whose values no longer match the digest the pull recorded → an **update** of the
  fields that differ from Tator's row (geometry, and/or attributes);
- an element of the sync state whose label is gone (removed, its field emptied or set to
  None, its sample deleted) → a **delete**;
- two labels with one identity, a bad class or value, a box that is empty or wholly off the
  image → **invalid**, with a reason;
- an update or delete of an element whose latest mark in Tator moved since the pull (read
  with one listing of latest marks) → a **conflict**, unless the user chose "keep mine" for
  exactly that mark (:mod:`.resolve`). Tags are never pushed.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from fiftyone_sync.dataset import attributes as attrs
from fiftyone_sync.dataset.mapping import TypeInfo, digest
from fiftyone_sync.dataset.sync_state import ElementState, SyncState
from fiftyone_sync.push import plan as plans
from fiftyone_sync.push.tator_io import latest_rows
from fiftyone_sync.push.validate import Checked, InvalidLabel, check_label

logger = logging.getLogger(__name__)

TOLERANCE = 1e-9
ALREADY_CREATED = "an earlier push already created it in Tator; recorded, not resent"
ALREADY_IN_TATOR = ("Tator already holds these values (a cut-off push, or the same fix by a "
                    "colleague); recorded, not resent")

class DiffError(RuntimeError):
    """A dataset that cannot be diffed (never pulled, no type information)."""


def dataset_types(db: Database, dataset: str) -> dict[int, TypeInfo]:
    """The localization types the pull recorded in the dataset's info, by type id.

    Raises:
        DiffError: the dataset has no Tator type information (it was never pulled).
    """
    doc = db[plans.DATASETS].find_one({"name": dataset}, {"info": 1}) or {}
    types = ((doc.get("info") or {}).get("tator") or {}).get("types")
    if not types:
        raise DiffError(f"dataset {dataset} has no Tator type information: pull it first")
    return {int(k): TypeInfo.from_dict(v) for k, v in types.items()}


def accepted_marks(db: Database, dataset: str) -> dict[str, int]:
    """The Tator marks the user chose to overwrite ("keep mine"), by elemental id."""
    return {doc["elemental_id"]: int(doc["mark"])
            for doc in db[plans.ACCEPTED].find({"dataset": dataset})}


class Differ:
    """Builds one plan.

    Args:
        db: the project database.
        dataset: the dataset name.
        api: a tator-py API object of the user.
        project: the Tator project id.
        version: the Tator version id.
    """

    def __init__(self, db: Database, dataset: str, api: Any, project: int,
                 version: int) -> None:
        self.db = db
        self.dataset = dataset
        self.api = api
        self.project = project
        self.version = version
        self.items: list[plans.PlanItem] = []

    def run(self) -> plans.Plan:
        """Reads everything, asks Tator about the touched elements, returns the plan."""
        started = time.monotonic()
        fingerprint = plans.fingerprint(self.db, self.dataset)
        self.infos = dataset_types(self.db, self.dataset)
        self.by_field = {info.field: info for info in self.infos.values()}
        self.state = SyncState(self.db).elements(self.dataset)
        self.accepted = accepted_marks(self.db, self.dataset)
        found, fresh, seen = self._read_labels()

        gone = [known for eid, known in self.state.items() if eid not in seen]
        touched = set(found) | {known.elemental_id for known in gone}
        self.rows = latest_rows(self.api, self.project, self.version, touched)
        for eid, places in found.items():
            self._element(eid, places)
        for known in gone:
            self._deleted(known)
        for place in fresh:
            self._create(place, None)

        plan = plans.Plan(self.dataset, self.project, self.version, fingerprint, self.items)
        logger.info("Planned push of %s in %.2f s: %s", self.dataset,
                    time.monotonic() - started, plan.counts())
        return plan

    # Reading ----------------------------------------------------------------------------

    def _read_labels(self) -> tuple[dict[str, list[dict]], list[dict], set[str]]:
        """Changed or unknown labels by elemental id, labels without one, every id seen."""
        collection = self.db[plans.sample_collection(self.db, self.dataset)]
        projection = {"_id": 1, "tator_media_id": 1, "frame": 1,
                      **{field: 1 for field in self.by_field}}
        found: dict[str, list[dict]] = defaultdict(list)
        counts: dict[str, int] = defaultdict(int)
        fresh: list[dict] = []
        for sample in collection.find({}, projection):
            for field, info in self.by_field.items():
                for label in (sample.get(field) or {}).get(info.list_key) or []:
                    place = {"sample": sample, "field": field, "info": info, "label": label}
                    eid = label.get("tator_elemental_id")
                    if not eid:
                        fresh.append(place)
                        continue
                    counts[eid] += 1
                    if self._changed(eid, place) or counts[eid] > 1:
                        found[eid].append(place)
        for eid, count in counts.items():
            if count > 1 and len(found[eid]) < count:
                found[eid] = self._all_places(collection, eid, projection)
        return found, fresh, set(counts)

    def _changed(self, eid: str, place: dict) -> bool:
        known = self.state.get(eid)
        return known is None or digest(place["label"], place["info"]) != known.digest

    def _all_places(self, collection: Any, eid: str, projection: dict) -> list[dict]:
        places = []
        for sample in collection.find({}, projection):
            for field, info in self.by_field.items():
                for label in (sample.get(field) or {}).get(info.list_key) or []:
                    if label.get("tator_elemental_id") == eid:
                        places.append({"sample": sample, "field": field, "info": info,
                                       "label": label})
        return places

    # Classifying ------------------------------------------------------------------------

    def _element(self, eid: str, places: list[dict]) -> None:
        if len(places) > 1:
            for place in places:
                self._add(self._item("invalid", place, eid, reason=(
                    f"{len(places)} labels carry the identity {eid}: keep one, or remove "
                    "tator_elemental_id from the copies")))
            return
        place = places[0]
        known = self.state.get(eid)
        row = self.rows.get(eid)
        if known is None:
            self._unrecorded(eid, place, row)
            return
        if int(place["sample"].get("tator_media_id") or -1) != known.media_id:
            self._add(self._item("invalid", place, eid, reason=(
                "the label was moved to another media; Tator cannot move a localization "
                "between media (delete it and draw it again)")))
            return
        conflict = self._conflict_reason(known, row, "edited in FiftyOne")
        if conflict is not None and self._already_in_tator(place, row):
            self._update(place, eid, row, adopt=ALREADY_IN_TATOR)
            return
        if conflict is not None:
            self._add(self._item("conflict", place, eid, reason=conflict, tator=_brief(row)))
            return
        self._update(place, eid, row)

    def _unrecorded(self, eid: str, place: dict, row: dict | None) -> None:
        """A label whose elemental id an earlier, interrupted push minted."""
        if row is None:
            self._create(place, eid)
        elif row.get("variant_deleted"):
            self._add(self._item("conflict", place, eid, tator=_brief(row), reason=(
                "an earlier push created this element and it was deleted in Tator since")))
        else:
            self._update(place, eid, row, adopt=ALREADY_CREATED)

    def _conflict_reason(self, known: ElementState, row: dict | None, what: str) -> str | None:
        if row is None:
            return f"{what}; pruned in Tator since the pull"
        mark = int(row.get("mark") or 0)
        if mark == known.mark and int(row["id"]) == known.tator_id:
            return None if not row.get("variant_deleted") else f"{what}; deleted in Tator"
        if self.accepted.get(known.elemental_id) == mark and not row.get("variant_deleted"):
            return None
        change = "deleted" if row.get("variant_deleted") else "changed"
        return (f"{what}; {change} in Tator since the pull (mark {known.mark} → {mark}, by "
                f"user {row.get('modified_by')})")

    def _already_in_tator(self, place: dict, row: dict | None) -> bool:
        """Whether Tator's latest row already holds exactly the label's values.

        Tator moved on, but to what the label says: an earlier push that was cut off after
        Tator applied it, or a colleague who made the same fix. Nothing to send or resolve.
        """
        if row is None or row.get("variant_deleted"):
            return False
        try:
            checked = check_label(place["label"], place["info"])
        except InvalidLabel:
            return False
        attributes = row.get("attributes") or {}
        return (_same_geometry(checked.geometry, row)
                and all(_same_value(value, attributes.get(name))
                        for name, value in checked.attributes.items())
                and all(attributes.get(name) is None for name in checked.nulls))

    def _update(self, place: dict, eid: str, row: dict, adopt: str | None = None) -> None:
        """Plans what the label changes on ``row``; with ``adopt`` (the reason), a label
        Tator already holds is recorded on that row instead of being sent again."""
        checked = self._check(place, eid)
        if checked is None:
            return
        geometry = None if _same_geometry(checked.geometry, row) else checked.geometry
        changed = {name: value for name, value in checked.attributes.items()
                   if not _same_value(value, (row.get("attributes") or {}).get(name))}
        nulls = [] if adopt else [name for name in checked.nulls
                                  if (row.get("attributes") or {}).get(name) is not None]
        kind = "update" if geometry or changed or nulls else ("create" if adopt else None)
        if kind is None:
            return
        item = self._item(kind, place, eid, base=row, checked=checked)
        item.geometry, item.attributes, item.null_attributes = geometry, changed, nulls
        if adopt:
            item.reason = adopt
        self._add(item)

    def _create(self, place: dict, eid: str | None) -> None:
        if place["sample"].get("tator_media_id") is None:
            self._add(self._item("invalid", place, eid,
                                 reason="the sample has no Tator media id"))
            return
        checked = self._check(place, eid)
        if checked is None:
            return
        item = self._item("create", place, eid, checked=checked)
        item.geometry, item.attributes = checked.geometry, checked.attributes
        self._add(item)

    def _deleted(self, known: ElementState) -> None:
        row = self.rows.get(known.elemental_id)
        item = plans.PlanItem(
            kind="delete", elemental_id=known.elemental_id, sample_id=known.sample_id,
            label_id=known.label_id, field=known.field, type_id=known.type_id,
            media_id=known.media_id, frame=known.frame, base_id=known.tator_id,
            base_mark=known.mark)
        if row is None or row.get("variant_deleted"):
            item.base_id = None
            item.reason = "already deleted in Tator; only the sync record is dropped"
        else:
            conflict = self._conflict_reason(known, row, "deleted in FiftyOne")
            if conflict is not None:
                item.kind, item.reason, item.tator = "conflict", conflict, _brief(row)
            else:
                item.base_id, item.base_mark = int(row["id"]), int(row.get("mark") or 0)
        self._add(item)

    def _check(self, place: dict, eid: str | None) -> Checked | None:
        try:
            return check_label(place["label"], place["info"])
        except InvalidLabel as exc:
            self._add(self._item("invalid", place, eid, reason=str(exc)))
            return None

    def _item(self, kind: str, place: dict, eid: str | None, reason: str | None = None,
              tator: dict | None = None, base: Mapping[str, Any] | None = None,
              checked: Checked | None = None) -> plans.PlanItem:
        sample, info, label = place["sample"], place["info"], place["label"]
        item = plans.PlanItem(
            kind=kind, elemental_id=eid, sample_id=str(sample["_id"]),
            label_id=str(label.get("_id")), field=place["field"], type_id=info.id,
            media_id=sample.get("tator_media_id"), frame=int(sample.get("frame") or 0),
            reason=reason, tator=tator)
        if base is not None:
            item.base_id, item.base_mark = int(base["id"]), int(base.get("mark") or 0)
        if checked is not None:
            item.fixes = {k: _storable(v) for k, v in checked.label_fixes.items()}
            item.digest = digest({**label, **checked.label_fixes}, info)
            if checked.notes:
                item.reason = "; ".join(checked.notes)
        return item

    def _add(self, item: plans.PlanItem) -> None:
        self.items.append(item)


def _brief(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": row.get("id"), "mark": row.get("mark"),
            "modified_by": row.get("modified_by"),
            "modified_datetime": row.get("modified_datetime"),
            "variant_deleted": bool(row.get("variant_deleted")),
            "attributes": dict(row.get("attributes") or {})}


def _storable(value: Any) -> Any:
    return value if not isinstance(value, ObjectId) else str(value)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE)
    return a == b


def _same_geometry(geometry: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    return all(_close(value, row.get(key)) for key, value in geometry.items())


def _same_value(mine: Any, theirs: Any) -> bool:
    if isinstance(mine, str) and isinstance(theirs, str) and mine != theirs:
        try:
            return attrs.parse_datetime(mine) == attrs.parse_datetime(theirs) and \
                mine.endswith("Z") and theirs.endswith("Z")
        except attrs.AttributeValueError:
            return False
    return _close(mine, theirs)
