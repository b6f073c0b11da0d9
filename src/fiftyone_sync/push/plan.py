"""Push plans: the reviewed list of changes, stored under an id and read back in pages.

A dry run (:mod:`.diff`) produces a :class:`Plan`; it is stored in the project database
(plain ``pymongo``, collection ``tator_push_plans``: one header document per plan and one
document per item, numbered by ``seq`` so pages are index range reads). Applying takes the
plan id, so what is applied is what was reviewed (DESIGN.md section 7).

The plan carries a **fingerprint** of the dataset: every sample's id and
``last_modified_at`` (which every write moves, the App's saves included) plus the sync state
records and accepted conflicts of the dataset. Applying refuses when the fingerprint changed
since the plan was made; a plan whose apply started is spent (its own writes change the
fingerprint), so a retry makes a new plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

PLANS = "tator_push_plans"
ACCEPTED = "tator_push_accepted"
STATE = "tator_sync_state"
DATASETS = "datasets"
MAX_PAGE_SIZE = 500
INSERT_BATCH = 1000

KINDS = ("update", "create", "delete", "conflict", "invalid")

READY = "ready"
APPLYING = "applying"
APPLIED = "applied"


class PlanError(RuntimeError):
    """A plan that cannot be read or applied; the message says why."""


class PlanNotFound(PlanError):
    """No plan with that id for that dataset."""


class PlanStale(PlanError):
    """The dataset changed since the plan was made, or the plan was already applied."""


@dataclasses.dataclass
class PlanItem:
    """One change of a plan.

    Attributes:
        kind: ``update``, ``create``, ``delete``, ``conflict`` or ``invalid``.
        elemental_id: the Tator element (None for a create whose id is not minted yet).
        sample_id, label_id, field: where the label is (or was) in the dataset.
        type_id: the localization type.
        media_id, frame: the Tator media and 0-based frame of the sample.
        base_id, base_mark: the Tator row the change applies on (pedantic guard).
        geometry: Tator geometry fields to set (None: geometry unchanged).
        attributes: Tator attributes to set (name → value, Tator-typed).
        null_attributes: Tator attributes to clear.
        reason: why the item is a conflict or invalid; notes (e.g. clamping) otherwise.
        tator: for a conflict, Tator's latest row (mark, id, modified, deleted).
        fixes: label keys to write back after the push (clamped box, attribute text).
        digest: the label's digest once pushed (what the sync state records).
    """

    kind: str
    elemental_id: str | None = None
    sample_id: str | None = None
    label_id: str | None = None
    field: str | None = None
    type_id: int | None = None
    media_id: int | None = None
    frame: int | None = None
    base_id: int | None = None
    base_mark: int | None = None
    geometry: dict[str, Any] | None = None
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    null_attributes: list[str] = dataclasses.field(default_factory=list)
    reason: str | None = None
    tator: dict[str, Any] | None = None
    fixes: dict[str, Any] = dataclasses.field(default_factory=dict)
    digest: str | None = None

    @property
    def attribute_only(self) -> bool:
        """An update that touches attributes only (groupable into a bulk PATCH)."""
        return self.kind == "update" and self.geometry is None

    def to_doc(self) -> dict[str, Any]:
        """The stored form (a shallow copy: values are JSON-like already)."""
        return {name: getattr(self, name) for name in _ITEM_FIELDS}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PlanItem:
        """The inverse of :meth:`to_doc` (storage keys are ignored)."""
        return cls(**{k: v for k, v in doc.items() if k in _ITEM_FIELDS})


_ITEM_FIELDS = tuple(f.name for f in dataclasses.fields(PlanItem))


@dataclasses.dataclass
class Plan:
    """A whole plan: header fields and its items."""

    dataset: str
    project: int
    version: int
    fingerprint: str
    items: list[PlanItem] = dataclasses.field(default_factory=list)
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    created_at: dt.datetime = dataclasses.field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    status: str = READY

    def counts(self) -> dict[str, int]:
        """Items per kind."""
        counts = {kind: 0 for kind in KINDS}
        for item in self.items:
            counts[item.kind] += 1
        return counts

    def summary(self) -> dict[str, Any]:
        """The header as the API shows it."""
        return {"plan_id": self.id, "dataset": self.dataset, "project": self.project,
                "version": self.version, "status": self.status,
                "created_at": self.created_at.isoformat(), "counts": self.counts(),
                "total": len(self.items)}


class PlanStore:
    """Plans of one project database.

    Args:
        db: the project's MongoDB database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.plans = db[PLANS]
        self.plans.create_index([("plan", ASCENDING), ("seq", ASCENDING)])

    def save(self, plan: Plan) -> None:
        """Stores a plan: header first (status ``ready`` only once every item is in)."""
        header = {"_id": f"plan:{plan.id}", "kind": "plan", **plan.summary(),
                  "fingerprint": plan.fingerprint, "created_at": plan.created_at,
                  "status": "writing"}
        self.plans.insert_one(header)
        docs = ({"plan": plan.id, "seq": n, **item.to_doc()}
                for n, item in enumerate(plan.items))
        for batch in _batches(docs, INSERT_BATCH):
            self.plans.insert_many(batch, ordered=False)
        self.plans.update_one({"_id": header["_id"]}, {"$set": {"status": plan.status}})

    def header(self, plan_id: str, dataset: str | None = None) -> dict[str, Any]:
        """A plan's header document.

        Raises:
            PlanNotFound: unknown id, or a plan of another dataset.
        """
        doc = self.plans.find_one({"_id": f"plan:{plan_id}"})
        if doc is None or (dataset is not None and doc.get("dataset") != dataset):
            raise PlanNotFound(f"no push plan {plan_id} for this dataset")
        return doc

    def page(self, plan_id: str, page: int, page_size: int) -> list[PlanItem]:
        """Items ``[page*size, (page+1)*size)`` in plan order (pages count from 0)."""
        size = max(1, min(int(page_size), MAX_PAGE_SIZE))
        start = max(0, int(page)) * size
        cursor = self.plans.find({"plan": plan_id, "seq": {"$gte": start, "$lt": start + size}},
                                 sort=[("seq", ASCENDING)])
        return [PlanItem.from_doc(doc) for doc in cursor]

    def items(self, plan_id: str) -> Iterator[PlanItem]:
        """Every item of a plan, in order."""
        for doc in self.plans.find({"plan": plan_id}, sort=[("seq", ASCENDING)]):
            yield PlanItem.from_doc(doc)

    def load(self, plan_id: str, dataset: str) -> Plan:
        """A whole plan."""
        doc = self.header(plan_id, dataset)
        return Plan(dataset=doc["dataset"], project=doc["project"], version=doc["version"],
                    fingerprint=doc["fingerprint"], items=list(self.items(plan_id)),
                    id=plan_id, created_at=doc["created_at"], status=doc["status"])

    def claim(self, plan_id: str, fingerprint: str) -> None:
        """Marks a ready plan as being applied, if the dataset still has ``fingerprint``.

        Raises:
            PlanStale: the plan is not ready (applied, or applying) or the dataset changed.
        """
        doc = self.plans.find_one({"_id": f"plan:{plan_id}"}) or {}
        check_ready(doc, fingerprint)
        claimed = self.plans.update_one({"_id": f"plan:{plan_id}", "status": READY},
                                        {"$set": {"status": APPLYING}})
        if claimed.modified_count != 1:
            raise PlanStale(f"push plan {plan_id} is already being applied")

    def finish(self, plan_id: str, result: dict[str, Any]) -> None:
        """Records the outcome of an apply."""
        self.plans.update_one({"_id": f"plan:{plan_id}"},
                              {"$set": {"status": APPLIED, "result": result}})


