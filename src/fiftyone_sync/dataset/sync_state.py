"""The sync state: what each dataset last pulled from Tator, for pull and push to diff against.

It lives in its own collection (``tator_sync_state``) of the project database, next to
FiftyOne's collections but independent of them (plain ``pymongo``). Three kinds of document:

- ``dataset``: one per dataset: schema version, scope, last pull time, high-water mark
  ``max(last_modified_at)`` of the samples right after the pull;
- ``element``: one per Tator element ``(dataset, elemental_id, version)``: the row id, mark
  and modified time pulled, a digest of the label values as written, and where the label is
  (sample id, label id, field);
- ``media``: one per media: a digest of the media fields its samples carry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Container, Iterable
from typing import Any

from pymongo import DeleteOne, ReplaceOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

COLLECTION = "tator_sync_state"
SCHEMA_VERSION = 1
WRITE_BATCH = 1000


class SyncStateError(RuntimeError):
    """A sync state this code cannot use (e.g. written by a newer schema version)."""


@dataclasses.dataclass
class ElementState:
    """What the last pull wrote for one Tator element."""

    elemental_id: str
    version: int
    tator_id: int
    mark: int
    modified: str | None
    digest: str
    sample_id: str
    label_id: str
    field: str
    type_id: int
    media_id: int
    frame: int


@dataclasses.dataclass
class MediaState:
    """What the last pull took from one media."""

    media_id: int
    digest: str
    md5: str | None


class SyncState:
    """Reads and writes one project database's sync state.

    Args:
        db: the project's MongoDB database (``pymongo``).
    """

    def __init__(self, db: Database) -> None:
        self.collection = db[COLLECTION]
        self.collection.create_index([("dataset", 1), ("kind", 1)])

    def dataset(self, name: str) -> dict[str, Any] | None:
        """The dataset document, or None before the first pull.

        Raises:
            SyncStateError: if it was written by a newer schema version.
        """
        doc = self.collection.find_one({"_id": f"dataset:{name}"})
        if doc is not None and doc.get("schema_version", 0) > SCHEMA_VERSION:
            raise _newer(name, doc["schema_version"])
        return doc

    def save_dataset(self, name: str, **fields: Any) -> None:
        """Creates or updates the dataset document with ``fields``.

        Raises:
            SyncStateError: if a newer schema version wrote the document meanwhile (it is
                left as it is: downgrading it would make the newer service misread it).
        """
        fields.update(kind="dataset", dataset=name, schema_version=SCHEMA_VERSION)
        key = f"dataset:{name}"
        try:
            self.collection.update_one(
                {"_id": key, "schema_version": {"$not": {"$gt": SCHEMA_VERSION}}},
                {"$set": fields}, upsert=True)
        except DuplicateKeyError as exc:
            found = self.collection.find_one({"_id": key}, {"schema_version": 1}) or {}
            raise _newer(name, found.get("schema_version")) from exc

    def elements(self, name: str) -> dict[str, ElementState]:
        """Every element record of a dataset, by elemental id."""
        found: dict[str, ElementState] = {}
        for doc in self.collection.find({"dataset": name, "kind": "element"}):
            doc.pop("_id")
            doc.pop("dataset")
            doc.pop("kind")
            state = ElementState(**doc)
            found[state.elemental_id] = state
        return found

    def media(self, name: str) -> dict[int, MediaState]:
        """Every media record of a dataset, by media id."""
        return {doc["media_id"]: MediaState(doc["media_id"], doc["digest"], doc.get("md5"))
                for doc in self.collection.find({"dataset": name, "kind": "media"})}

    def write(self, name: str, elements: Iterable[ElementState] = (),
              removed: Iterable[str] = (), media: Iterable[MediaState] = (),
              removed_media: Iterable[int] = (), known: Container[str] | None = None
              ) -> None:
        """Applies upserts and removals in bulk.

        Args:
            name: the dataset.
            elements: element records to write.
            removed: elemental ids to forget.
            media: media records to write.
            removed_media: media ids to forget.
            known: elemental ids that already have a record: those are replaced and the
                others inserted, which is much faster for a first pull. None (the default):
                every record is upserted.
        """
        ops: list[Any] = []
        fresh: list[dict[str, Any]] = []
        for state in elements:
            doc = {**vars(state), "_id": f"{name}:e:{state.elemental_id}", "dataset": name,
                   "kind": "element"}
            if known is None or state.elemental_id in known:
                ops.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
            else:
                fresh.append(doc)
        for offset in range(0, len(fresh), WRITE_BATCH):
            self.collection.insert_many(fresh[offset:offset + WRITE_BATCH], ordered=False)
        ops += [DeleteOne({"_id": f"{name}:e:{eid}"}) for eid in removed]
        for record in media:
            doc = dataclasses.asdict(record)
            doc.update(dataset=name, kind="media")
            ops.append(ReplaceOne({"_id": f"{name}:m:{record.media_id}"}, doc, upsert=True))
        ops += [DeleteOne({"_id": f"{name}:m:{media_id}"}) for media_id in removed_media]
        for offset in range(0, len(ops), WRITE_BATCH):
            self.collection.bulk_write(ops[offset:offset + WRITE_BATCH], ordered=False)

    def drop(self, name: str) -> None:
        """Forgets a dataset (e.g. when it is deleted)."""
        self.collection.delete_many({"dataset": name})


def _newer(name: str, version: Any) -> SyncStateError:
    return SyncStateError(
        f"the sync state of {name} has schema version {version}, written by a newer "
        f"release of this service; this one understands up to {SCHEMA_VERSION}. Nothing "
        "was changed: upgrade the service (workers included) before pulling or pushing")


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.timezone.utc)
