"""Recovery after a pull that stopped while writing (cancelled, killed, lost its database).

A pull writes samples and labels in batches and records them in the sync state at the end.
If it stops in between, the dataset holds labels the sync state does not know; the next
pull would take their elements for new ones and create them twice. The sync state's
dataset document carries ``writing: true`` while a pull writes, and a pull that finds it set
first adopts every label that carries a Tator identity but has no record: it records the
label as written (digest of its current values, so it does not count as a local edit) with no
modified time, which makes the element's next comparison an update from Tator's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymongo.collection import Collection

from fiftyone_sync.dataset import mapping
from fiftyone_sync.dataset.sync_state import ElementState


def adopt_orphans(samples: Collection, infos: Iterable[mapping.TypeInfo],
                  known: Mapping[str, ElementState]) -> list[ElementState]:
    """Element records for labels in ``samples`` that ``known`` lacks.

    Args:
        samples: the dataset's sample collection.
        infos: the localization types' mappings (label fields).
        known: the sync state's element records, by elemental id.
    """
    adopted: dict[str, ElementState] = {}
    for info in infos:
        projection = {info.field: 1, "tator_media_id": 1, "frame": 1}
        for doc in samples.find({info.field: {"$ne": None}}, projection):
            for label in (doc.get(info.field) or {}).get(info.list_key) or []:
                eid = label.get("tator_elemental_id")
                if not eid or eid in known or eid in adopted:
                    continue
                adopted[eid] = ElementState(
                    elemental_id=eid, version=int(label.get("tator_version") or 0),
                    tator_id=int(label.get("tator_id") or 0),
                    mark=int(label.get("tator_mark") or 0), modified=None,
                    digest=mapping.digest(label, info), sample_id=str(doc["_id"]),
                    label_id=str(label["_id"]), field=info.field, type_id=info.id,
                    media_id=int(doc.get("tator_media_id") or 0),
                    frame=int(doc.get("frame") or 0))
    return list(adopted.values())
