"""The write step of a pull: conflicts, samples, labels, removals, sync state, schemas.

Runs only after the listing and the downloads succeeded. Every write is addressed by sample
id and label id (:class:`~fiftyone_sync.dataset.writer.SampleWriter`), so a user editing in
the App at the same time loses nothing. An element whose label was edited in FiftyOne since
the last pull (its values no longer match the digest in the sync state) and that Tator
changed or deleted is a conflict: the FiftyOne label is kept as it is, tagged
``tator:conflict``, listed in the result, and its sync state is left as it was so the next
pull reports it again until someone resolves it.
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
        spool: the changed localizations.
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
                continue
            if state.elemental_id in self.plan.forced:
                self.kept.add(state.elemental_id)
            else:
                self._conflict(state, current, "edited in FiftyOne and in Tator")
        for eid in self.conflicts | self.kept:
            self.plan.updates.discard(eid)
            self.plan.moves.discard(eid)
            self.deletes.discard(eid)

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
        for key, locs in self.spool.groups():
            wanted = [loc for loc in locs if str(loc["elemental_id"]) not in skip]
            if wanted:
                self._write_group(key, wanted)
            done += len(locs)
            if len(self.pending) >= BATCH:
                self._insert_pending()
                self.job.ctx.progress("writing", done, total)
                self.job.ctx.check_cancelled()
        self._insert_pending()
        self.job.ctx.progress("writing", done, total)

    def _write_group(self, key: "Key", locs: list[dict[str, Any]]) -> None:
        existing = self.job.existing.get(key)
        if existing is None and key not in self.job.files:
            return
        new_labels: dict[str, list[dict[str, Any]]] = defaultdict(list)
        sample_id = existing["id"] if existing else ObjectId()
        for loc in locs:
            eid = str(loc["elemental_id"])
            info = self.job.infos[int(loc["type"])]
            if existing is not None and eid in self.plan.updates:
                self._update_label(sample_id, key, loc, info)
                continue
            doc = self._label_doc(loc, info, key)
            new_labels[info.field].append(doc)
            self._record(eid, loc, info, doc, sample_id, key)
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

    def _label_doc(self, loc: dict[str, Any], info: mapping.TypeInfo, key: "Key",
                   label_id: ObjectId | None = None) -> dict[str, Any]:
        link = mapping.deep_link(self.job.settings.tator_url, self.job.project, key[0], key[1],
                                 self.job.version, str(loc["elemental_id"]), info.id)
        doc, errors = mapping.label_doc(loc, info, link, label_id)
        self.result.attribute_errors += len(errors)
        for name, error in errors:
            logger.warning("Localization %s: attribute %r skipped: %s", loc["id"], name, error)
        return doc

    def _update_label(self, sample_id: ObjectId, key: "Key", loc: dict[str, Any],
                      info: mapping.TypeInfo) -> None:
        eid = str(loc["elemental_id"])
        state = self.job.elements[eid]
        doc = self._label_doc(loc, info, key, ObjectId(state.label_id))
        self._record(eid, loc, info, doc, sample_id, key)
        if self.new_states[-1].digest == state.digest and state.tator_id == int(loc["id"]) \
                and state.mark == int(loc.get("mark") or 0):
            self.result.labels_unchanged += 1
            return
        values = {k: v for k, v in doc.items() if k not in ("_id", "_cls", "tags", "attributes")}
        keys = set(_LABEL_KEYS) | {a.field for a in info.attributes}
        unset = [k for k in keys if k not in values]
        self.writer.set_label(sample_id, info.field, info.list_key, ObjectId(state.label_id),
                              values, unset)
        self.touched.add(sample_id)
        self.result.labels_updated += 1

    def _record(self, eid: str, loc: dict[str, Any], info: mapping.TypeInfo,
                doc: dict[str, Any], sample_id: ObjectId, key: "Key") -> None:
        self.new_states.append(ElementState(
            elemental_id=eid, version=int(loc["version"]), tator_id=int(loc["id"]),
            mark=int(loc.get("mark") or 0), modified=loc.get("modified_datetime"),
            digest=mapping.digest(doc, info), sample_id=str(sample_id),
            label_id=str(doc["_id"]), field=info.field, type_id=info.id, media_id=key[0],
            frame=key[1]))

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
        """Deleted elements, and the old place of moved ones."""
        by_place: dict[tuple[str, str, str], list[ObjectId]] = defaultdict(list)
        for eid in self.deletes | self.moved:
            state = self.job.elements[eid]
            info = self.infos.get(state.type_id)
            if info is None:
                continue
            by_place[(state.sample_id, state.field, info.list_key)].append(
                ObjectId(state.label_id))
            if eid in self.deletes:
                self.removed_states.append(eid)
                self.result.labels_removed += 1
        for (sample_id, field, list_key), label_ids in by_place.items():
            self.writer.pull_labels(ObjectId(sample_id), field, list_key, label_ids)
            self.touched.add(ObjectId(sample_id))

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
        schema.save_patch_views(dataset, self.job.infos.values())
        self.job.finish_state(dataset)
