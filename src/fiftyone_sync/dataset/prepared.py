"""Changed localizations made into label documents while the pull still lists and downloads.

Mapping a localization is most of a cold pull's CPU work: the label document (geometry,
typed attributes, identity, deep link) and the digest its sync-state record keeps. The
planner hands every localization it must write to :class:`LabelMaker` as the listing comes
in, so this work overlaps the image downloads instead of following them; the spool keeps
the made label, and the write step only places it. Nothing here writes to the dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from fiftyone_sync.dataset import mapping

logger = logging.getLogger(__name__)

ROW_KEYS = ("id", "elemental_id", "version", "mark", "modified_datetime", "type")
"""The localization's fields the write step still needs (for the element's record)."""


class LabelMaker:
    """Makes the spool entry of one changed localization.

    Args:
        tator_url: Tator's base URL (for deep links).
        project: the project id.
        version: the version id.
        infos: the localization types in scope, by id.
    """

    def __init__(self, tator_url: str, project: int, version: int,
                 infos: Mapping[int, mapping.TypeInfo]) -> None:
        self.tator_url = tator_url
        self.project = project
        self.version = version
        self.infos = infos
        self.attribute_errors = 0

    def make(self, loc: Mapping[str, Any], media: int, frame: int,
             label_id: ObjectId | None = None) -> dict[str, Any]:
        """``{"doc": label document, "digest": its digest, "row": the row's identity}``.

        Args:
            loc: the localization as Tator listed it.
            media, frame: where its label goes.
            label_id: the id of the label it updates (None: a new label gets a new id).
        """
        info = self.infos[int(loc["type"])]
        link = mapping.deep_link(self.tator_url, self.project, media, frame, self.version,
                                 str(loc["elemental_id"]), info.id)
        doc, errors = mapping.label_doc(loc, info, link, label_id)
        self.attribute_errors += len(errors)
        for name, error in errors:
            logger.warning("Localization %s: attribute %r skipped: %s", loc["id"], name, error)
        return {"doc": doc, "digest": mapping.digest(doc, info),
                "row": {key: loc.get(key) for key in ROW_KEYS}}
