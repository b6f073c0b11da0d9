"""Listing localizations and media the way Tator's list endpoints select and order them.

Localizations: filters → ``variant_deleted`` filter → order by id → latest-mark filter →
``[start:stop]`` (tator-api.md 5.2). Media: filters → order by ``(name, id)`` → slice (4.3).
Rows are produced lazily from per-project, per-media and per-elemental_id id indexes, so a
page of a 100,000-row project costs about the page, not the project.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import itertools
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import bad_request
from .models import Localization, Media

ATTRIBUTE_OPERATORS = ("attribute", "attribute_lt", "attribute_lte", "attribute_gt",
                       "attribute_gte", "attribute_contains", "attribute_null")


def parse_uuid_filter(value: str) -> str:
    """An ``elemental_id`` query filter; a non-UUID is a 400 as Python's uuid words it."""
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise bad_request(str(exc)) from exc


def parse_uuid_body(values: Iterable[str]) -> list[str]:
    """Body ``elemental_ids``; a non-UUID is a 400 as Django's UUIDField words it."""
    parsed = []
    for value in values:
        try:
            parsed.append(str(uuid.UUID(str(value))))
        except ValueError as exc:
            raise bad_request(f"['“{value}” is not a valid UUID.']") from exc
    return parsed


@dataclasses.dataclass
class AttributeFilter:
    """One ``attribute*=Name::value`` query filter."""

    operator: str
    name: str
    value: str

    @classmethod
    def parse(cls, operator: str, text: str) -> AttributeFilter:
        """Parses ``Name::value``; a missing separator is a 400."""
        name, sep, value = text.partition("::")
        if not sep:
            raise bad_request(f"Invalid attribute filter {text}")
        return cls(operator, name, value)

    def matches(self, attributes: dict[str, Any]) -> bool:
        """Whether a row's attributes pass this filter."""
        present = self.name in attributes and attributes[self.name] is not None
        if self.operator == "attribute_null":
            return (not present) == (self.value.lower() == "true")
        if not present:
            return False
        stored = attributes[self.name]
        if self.operator == "attribute":
            return _as_text(stored) == self.value
        if self.operator == "attribute_contains":
            return self.value.lower() in _as_text(stored).lower()
        return _compare(self.operator, stored, self.value)


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _compare(operator: str, stored: Any, text: str) -> bool:
    try:
        left, right = float(stored), float(text)
    except (TypeError, ValueError):
        left, right = str(stored), text
    return {
        "attribute_lt": left < right,
        "attribute_lte": left <= right,
        "attribute_gt": left > right,
        "attribute_gte": left >= right,
    }[operator]


def attribute_filters(params: dict[str, Any]) -> list[AttributeFilter]:
    """The attribute filters among parsed query params."""
    filters = []
    for operator in ATTRIBUTE_OPERATORS:
        for text in params.get(operator) or []:
            filters.append(AttributeFilter.parse(operator, text))
    return filters


@dataclasses.dataclass
class LocalizationQuery:
    """What a localization list, count, bulk PATCH or bulk DELETE selects."""

    media_ids: list[int] | None = None
    type: int | None = None
    versions: list[int] | None = None
    frame: int | None = None
    elemental_ids: list[str] | None = None
    ids: list[int] | None = None
    after: int | None = None
    start: int | None = None
    stop: int | None = None
    show_deleted: bool = False
    show_all_marks: bool = False
    merge: bool = True
    attributes: list[AttributeFilter] = dataclasses.field(default_factory=list)
    section: int | None = None

    @classmethod
    def build(cls, params: dict[str, Any], body: dict[str, Any] | None = None
              ) -> LocalizationQuery:
        """Combines parsed query params with an id-query body (``LocalizationIdQuery``)."""
        body = body or {}
        media = _union(params.get("media_id"), body.get("media_ids"))
        section = params.get("section")
        eids = []
        if params.get("elemental_id"):
            eids.append(parse_uuid_filter(params["elemental_id"]))
        eids += parse_uuid_body(body.get("elemental_ids") or [])
        return cls(
            media_ids=media, type=params.get("type"), versions=params.get("version") or None,
            frame=params.get("frame"), elemental_ids=eids or None, ids=body.get("ids") or None,
            after=params.get("after"), start=params.get("start"), stop=params.get("stop"),
            show_deleted=bool(params.get("show_deleted")),
            show_all_marks=bool(params.get("show_all_marks")),
            merge=bool(params.get("merge", 1)), attributes=attribute_filters(params),
            section=section,
        )


def _union(first: list[int] | None, second: list[int] | None) -> list[int] | None:
    values = set(first or []) | set(second or [])
    return sorted(values) if values else None


def _ids_after(ids: list[int], after: int | None) -> list[int] | Iterable[int]:
    if after is None:
        return ids
    return itertools.islice(ids, bisect.bisect_right(ids, after), None)


