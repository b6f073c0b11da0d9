"""Resolving push conflicts: "keep mine" or "take theirs", per element or for all of them.

A conflict is an element edited (or deleted) in FiftyOne whose latest mark in Tator moved
since the pull. The current conflicts are found the way a plan finds them (:mod:`.diff`).

- **mine**: the user knowingly overwrites Tator's newer revision. The accepted mark is
  recorded (collection ``tator_push_accepted``); the next plan then sends the FiftyOne
  values on top of exactly that revision (if Tator moves again, it is a conflict again).
  If Tator deleted the element, "mine" turns the label into a new one (its Tator identity
  is dropped), so the next push creates it again.
- **theirs**: the FiftyOne label takes Tator's values (written by label id), the sync state
  records Tator's revision, and the ``tator:conflict`` tag goes. If Tator deleted the
  element, the label is removed. If the label was deleted in FiftyOne, it is put back in its
  sample (or, when the sample is gone too, the next pull brings it back).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from fiftyone_sync.dataset import mapping
from fiftyone_sync.dataset.sync_state import ElementState, SyncState
from fiftyone_sync.dataset.writer import SampleWriter
from fiftyone_sync.push import plan as plans
from fiftyone_sync.push.diff import Differ
from fiftyone_sync.settings import Settings

logger = logging.getLogger(__name__)

CHOICES = ("mine", "theirs")


class ResolveError(ValueError):
    """A resolution request that cannot be carried out (bad choice, nothing selected)."""


@dataclasses.dataclass
class ResolveResult:
    """What a resolution did."""

    choice: str
    resolved: list[str] = dataclasses.field(default_factory=list)
    not_in_conflict: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the job's result)."""
        return {"choice": self.choice, "resolved": len(self.resolved),
                "elemental_ids": self.resolved[:1000],
                "not_in_conflict": self.not_in_conflict[:1000]}


