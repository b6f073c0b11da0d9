"""The Tator reads a push makes: latest revisions of given elements, by ``elemental_id``.

Plans and applies both need Tator's latest mark of exactly the elements they touch (to find
conflicts, to guard bulk edits, to learn the ids and marks that bulk calls do not return).
They list them with ``PUT /rest/Localizations/{project}`` and a body of ``elemental_ids``
(``show_deleted=1``: a soft-deleted element shows as its ``variant_deleted`` latest row),
in chunks so request bodies stay bounded (F26).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from tator.exceptions import ApiException

logger = logging.getLogger(__name__)

LIST_CHUNK = 500


class TatorCallError(RuntimeError):
    """A Tator call that failed; ``status`` is Tator's HTTP status when it answered."""

    def __init__(self, what: str, cause: str, status: int | None = None) -> None:
        super().__init__(f"{what} failed: {cause}")
        self.status = status


def describe(exc: BaseException) -> tuple[str, int | None]:
    """A short reason and the HTTP status of a failed tator-py call."""
    if isinstance(exc, ApiException):
        body = exc.body if isinstance(exc.body, str) else str(exc.body)
        return f"Tator answered {exc.status}: {(body or '')[:300]}", exc.status
    return f"{type(exc).__name__}: {exc}", None


def latest_rows(api: Any, project: int, version: int, elemental_ids: Iterable[str],
                chunk: int = LIST_CHUNK) -> dict[str, dict[str, Any]]:
    """Tator's latest row of each element (soft-deleted ones included), by elemental id.

    Elements Tator does not hold at all (pruned, or never created) are absent.

    Raises:
        TatorCallError: a listing call failed (nothing may be decided on a partial answer).
    """
    wanted = sorted(set(elemental_ids))
    found: dict[str, dict[str, Any]] = {}
    for offset in range(0, len(wanted), chunk):
        part = wanted[offset:offset + chunk]
        try:
            rows = api.get_localization_list_by_id(project, {"elemental_ids": part},
                                                   version=[version], show_deleted=1)
        except (ApiException, OSError, ValueError) as exc:
            reason, status = describe(exc)
            logger.warning("Listing %d elements of version %d failed: %s", len(part), version,
                           reason)
            raise TatorCallError("listing the latest revisions", reason, status) from exc
        for row in rows:
            row = dict(row)
            eid = str(row["elemental_id"])
            if eid not in found or int(row.get("mark") or 0) > int(found[eid].get("mark") or 0):
                found[eid] = row
    return found
