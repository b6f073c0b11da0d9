"""What a pull must do, decided from the listing and the sync state before anything is written.

The :class:`Planner` consumes Tator's localization pages and sorts each element
``(elemental_id, version)`` into create, update, unchanged or delete (DESIGN.md section 6):

- listed, alive, unknown to the sync state → create;
- listed, alive, with the row id, mark and modified time the state recorded → unchanged
  (no write at all), unless ``force`` (then it is re-read and rewritten if its values differ;
  a label edited in FiftyOne meanwhile is kept, without a conflict, since Tator did not
  change it);
- listed, alive, with another row id, mark or modified time → update (a ``frame``, media or
  type change moves the label: removed from its old place, created at the new one);
- listed as ``variant_deleted``, or not listed at all (pruned, its media deleted, outside the
  scope) → delete, unless the media is held (its files could not be fetched this time).

Local edits are checked later, against the labels' current values, just before writing.
Changed elements go to the spool, already made into label documents (:mod:`.prepared`);
the planner keeps one small record per alive element.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId

from fiftyone_sync.dataset.frames import FrameError, check_frame
from fiftyone_sync.dataset.mapping import TypeInfo, is_clipped
from fiftyone_sync.dataset.prepared import LabelMaker
from fiftyone_sync.dataset.spool import Spool
from fiftyone_sync.dataset.sync_state import ElementState

logger = logging.getLogger(__name__)

MAX_LISTED_PROBLEMS = 100


@dataclasses.dataclass(frozen=True)
class Alive:
    """One element Tator holds now: where its label goes."""

    media: int
    frame: int
    type_id: int


@dataclasses.dataclass
class Planner:
    """Sorts listed elements into actions.

    Attributes:
        media: the media in scope, by id (with their ``dtype`` added).
        infos: the localization types in scope, by id.
        state: the sync state's elements, by elemental id.
        maker: makes the label documents of the elements to write.
        force: rewrite unchanged elements too.
    """

    media: Mapping[int, Mapping[str, Any]]
    infos: Mapping[int, TypeInfo]
    state: Mapping[str, ElementState]
    maker: LabelMaker
    force: bool = False
    alive: dict[str, Alive] = dataclasses.field(default_factory=dict)
    creates: set[str] = dataclasses.field(default_factory=set)
    updates: set[str] = dataclasses.field(default_factory=set)
    moves: set[str] = dataclasses.field(default_factory=set)
    forced: set[str] = dataclasses.field(default_factory=set)
    unchanged: int = 0
    clipped: int = 0
    ignored: int = 0
    invalid: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    invalid_count: int = 0

    def add_page(self, page: Iterable[Mapping[str, Any]], spool: Spool) -> None:
        """Classifies one page of localizations; changed ones go to ``spool``."""
        rows = []
        for loc in page:
            placed = self._place(loc)
            if placed is None:
                continue
            eid = str(loc["elemental_id"])
            if eid in self.alive:
                self._invalid(loc, "a second live row with the same (elemental_id, version)")
                continue
            self.alive[eid] = placed
            if is_clipped(self.infos[placed.type_id].dtype, loc):
                self.clipped += 1
            if self._classify(eid, loc, placed):
                label_id = ObjectId(self.state[eid].label_id) if eid in self.updates else None
                rows.append((eid, placed.media, placed.frame,
                             self.maker.make(loc, placed.media, placed.frame, label_id)))
        if rows:
            spool.add_many(rows)

    def _place(self, loc: Mapping[str, Any]) -> Alive | None:
        """Where a live, in-scope localization goes, or None if it is not one."""
        if loc.get("variant_deleted"):
            return None
        media = self.media.get(int(loc["media"]))
        type_id = int(loc["type"])
        if media is None or type_id not in self.infos:
            self.ignored += 1
            return None
        frame = int(loc.get("frame") or 0) if media["dtype"] == "video" else 0
        if media["dtype"] == "video":
            try:
                check_frame(media, frame)
            except FrameError as exc:
                self._invalid(loc, str(exc))
                return None
        return Alive(int(media["id"]), frame, type_id)

    def _classify(self, eid: str, loc: Mapping[str, Any], placed: Alive) -> bool:
        """Records the element's action; True if it must be written."""
        known = self.state.get(eid)
        if known is None:
            self.creates.add(eid)
            return True
        if (known.media_id, known.frame, known.type_id) != (placed.media, placed.frame,
                                                             placed.type_id):
            self.moves.add(eid)
            return True
        same = (known.tator_id == int(loc["id"]) and known.mark == int(loc.get("mark") or 0)
                and known.modified == loc.get("modified_datetime"))
        if same and not self.force:
            self.unchanged += 1
            return False
        self.updates.add(eid)
        if same:
            self.forced.add(eid)
        return True

    def _invalid(self, loc: Mapping[str, Any], reason: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < MAX_LISTED_PROBLEMS:
            self.invalid.append({"id": loc.get("id"), "elemental_id": loc.get("elemental_id"),
                                 "reason": reason})
        logger.warning("Invalid localization %s: %s", loc.get("id"), reason)

    def deletes(self, held_media: set[int]) -> set[str]:
        """Elements the state knows that Tator no longer holds (outside held media)."""
        return {eid for eid, known in self.state.items()
                if eid not in self.alive and known.media_id not in held_media}

    def frames_needed(self) -> set[tuple[int, int]]:
        """Every (media, frame) that must have a sample: each image, each labelled frame."""
        keys = {(int(m["id"]), 0) for m in self.media.values() if m["dtype"] == "image"}
        keys.update((a.media, a.frame) for a in self.alive.values())
        return keys