class Resolver:
    """Resolves conflicts of one dataset.

    Args:
        db: the project database.
        dataset: the dataset name.
        api: the user's tator-py API object.
        project, version: the Tator ids.
        settings: the process settings (Tator URL for deep links).
    """

    def __init__(self, db: Database, dataset: str, api: Any, project: int, version: int,
                 settings: Settings) -> None:
        self.db = db
        self.dataset = dataset
        self.differ = Differ(db, dataset, api, project, version)
        self.settings = settings
        self.state = SyncState(db)

    def run(self, elemental_ids: Sequence[str] | str, choice: str) -> ResolveResult:
        """Resolves the conflicts among ``elemental_ids`` (or ``"all"``) with ``choice``.

        Raises:
            ResolveError: unknown choice or an empty selection.
        """
        if choice not in CHOICES:
            raise ResolveError(f"choice must be one of {CHOICES}, got {choice!r}")
        if elemental_ids != "all" and not elemental_ids:
            raise ResolveError("name the elemental ids to resolve, or 'all'")
        plan = self.differ.run()
        conflicts = {i.elemental_id: i for i in plan.items if i.kind == "conflict"}
        wanted = list(conflicts) if elemental_ids == "all" else list(elemental_ids)
        result = ResolveResult(choice)
        self.infos = self.differ.infos
        self.writer = SampleWriter(self.db[plans.sample_collection(self.db, self.dataset)],
                                   ObjectId())
        for eid in wanted:
            item = conflicts.get(eid)
            if item is None:
                result.not_in_conflict.append(str(eid))
                continue
            if choice == "mine":
                self._mine(item)
            else:
                self._theirs(item)
            result.resolved.append(str(eid))
        self.writer.flush()
        logger.info("Resolved %d conflict(s) of %s as %r", len(result.resolved), self.dataset,
                    choice)
        return result

    # Mine -------------------------------------------------------------------------------

    def _mine(self, item: plans.PlanItem) -> None:
        row = self.differ.rows.get(str(item.elemental_id))
        self._untag(item)
        if row is None or row.get("variant_deleted"):
            self._forget_identity(item)
            return
        self.db[plans.ACCEPTED].replace_one(
            {"_id": f"{self.dataset}:{item.elemental_id}"},
            {"dataset": self.dataset, "elemental_id": item.elemental_id,
             "mark": int(row.get("mark") or 0), "tator_id": int(row["id"])}, upsert=True)

    def _forget_identity(self, item: plans.PlanItem) -> None:
        info = self.infos[int(item.type_id or 0)]
        if self._label_exists(item):
            self.writer.set_label(ObjectId(item.sample_id), info.field, info.list_key,
                                  ObjectId(item.label_id), {}, mapping.IDENTITY_FIELDS)
        self.state.write(self.dataset, removed=[str(item.elemental_id)])

    # Theirs -----------------------------------------------------------------------------

    def _theirs(self, item: plans.PlanItem) -> None:
        eid = str(item.elemental_id)
        row = self.differ.rows.get(eid)
        info = self.infos[int(item.type_id or 0)]
        self.db[plans.ACCEPTED].delete_one({"_id": f"{self.dataset}:{eid}"})
        exists = self._label_exists(item)
        if row is None or row.get("variant_deleted"):
            if exists:
                self.writer.pull_labels(ObjectId(item.sample_id), info.field, info.list_key,
                                        [ObjectId(item.label_id)])
            self.state.write(self.dataset, removed=[eid])
            return
        link = mapping.deep_link(self.settings.tator_url, self.differ.project,
                                 int(item.media_id or 0), int(item.frame or 0),
                                 self.differ.version, eid, info.id)
        doc, _ = mapping.label_doc(row, info, link, ObjectId(item.label_id))
        if exists:
            self._overwrite(item, info, doc)
        elif self._sample_exists(item):
            self.writer.push_labels(ObjectId(item.sample_id), info.field, info.list_class,
                                    info.list_key, [doc])
        else:
            self.state.write(self.dataset, removed=[eid])
            return
        self.state.write(self.dataset, [ElementState(
            elemental_id=eid, version=int(row["version"]), tator_id=int(row["id"]),
            mark=int(row.get("mark") or 0), modified=row.get("modified_datetime"),
            digest=mapping.digest(doc, info), sample_id=str(item.sample_id),
            label_id=str(item.label_id), field=info.field, type_id=info.id,
            media_id=int(item.media_id or 0), frame=int(item.frame or 0))], known={eid})

    def _overwrite(self, item: plans.PlanItem, info: mapping.TypeInfo,
                   doc: dict[str, Any]) -> None:
        values = {k: v for k, v in doc.items() if k not in ("_id", "_cls", "attributes")}
        values["tags"] = [t for t in self._tags(item) if t != mapping.CONFLICT_TAG]
        keys = {"label", "confidence"} | {a.field for a in info.attributes}
        unset = [k for k in keys if k not in values]
        self.writer.set_label(ObjectId(item.sample_id), info.field, info.list_key,
                              ObjectId(item.label_id), values, unset)

    # Label helpers ----------------------------------------------------------------------

    def _label(self, item: plans.PlanItem) -> dict[str, Any] | None:
        info = self.infos[int(item.type_id or 0)]
        sample = self.writer.collection.find_one({"_id": ObjectId(item.sample_id)},
                                                 {info.field: 1})
        labels = ((sample or {}).get(info.field) or {}).get(info.list_key) or []
        return next((lb for lb in labels if str(lb.get("_id")) == item.label_id), None)

    def _label_exists(self, item: plans.PlanItem) -> bool:
        return self._label(item) is not None

    def _sample_exists(self, item: plans.PlanItem) -> bool:
        return self.writer.collection.count_documents({"_id": ObjectId(item.sample_id)}) > 0

    def _tags(self, item: plans.PlanItem) -> list[str]:
        return list((self._label(item) or {}).get("tags") or [])

    def _untag(self, item: plans.PlanItem) -> None:
        tags = self._tags(item)
        if mapping.CONFLICT_TAG in tags and self._label_exists(item):
            info = self.infos[int(item.type_id or 0)]
            self.writer.set_label(ObjectId(item.sample_id), info.field, info.list_key,
                                  ObjectId(item.label_id),
                                  {"tags": [t for t in tags if t != mapping.CONFLICT_TAG]})
