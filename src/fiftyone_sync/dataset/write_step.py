"""The write step of a pull: conflicts, samples, labels, removals, sync state, schemas.

Runs only after the listing and the downloads succeeded. Every write is addressed by sample
id and label id (:class:`~fiftyone_sync.dataset.writer.SampleWriter`), so a user editing in
the App at the same time loses nothing. An element whose label was edited in FiftyOne since
the last pull (its values no longer match the digest in the sync state) and that Tator
changed or deleted is a conflict: the FiftyOne label is kept as it is, tagged
``tator:conflict``, listed in the result, and its sync state is left as it was so the next
pull reports it again until someone resolves it.

The App may save an edit after the conflict check read a label and before the pull writes
it. Every update and removal of an existing label is therefore a compare-and-set on the
values the check read (:meth:`SampleWriter.set_label` with ``expect``); once the writes are
sent, the labels are read back, and one that does not hold what the pull meant to leave
(the App's edit won the race) becomes a conflict like any other.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import fiftyone as fo
from bson import ObjectId

from fiftyone_sync.dataset import mapping, schema
from fiftyone_sync.dataset.plan import MAX_LISTED_PROBLEMS
from fiftyone_sync.dataset.spool import Spool
from fiftyone_sync.dataset.sync_state import ElementState, MediaState
from fiftyone_sync.dataset.writer import BATCH, SampleWriter

if TYPE_CHECKING:
    from fiftyone_sync.dataset.runner import Key, PullRun

logger = logging.getLogger(__name__)

_LABEL_KEYS = ("label", "confidence", "bounding_box", "points", "closed", "filled")


class WriteStep:
    """Applies a finished plan to the dataset.

    Args:
        job: the pull run (plan, files, media, result).
        spool: the changed localizations, made into labels (:mod:`.prepared`).
    """

    def __init__(self, job: "PullRun", spool: Spool) -> None:
        self.job = job
        self.spool = spool
        self.plan = job.planner
        self.result = job.result
        self.conflicts: set[str] = set()
        self.kept: set[str] = set()
        self.new_states: list[ElementState] = []
        self.removed_states: list[str] = []
        self.touched: set[ObjectId] = set()
        self.created_keys: set["Key"] = set()
        self.pending: list[dict[str, Any]] = []
        self.moved: set[str] = set()
        self.read: dict[str, dict[str, Any]] = {}
        self.written: dict[str, str] = {}

    def apply(self) -> None:
        """Applies every change, in an order that keeps the dataset consistent."""
        self.dataset = self._timed("schema", self._open_dataset)
        self.writer = SampleWriter(self.dataset._sample_collection, self.dataset._doc.id)
        self.infos = {**self.job.previous_infos, **self.job.infos}
        self._timed("conflicts", self._detect_conflicts)
        self.job.ctx.check_cancelled()
        self._timed("creates and updates", self._write_groups)
        self.job.ctx.check_cancelled()
        self._timed("bare samples", self._bare_samples)
        self._timed("removals", self._remove_labels)
        self._timed("media changes", self._update_media)
        self.writer.flush()
        self._timed("recheck of raced labels", self._check_guarded_writes)
        self._timed("empty samples", self._remove_empty_samples)
        self._timed("sync state", self._save_state)
        self._timed("schemas and views", self._finish_dataset)

    def _timed(self, phase: str, step: Any) -> Any:
        started = time.monotonic()
        value = step()
        logger.info("Pull %s: write %s took %.2f s", self.job.name, phase,
                    time.monotonic() - started)
        return value

    # Dataset ----------------------------------------------------------------------------

    def _open_dataset(self) -> fo.Dataset:
        if fo.dataset_exists(self.job.name):
            dataset = fo.load_dataset(self.job.name)
        else:
            dataset = fo.Dataset(self.job.name, persistent=True)
            logger.info("Created dataset %s", self.job.name)
        if dataset.media_type != "image":
            dataset.media_type = "image"
        schema.declare_fields(dataset, self.job.infos.values())
        infos = {**self.job.previous_infos, **self.job.infos}
        info = {"project": self.job.project, "project_name": self.job.project_doc.get("name"),
                "version": self.job.version, "version_name": self.job.version_doc.get("name"),
                "tator_url": self.job.settings.tator_url,
                "types": {str(i.id): i.to_dict() for i in infos.values()}}
        if dataset.info.get("tator") != info:
            dataset.info["tator"] = info
            dataset.save()
        self.job.state.save_dataset(self.job.name, writing=True)
        return dataset

    # Conflicts --------------------------------------------------------------------------

    def _detect_conflicts(self) -> None:
        """Finds local edits among the elements Tator changed or deleted."""
        self.deletes = self.plan.deletes(self.job.held_media)
        candidates = self.plan.updates | self.plan.moves | self.deletes
        states = [self.job.elements[eid] for eid in candidates]
        docs = self.writer.read_labels((ObjectId(s.sample_id) for s in states),
                                       {s.field for s in states})
        for state in states:
            current = self._current_label(docs, state)
            info = self.infos.get(state.type_id)
            if info is None:
                continue
            if current is None:
                if state.elemental_id not in self.deletes:
                    self._conflict(state, None, "deleted in FiftyOne, changed in Tator")
                continue
            if mapping.digest(current, info) == state.digest:
                self.read[state.elemental_id] = self._expected(current, info)
                continue
            if state.elemental_id in self.plan.forced:
                self.kept.add(state.elemental_id)
            else:
                self._conflict(state, current, "edited in FiftyOne and in Tator")
        for eid in self.conflicts | self.kept:
            self.plan.updates.discard(eid)
            self.plan.moves.discard(eid)
            self.deletes.discard(eid)

    @staticmethod
    def _expected(label: dict[str, Any], info: mapping.TypeInfo) -> dict[str, Any]:
        """The values a later write must still find in the label (those the digest covers)."""
        return {key: label.get(key) for key in mapping.digest_keys(info)}

    def _current_label(self, docs: dict, state: ElementState) -> dict[str, Any] | None:
        sample = docs.get(ObjectId(state.sample_id))
        info = self.infos.get(state.type_id)
        if sample is None or info is None:
            return None
        container = sample.get(state.field) or {}
        wanted = ObjectId(state.label_id)
        return next((label for label in container.get(info.list_key) or []
                     if label.get("_id") == wanted), None)

    def _conflict(self, state: ElementState, current: dict | None, reason: str) -> None:
        self.conflicts.add(state.elemental_id)
        self.result.conflict_count += 1
        if len(self.result.conflicts) < MAX_LISTED_PROBLEMS:
            self.result.conflicts.append(state.elemental_id)
        logger.info("Conflict on element %s: %s", state.elemental_id, reason)
        if current is not None:
            info = self.infos[state.type_id]
            self.writer.tag_label(ObjectId(state.sample_id), state.field, info.list_key,
                                  ObjectId(state.label_id), mapping.CONFLICT_TAG)

    # Creates and updates ----------------------------------------------------------------

    def _write_groups(self) -> None:
        """Walks the spool per (media, frame): new samples, pushes and label updates."""
        total = len(self.spool)
        done = 0
        skip = self.conflicts | self.kept
        for key, entries in self.spool.groups():
            wanted = [e for e in entries if str(e["row"]["elemental_id"]) not in skip]
            if wanted:
                self._write_group(key, wanted)
            done += len(entries)
            if len(self.pending) >= BATCH:
                self._insert_pending()
                self.job.ctx.progress("writing", done, total)
                self.job.ctx.check_cancelled()
        self._insert_pending()
        self.job.ctx.progress("writing", done, total)

    def _write_group(self, key: "Key", entries: list[dict[str, Any]]) -> None:
        existing = self.job.existing.get(key)
        if existing is None and key not in self.job.files:
            return
        new_labels: dict[str, list[dict[str, Any]]] = defaultdict(list)
        sample_id = existing["id"] if existing else ObjectId()
        for entry in entries:
            eid = str(entry["row"]["elemental_id"])
            info = self.job.infos[int(entry["row"]["type"])]
            if existing is not None and eid in self.plan.updates:
                self._update_label(sample_id, key, entry, info)
                continue
            doc = entry["doc"]
            if eid in self.plan.updates:  # its sample is gone: the label comes back anew
                doc["_id"] = ObjectId()
            new_labels[info.field].append(doc)
            self._record(eid, entry, info, doc, sample_id, key)
            if eid in self.plan.moves:
                self.moved.add(eid)
                self.result.labels_updated += 1
            else:
                self.result.labels_created += 1
        if not new_labels:
            return
        if existing is not None:
            for field, docs in new_labels.items():
                info = self._info_of_field(field)
                self.writer.push_labels(sample_id, field, info.list_class, info.list_key, docs)
            self.touched.add(sample_id)
        else:
            self._queue_sample(key, sample_id, new_labels)

    def _update_label(self, sample_id: ObjectId, key: "Key", entry: dict[str, Any],
                      info: mapping.TypeInfo) -> None:
        row, doc = entry["row"], entry["doc"]
        eid = str(row["elemental_id"])
        state = self.job.elements[eid]
        self._record(eid, entry, info, doc, sample_id, key)
        if entry["digest"] == state.digest and state.tator_id == int(row["id"]) \
                and state.mark == int(row.get("mark") or 0):
            self.result.labels_unchanged += 1
            return
        values = {k: v for k, v in doc.items() if k not in ("_id", "_cls", "tags", "attributes")}
        keys = set(_LABEL_KEYS) | {a.field for a in info.attributes}
        unset = [k for k in keys if k not in values]
        self.writer.set_label(sample_id, info.field, info.list_key, ObjectId(state.label_id),
                              values, unset, expect=self.read.get(eid))
        self.written[eid] = entry["digest"]
        self.touched.add(sample_id)
        self.result.labels_updated += 1

    def _record(self, eid: str, entry: dict[str, Any], info: mapping.TypeInfo,
                doc: dict[str, Any], sample_id: ObjectId, key: "Key") -> None:
        row = entry["row"]
        self.new_states.append(ElementState(
            elemental_id=eid, version=int(row["version"]), tator_id=int(row["id"]),
            mark=int(row.get("mark") or 0), modified=row.get("modified_datetime"),
            digest=entry["digest"], sample_id=str(sample_id), label_id=str(doc["_id"]),
            field=info.field, type_id=info.id, media_id=key[0], frame=key[1]))

    def _info_of_field(self, field: str) -> mapping.TypeInfo:
        return next(i for i in self.job.infos.values() if i.field == field)

    def _queue_sample(self, key: "Key", sample_id: ObjectId,
                      labels: dict[str, list[dict[str, Any]]]) -> None:
        media = self.job.media[key[0]]
        doc: dict[str, Any] = {"_id": sample_id, **self.job.file_fields(key),
                               **self.job.sample_fields(media, key[1])}
        for field, docs in labels.items():
            info = self._info_of_field(field)
            doc[field] = {"_cls": info.list_class, info.list_key: docs}
        self.pending.append(doc)
        self.created_keys.add(key)

    def _insert_pending(self) -> None:
        if self.pending:
            self.writer.insert_samples(self.pending)
            self.result.samples_created += len(self.pending)
            self.pending = []

    def _bare_samples(self) -> None:
        """New image samples that carry no changed localization."""
        for key in sorted(self.job.needed):
            if key in self.job.existing or key in self.created_keys or key not in self.job.files:
                continue
            self._queue_sample(key, ObjectId(), {})
            if len(self.pending) >= BATCH:
                self._insert_pending()
        self._insert_pending()

    # Removals and media -----------------------------------------------------------------

    def _remove_labels(self) -> None:
        """Deleted elements, and the old place of moved ones (each only if still as read)."""
        for eid in self.deletes | self.moved:
            state = self.job.elements[eid]
            info = self.infos.get(state.type_id)
            if info is None:
                continue
            place = (ObjectId(state.sample_id), state.field, info.list_key)
            if eid in self.read:
                self.writer.pull_label_if(*place, ObjectId(state.label_id), self.read[eid])
            else:
                self.writer.pull_labels(*place, [ObjectId(state.label_id)])
            self.touched.add(place[0])
            if eid in self.deletes:
                self.removed_states.append(eid)
                self.result.labels_removed += 1

    def _check_guarded_writes(self) -> None:
        """Labels the App saved between the conflict check and the writes become conflicts.

        An updated label must now hold the values the pull wrote; a removed one (deleted in
        Tator, or moved away) must be gone. Otherwise the compare-and-set found the App's
        edit and left it alone: the element is a conflict, its sync state stays as it was,
        and a moved element's new copy is taken out again.
        """
        removed = (self.deletes | self.moved) & set(self.read)
        if not self.written and not removed:
            return
        states = [self.job.elements[eid] for eid in [*self.written, *removed]]
        docs = self.writer.read_labels((ObjectId(s.sample_id) for s in states),
                                       {s.field for s in states})
        lost: set[str] = set()
        for state in states:
            eid = state.elemental_id
            current = self._current_label(docs, state)
            if eid in self.written:
                info = self.infos[state.type_id]
                if current is not None and mapping.digest(current, info) == self.written[eid]:
                    continue
                self.result.labels_updated -= 1
            elif current is None:
                continue
            elif eid in self.deletes:
                self.removed_states.remove(eid)
                self.result.labels_removed -= 1
            else:
                self._take_back_moved_copy(eid)
            lost.add(eid)
            self._conflict(state, current, "edited in FiftyOne while this pull wrote it")
        self.writer.flush()
        if lost:
            self.new_states = [s for s in self.new_states if s.elemental_id not in lost]
            logger.warning("Pull %s: %d labels were edited in FiftyOne while the pull wrote "
                           "them; kept as conflicts", self.job.name, len(lost))

    def _take_back_moved_copy(self, eid: str) -> None:
        """Removes the copy a move created, whose original the App edited meanwhile."""
        new = next(s for s in self.new_states if s.elemental_id == eid)
        info = self.infos[new.type_id]
        self.writer.pull_labels(ObjectId(new.sample_id), new.field, info.list_key,
                                [ObjectId(new.label_id)])
        self.moved.discard(eid)
        self.result.labels_updated -= 1

    def _update_media(self) -> None:
        """Media fields and files of existing samples whose media changed in Tator."""
        self.media_states: list[MediaState] = []
        for media_id, media in self.job.media.items():
            if media_id in self.job.held_media:
                continue
            digest = mapping.media_digest(media)
            known = self.job.media_state.get(media_id)
            if known is not None and known.digest == digest:
                continue
            self.media_states.append(MediaState(media_id, digest, media.get("md5")))
            if known is None:
                continue
            for key, sample in self.job.existing.items():
                if key[0] != media_id or key not in self.job.needed:
                    continue
                values = self.job.sample_fields(media, key[1])
                if key in self.job.files and self.job.files[key] != sample["filepath"]:
                    values.update(self.job.file_fields(key))
                self.writer.set_sample(sample["id"], values)
                self.touched.add(sample["id"])

    def _remove_empty_samples(self) -> None:
        """Existing samples no longer needed, once no label is left in them."""
        gone = [sample for key, sample in self.job.existing.items()
                if key not in self.job.needed and key[0] not in self.job.held_media]
        if not gone:
            return
        fields = {info.field: info.list_key for info in self.infos.values()}
        docs = self.writer.read_labels((s["id"] for s in gone), fields)
        empty = [sid for sid, doc in docs.items()
                 if not any((doc.get(f) or {}).get(k) for f, k in fields.items())]
        self.writer.delete_samples(empty)
        self.writer.flush()
        self.touched -= set(empty)
        self.result.samples_removed += len(empty)

    # Bookkeeping ------------------------------------------------------------------------

    def _save_state(self) -> None:
        self.result.labels_unchanged += self.plan.unchanged + len(self.kept)
        self.result.samples_updated = len(self.touched)
        self.result.clipped_boxes = self.plan.clipped
        self.result.invalid_count = self.plan.invalid_count
        self.result.invalid_items = self.plan.invalid
        removed_media = [m for m in self.job.media_state if m not in self.job.media]
        self.job.state.write(self.job.name, self.new_states, self.removed_states,
                             self.media_states, removed_media, known=self.job.elements)

    def _finish_dataset(self) -> None:
        dataset = self.dataset
        present = {}
        for item in self.job.infos.values():
            if not item.class_choices:
                present[item.field] = [v for v in dataset.distinct(
                    f"{item.field}.{item.list_key}.label") if v is not None]
        schema.apply_label_schemas(dataset, self.job.infos.values(), present)
        result = self.result
        changed = (result.labels_created or result.labels_updated or result.labels_removed
                   or result.samples_removed)
        schema.save_patch_views(dataset, self.job.infos.values(), bool(changed))
        self.job.finish_state(dataset)