def check_ready(header: dict[str, Any], fingerprint: str) -> None:
    """Raises :class:`PlanStale` unless the plan is ready and the dataset is unchanged."""
    if header.get("status") != READY:
        raise PlanStale(f"push plan {header.get('plan_id')} is {header.get('status')}, not "
                        "ready: make a new plan (dry_run=true) and review it")
    if header.get("fingerprint") != fingerprint:
        raise PlanStale("the dataset changed since this push plan was made; make a new plan "
                        "(dry_run=true) and review it again")


def _batches(docs: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def sample_collection(db: Database, dataset: str) -> str:
    """The name of a FiftyOne dataset's sample collection, read from ``datasets``.

    Raises:
        PlanError: the dataset does not exist.
    """
    doc = db[DATASETS].find_one({"name": dataset}, {"sample_collection_name": 1})
    if doc is None:
        raise PlanError(f"dataset {dataset} does not exist: pull it first")
    return str(doc["sample_collection_name"])


def fingerprint(db: Database, dataset: str) -> str:
    """A digest of everything a plan depends on (see the module docstring)."""
    digest = hashlib.sha1()
    samples = db[sample_collection(db, dataset)]
    for doc in samples.find({}, {"_id": 1, "last_modified_at": 1}, sort=[("_id", ASCENDING)]):
        digest.update(f"{doc['_id']}:{doc.get('last_modified_at')};".encode())
    state = db[STATE].find({"dataset": dataset, "kind": "element"},
                           {"_id": 1, "tator_id": 1, "mark": 1, "digest": 1},
                           sort=[("_id", ASCENDING)])
    for doc in state:
        digest.update(f"{doc['_id']}:{doc.get('tator_id')}:{doc.get('mark')}:"
                      f"{doc.get('digest')};".encode())
    for doc in db[ACCEPTED].find({"dataset": dataset}, sort=[("_id", ASCENDING)]):
        digest.update(f"{doc['_id']}:{doc.get('mark')};".encode())
    return digest.hexdigest()
