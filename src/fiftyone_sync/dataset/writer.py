"""Bulk, id-addressed writes of samples and labels into one dataset's MongoDB collection.

The FiftyOne App may be saving a user's edit while a pull runs. A pull therefore never loads
a ``Sample`` and saves it back (a stale copy overwrites by list position, reference
fiftyone.md section 2.4): every change here is one atomic MongoDB update addressed by sample
id and label id (``$push`` a new label, ``$set`` fields of the label whose ``_id`` matches,
``$pull`` a label by ``_id``), sent in bulk. New samples are inserted in batches with
``insert_many``. Every write moves the sample's ``last_modified_at`` like FiftyOne's own
writes do, so the App and the push see the change. The documents have the shape FiftyOne
itself writes (``_cls``, ``_id``, ``_dataset_id``, ``_media_type``, ``_rand``, timestamps);
every field they use is declared on the dataset beforehand (see :mod:`.schema`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bson import ObjectId
from pymongo import DeleteMany, UpdateOne
from pymongo.collection import Collection

BATCH = 1000


def _now() -> dt.datetime:
    """FiftyOne's timestamp convention: naive UTC, millisecond precision."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class SampleWriter:
    """Writes to one dataset's sample collection.

    Args:
        collection: the dataset's sample collection.
        dataset_id: the dataset's id (every sample document carries it).
    """

    def __init__(self, collection: Collection, dataset_id: ObjectId) -> None:
        self.collection = collection
        self.dataset_id = dataset_id
        self._ops: list[Any] = []

    def insert_samples(self, docs: Sequence[dict[str, Any]]) -> list[ObjectId]:
        """Inserts new sample documents (``filepath``, fields, labels); returns their ids."""
        now = _now()
        for doc in docs:
            doc.setdefault("_id", ObjectId())
            doc.setdefault("tags", [])
            doc.update(_media_type="image", _rand=random.random() * 0.001 + 0.999,
                       _dataset_id=self.dataset_id, created_at=now, last_modified_at=now)
        for offset in range(0, len(docs), BATCH):
            self.collection.insert_many(docs[offset:offset + BATCH], ordered=False)
        return [doc["_id"] for doc in docs]

    def push_labels(self, sample_id: ObjectId, field: str, list_class: str, list_key: str,
                    labels: list[dict[str, Any]]) -> None:
        """Appends labels to a sample's label field (creating the container if absent)."""
        self._ops.append(UpdateOne(
            {"_id": sample_id, field: None},
            {"$set": {field: {"_cls": list_class, list_key: []}}}))
        self._ops.append(UpdateOne(
            {"_id": sample_id},
            {"$push": {f"{field}.{list_key}": {"$each": labels}},
             "$set": {"last_modified_at": _now()}}))
        self._flush_if_full()

    def set_label(self, sample_id: ObjectId, field: str, list_key: str, label_id: ObjectId,
                  values: Mapping[str, Any], unset: Iterable[str] = (),
                  expect: Mapping[str, Any] | None = None) -> None:
        """Sets (and unsets) keys of the label with ``label_id``; its tags are kept.

        Args:
            expect: if given, the write happens only while the label still holds these
                values (a compare-and-set: an edit saved in between makes it a no-op, which
                the caller detects by reading the label back).
        """
        path = f"{field}.{list_key}.$[label]"
        update: dict[str, Any] = {"$set": {f"{path}.{k}": v for k, v in values.items()}}
        update["$set"]["last_modified_at"] = _now()
        removed = {f"{path}.{k}": "" for k in unset}
        if removed:
            update["$unset"] = removed
        query: dict[str, Any] = {"_id": sample_id}
        if expect is not None:
            query[f"{field}.{list_key}"] = {"$elemMatch": {"_id": label_id, **expect}}
        self._ops.append(UpdateOne(query, update, array_filters=[{"label._id": label_id}]))
        self._flush_if_full()

    def tag_label(self, sample_id: ObjectId, field: str, list_key: str, label_id: ObjectId,
                  tag: str) -> None:
        """Adds a tag to one label (no-op if it has it)."""
        path = f"{field}.{list_key}.$[label].tags"
        untagged = {"$elemMatch": {"_id": label_id, "tags": {"$ne": tag}}}
        self._ops.append(UpdateOne(
            {"_id": sample_id, f"{field}.{list_key}": untagged},
            {"$addToSet": {path: tag}, "$set": {"last_modified_at": _now()}},
            array_filters=[{"label._id": label_id}]))
        self._flush_if_full()

    def pull_labels(self, sample_id: ObjectId, field: str, list_key: str,
                    label_ids: list[ObjectId]) -> None:
        """Removes labels from a sample by id."""
        self._ops.append(UpdateOne(
            {"_id": sample_id},
            {"$pull": {f"{field}.{list_key}": {"_id": {"$in": label_ids}}},
             "$set": {"last_modified_at": _now()}}))
        self._flush_if_full()

    def pull_label_if(self, sample_id: ObjectId, field: str, list_key: str,
                      label_id: ObjectId, expect: Mapping[str, Any]) -> None:
        """Removes one label, but only while it still holds the values ``expect`` gives."""
        condition = {"_id": label_id, **expect}
        self._ops.append(UpdateOne(
            {"_id": sample_id, f"{field}.{list_key}": {"$elemMatch": condition}},
            {"$pull": {f"{field}.{list_key}": condition},
             "$set": {"last_modified_at": _now()}}))
        self._flush_if_full()

    def set_sample(self, sample_id: ObjectId, values: Mapping[str, Any]) -> None:
        """Sets sample-level fields (media fields, filepath, metadata)."""
        self._ops.append(UpdateOne({"_id": sample_id},
                                   {"$set": {**values, "last_modified_at": _now()}}))
        self._flush_if_full()

    def delete_samples(self, sample_ids: list[ObjectId]) -> None:
        """Deletes samples by id."""
        for offset in range(0, len(sample_ids), BATCH):
            self._ops.append(DeleteMany({"_id": {"$in": sample_ids[offset:offset + BATCH]}}))
        self._flush_if_full()

    def _flush_if_full(self) -> None:
        if len(self._ops) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Sends queued updates (in order: a container is created before a push into it)."""
        if self._ops:
            self.collection.bulk_write(self._ops, ordered=True)
            self._ops = []

    def read_labels(self, sample_ids: Iterable[ObjectId],
                    fields: Iterable[str]) -> dict[ObjectId, dict[str, Any]]:
        """The current documents of samples (only the given label fields)."""
        projection = {field: 1 for field in fields}
        projection["_id"] = 1
        found: dict[ObjectId, dict[str, Any]] = {}
        ids = list(dict.fromkeys(sample_ids))
        for offset in range(0, len(ids), BATCH):
            chunk = ids[offset:offset + BATCH]
            for doc in self.collection.find({"_id": {"$in": chunk}}, projection):
                found[doc["_id"]] = doc
        return found