class QueryMixin:
    """Localization and media listing for :class:`~.store.Store`."""

    def _loc_candidates(self, project: int, q: LocalizationQuery) -> Iterable[int]:
        if q.ids is not None:
            return _ids_after(sorted(set(q.ids)), q.after)
        if q.media_ids is not None:
            lists = [_ids_after(self.media_loc_ids(m), q.after) for m in q.media_ids]
            return heapq.merge(*lists)
        if q.elemental_ids is not None:
            lists = [_ids_after(self.eid_loc_ids(e), q.after) for e in set(q.elemental_ids)]
            return heapq.merge(*lists)
        return _ids_after(self.project_loc_ids(project), q.after)

    def _loc_matches(self, row: Localization, project: int, q: LocalizationQuery) -> bool:
        if row.deleted or row.project != project:
            return False
        if q.after is not None and row.id <= q.after:
            return False
        if q.media_ids is not None and row.media not in q.media_ids:
            return False
        if q.versions is not None and row.version not in q.versions:
            return False
        if q.elemental_ids is not None and row.elemental_id not in q.elemental_ids:
            return False
        if q.frame is not None and row.frame != q.frame:
            return False
        if q.type is not None and row.type != q.type:
            return False
        if q.attributes and not all(f.matches(row.attributes or {}) for f in q.attributes):
            return False
        if row.variant_deleted and not q.show_deleted:
            return False
        return q.show_all_marks or row.mark == self._latest.get(row.group)

    def _matching_rows(self, project: int, q: LocalizationQuery) -> Iterator[Localization]:
        if q.section is not None:
            in_section = self.section_media(q.section)
            q = dataclasses.replace(q, section=None, media_ids=sorted(
                in_section if q.media_ids is None else in_section & set(q.media_ids)))
        rows = (self.localizations.get(i) for i in self._loc_candidates(project, q))
        matched: Iterable[Localization] = (
            r for r in rows if r is not None and self._loc_matches(r, project, q)
        )
        if q.merge and q.versions is not None and len(q.versions) >= 2:
            everything = list(matched)
            parents = {r.parent for r in everything if r.parent is not None}
            matched = [r for r in everything if r.id not in parents]
        return itertools.islice(matched, q.start or 0, q.stop)

    def select_localizations(self, project: int, q: LocalizationQuery) -> list[Localization]:
        """The rows a list endpoint returns, in order (id, or as sliced)."""
        with self.lock:
            self.get_project(project)
            return list(self._matching_rows(project, q))

    def list_localizations(self, project: int, body: dict[str, Any] | None = None,
                           **params: Any) -> list[dict[str, Any]]:
        """Python twin of ``GET /rest/Localizations/{project}``: JSON-shaped rows."""
        q = LocalizationQuery.build(params, body)
        return [row.to_json() for row in self.select_localizations(project, q)]

    def count_localizations(self, project: int, q: LocalizationQuery) -> int:
        """What ``GET /rest/LocalizationCount/{project}`` answers (the slice applies)."""
        with self.lock:
            self.get_project(project)
            return sum(1 for _ in self._matching_rows(project, q))

    # ----- media -----------------------------------------------------------------------------

    def select_media(self, project: int, params: dict[str, Any],
                     body_ids: list[int] | None = None) -> list[Media]:
        """The media ``GET``/``PUT /rest/Medias/{project}`` return, ordered by name then id."""
        with self.lock:
            self.get_project(project)
            wanted = _union(params.get("media_id"), body_ids)
            wanted_set = set(wanted) if wanted is not None else None
            if params.get("section") is not None:
                in_section = self.section_media(params["section"])
                wanted_set = in_section if wanted_set is None else wanted_set & in_section
            eid = params.get("elemental_id")
            eid = parse_uuid_filter(eid) if eid else None
            filters = attribute_filters(params)
            order = self.media_in_name_order(project)
            if params.get("after_name") is not None:
                names = [self.media[i].name for i in order]
                order = order[bisect.bisect_right(names, params["after_name"]):]
            matched = (
                self.media[i] for i in order
                if (wanted_set is None or i in wanted_set)
                and _media_matches(self.media[i], params, eid, filters, self.media_types)
            )
            return list(itertools.islice(matched, params.get("start") or 0, params.get("stop")))


def _media_matches(media: Media, params: dict[str, Any], eid: str | None,
                   filters: list[AttributeFilter], media_types: dict[int, Any]) -> bool:
    checks = (
        params.get("after") is None or media.id > params["after"],
        params.get("after_name") is None or media.name > params["after_name"],
        params.get("type") is None or media.type == params["type"],
        params.get("name") is None or media.name.lower() == params["name"].lower(),
        params.get("dtype") is None or media_types[media.type].dtype == params["dtype"],
        params.get("md5") is None or media.md5 == params["md5"],
        params.get("gid") is None or media.gid == params["gid"],
        params.get("uid") is None or media.uid == params["uid"],
        eid is None or media.elemental_id == eid,
        all(f.matches(media.attributes) for f in filters),
    )
    return all(checks)


def select_states(states: Iterable[dict[str, Any]], project: int,
                  params: dict[str, Any]) -> list[dict[str, Any]]:
    """The states a ``GET /rest/States/{project}`` returns, by id, sliced."""
    media = set(params.get("media_id") or [])
    versions = set(params.get("version") or [])
    matched = (
        state for state in sorted(states, key=lambda s: s["id"])
        if state["project"] == project
        and (not media or media & set(state["media"]))
        and (not versions or state["version"] in versions)
        and params.get("type") in (None, state["type"])
        and (params.get("after") is None or state["id"] > params["after"])
    )
    return list(itertools.islice(matched, params.get("start") or 0, params.get("stop")))
