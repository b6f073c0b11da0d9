"""Creating, editing and deleting localizations with Tator's revision semantics.

Every localization is a history of rows sharing ``(elemental_id, version)``; ``mark`` counts
the rows. A default PATCH inserts a new row (new ``id``, ``mark + 1``), ``in_place=1`` edits
the row itself, a default DELETE inserts a ``variant_deleted`` row, and ``prune=1`` hides one
row for good (tator-api.md 5.4-5.9, with the corrections in tator-real-responses.md).

Known gaps: ``state_ids``/``frame_state_ids``/``float_array``/``object_search`` id-query keys
are accepted and ignored (the emulator has no states or embeddings); ``parent`` is stored but
never inherited; ``user_elemental_id`` does not check for Full Control; an ``elemental_id`` in
a single PATCH body is ignored.
"""

from __future__ import annotations

import uuid
from typing import Any

from .attributes import check_value, defaults_for, jsonb_order
from .errors import bad_request, does_not_exist, not_found
from .models import GEOMETRY_BY_DTYPE, Localization, LocalizationType, utcnow
from .queries import LocalizationQuery

SPEC_GEOMETRY = ("x", "y", "width", "height", "u", "v", "points")


class RevisionsMixin:
    """Localization writes for :class:`~.store.Store`; every method takes the acting user."""

    # ----- create --------------------------------------------------------------------------

    def create_localizations(self, project: int, specs: list[dict[str, Any]],
                             user: int | str) -> list[int]:
        """Creates localizations from ``LocalizationSpec`` dicts; returns their ids in order.

        All specs are checked before any is stored, as Tator does in one transaction.
        """
        with self.lock:
            self.get_project(project)
            user_id = self.resolve_user(user)
            prepared = [self._prepare_spec(project, spec, user_id) for spec in specs]
            now = utcnow()
            ids = []
            for fields in prepared:
                group = (fields["elemental_id"], fields["version"])
                row = Localization(
                    id=self.next_id("localization"), mark=self._next_mark(group),
                    created_datetime=now, modified_datetime=now, **fields)
                ids.append(self.insert_row(row).id)
            return ids

    def _next_mark(self, group: tuple[str, int]) -> int:
        latest = self.latest_mark(group)
        return 0 if latest is None else latest + 1

    def _prepare_spec(self, project: int, spec: dict[str, Any], user_id: int) -> dict[str, Any]:
        loc_type = self._spec_type(project, spec["type"])
        media = self.require_media(spec["media_id"])
        if media.project != project:
            raise bad_request(f"Media must be part of project {project}, "
                              f"got project {media.project}!")
        fields = {name: spec.get(name) for name in SPEC_GEOMETRY}
        fields.update(
            project=project, type=loc_type.id, media=media.id, frame=spec["frame"],
            version=self._spec_version(project, spec.get("version"), user_id),
            elemental_id=_spec_elemental_id(spec.get("elemental_id")),
            attributes=self._spec_attributes(loc_type, spec.get("attributes") or {}),
            parent=spec.get("parent"), created_by=user_id, modified_by=user_id,
            user=self._author(spec.get("user_elemental_id"), user_id),
        )
        return fields

    def _spec_type(self, project: int, type_id: int) -> LocalizationType:
        loc_type = self.localization_types.get(type_id)
        if loc_type is None:
            raise does_not_exist("LocalizationType")
        if loc_type.project != project:
            raise bad_request(f"Localization type must be part of project {project}, "
                              f"got project {loc_type.project}!")
        return loc_type

    def _spec_version(self, project: int, version_id: int | None, user_id: int) -> int:
        if version_id is None:
            return self.default_version(project, user_id)
        version = self.versions.get(version_id)
        if version is None:
            raise does_not_exist("Version")
        if version.project != project:
            raise bad_request(f"Version must be part of project {project}, "
                              f"got project {version.project}!")
        return version.id

    def default_version(self, project: int, user_id: int) -> int:
        """The membership's default version, else the lowest-numbered, else a new Baseline."""
        membership = self.projects[project].memberships.get(user_id)
        if membership is not None and membership.default_version is not None:
            return membership.default_version
        candidates = [v for v in self.project_versions(project) if v.number >= 0]
        if candidates:
            return candidates[0].id
        return self.add_version(project, "Baseline", number=0).id

    def _spec_attributes(self, loc_type: LocalizationType,
                         given: dict[str, Any]) -> dict[str, Any]:
        values = defaults_for(loc_type.attribute_types)
        for name, value in given.items():
            attr = loc_type.attribute(name)
            if attr is not None:
                values[name] = check_value(attr, value)
        for attr in loc_type.attribute_types:
            if attr.get("required") and attr["name"] not in values:
                raise bad_request(f"Missing required attribute {attr['name']} "
                                  f"for entity type {loc_type.name}")
        return jsonb_order(values)

    def _author(self, user_elemental_id: str | None, fallback: int) -> int:
        if not user_elemental_id:
            return fallback
        for user in self.users.values():
            if user.elemental_id == user_elemental_id:
                return user.id
        raise does_not_exist("User")

    # ----- single PATCH ----------------------------------------------------------------

    def patch_localization(self, loc_id: int, update: dict[str, Any] | None = None,
                           user: int | str = 1, **changes: Any) -> Localization:
        """Edits a localization as another Tator user would; returns the resulting row.

        ``update`` is a ``LocalizationUpdate`` dict; keyword ``changes`` are merged into it,
        e.g. ``store.patch_localization(5, user="bob", x=0.2, attributes={"Label": "Salp"})``.
        """
        return self.update_localization(loc_id, {**(update or {}), **changes}, user)[1]

    def update_localization(self, loc_id: int, update: dict[str, Any],
                            user: int | str) -> tuple[str, Localization]:
        """``PATCH /rest/Localization/{id}``: returns Tator's message and the resulting row."""
        with self.lock:
            return self._update_row(self.get_localization(loc_id), update, user)

    def update_localization_by_elemental_id(
        self, version: int, elemental_id: str, update: dict[str, Any], user: int | str,
    ) -> tuple[str, Localization]:
        """``PATCH /rest/Localization/{version}/{elemental_id}``: edits the latest mark."""
        with self.lock:
            return self._update_row(self.latest_by_elemental_id(version, elemental_id),
                                    update, user)

    def latest_by_elemental_id(self, version: int, elemental_id: str,
                               mark: int | None = None) -> Localization:
        """The latest (or ``mark``) row of a history; a 404 with an empty message if none."""
        try:
            group = (str(uuid.UUID(elemental_id)), version)
        except ValueError as exc:
            raise not_found(None) from exc
        if mark is None:
            row = self.latest_row(group)
        else:
            row = next((r for r in self.group_rows(group) if r.mark == mark), None)
        if row is None:
            raise not_found(None)
        return row

    def _update_row(self, row: Localization, update: dict[str, Any],
                    user: int | str) -> tuple[str, Localization]:
        user_id = self.resolve_user(user)
        in_place = bool(update.get("in_place")) or bool(update.get("user_elemental_id"))
        latest = self.latest_row(row.group)
        if latest is not None and latest.id != row.id and not in_place:
            if update.get("pedantic"):
                raise self._pedantic_error(row)
            row = latest
        loc_type = self.localization_types[row.type]
        changes = _geometry_changes(loc_type, update)
        changes["attributes"] = self._merged_attributes(loc_type, row.attributes, update)
        changes.update(modified_by=user_id, modified_datetime=utcnow())
        if update.get("user_elemental_id"):
            changes["user"] = self._author(update["user_elemental_id"], user_id)
        message = f"Localization {row.elemental_id}@{row.version}/{row.mark} successfully updated!"
        target_version = update.get("version") or row.version
        if in_place:
            for name, value in changes.items():
                setattr(row, name, value)
            if target_version != row.version:
                self.regroup(row, row.elemental_id, target_version)
            return message, row
        group = (row.elemental_id, target_version)
        new = row.copy(id=self.next_id("localization"), version=target_version,
                       mark=self._next_mark(group), **changes)
        return message, self.insert_row(new)

    def _pedantic_error(self, row: Localization) -> Exception:
        version = self.versions[row.version]
        return bad_request(
            f"Pedantic mode is enabled. Can not edit prior object {row.id}, must only edit "
            f"latest mark on version.Object is mark {row.mark} of "
            f"{self.latest_mark(row.group)} for {version.name}/{row.elemental_id}"
        )

    def _merged_attributes(self, loc_type: LocalizationType, current: dict[str, Any] | None,
                           update: dict[str, Any]) -> dict[str, Any]:
        values = dict(current or {})
        for name, value in (update.get("attributes") or {}).items():
            values[name] = check_value(self._known_attribute(loc_type, name), value)
        for name in update.get("null_attributes") or []:
            attr = self._known_attribute(loc_type, name)
            values[name] = [-1, -1] if attr["dtype"] == "geopos" else None
        for name in update.get("reset_attributes") or []:
            attr = self._known_attribute(loc_type, name)
            if "default" in attr:
                values[name] = attr["default"]
            else:
                values.pop(name, None)
        return jsonb_order(values)

    @staticmethod
    def _known_attribute(loc_type: LocalizationType, name: str) -> dict[str, Any]:
        attr = loc_type.attribute(name)
        if attr is None:
            raise bad_request(f"Invalid attribute {name} for entity type {loc_type.name}")
        return attr

    # ----- single DELETE ---------------------------------------------------------------

    def delete_localization(self, loc_id: int, user: int | str = 1, prune: bool = False,
                            pedantic: bool = False) -> tuple[str, int]:
        """``DELETE /rest/Localization/{id}``: returns Tator's message and the answered id."""
        with self.lock:
            return self._delete_row(self.get_localization(loc_id), user, prune, pedantic)

    def delete_localization_by_elemental_id(self, version: int, elemental_id: str,
                                            user: int | str, prune: bool = False,
                                            pedantic: bool = False) -> tuple[str, int]:
        """``DELETE /rest/Localization/{version}/{elemental_id}`` on the latest mark."""
        with self.lock:
            row = self.latest_by_elemental_id(version, elemental_id)
            return self._delete_row(row, user, prune, pedantic)

    def _delete_row(self, row: Localization, user: int | str, prune: bool,
                    pedantic: bool) -> tuple[str, int]:
        user_id = self.resolve_user(user)
        if pedantic and row.mark != self.latest_mark(row.group):
            raise self._pedantic_error(row)
        message = (f"Localization {row.version}/{row.elemental_id}@@{row.mark} "
                   "successfully deleted!")
        if prune:
            row.deleted = True
            self.refresh_latest(row.group)
            return message, row.id
        return message, self._soft_delete(row, user_id).id

    def _soft_delete(self, row: Localization, user_id: int) -> Localization:
        now = utcnow()
        copy = row.copy(id=self.next_id("localization"), mark=self._next_mark(row.group),
                        variant_deleted=True, modified_by=user_id, created_datetime=now,
                        modified_datetime=now)
        return self.insert_row(copy)

    # ----- bulk PATCH and DELETE ---------------------------------------------------------

    def bulk_update_localizations(self, project: int, q: LocalizationQuery,
                                  body: dict[str, Any], user: int | str,
                                  count: int | None = None) -> int:
        """``PATCH /rest/Localizations/{project}``: attribute edits; returns how many rows."""
        with self.lock:
            user_id = self.resolve_user(user)
            in_place = bool(body.get("in_place"))
            if q.ids or body.get("user_elemental_id"):
                q.show_all_marks, in_place = True, True
            rows = self.select_localizations(project, q)
            if count is not None and count != len(rows):
                raise bad_request(f"Safety check failed - expected {count} "
                                  f"but would update {len(rows)}")
            if len({row.type for row in rows}) > 1:
                raise bad_request("When doing a bulk patch the type id of all objects "
                                  "must be the same.")
            for row in rows:
                self._bulk_update_row(row, body, user_id, in_place)
            return len(rows)

    def _bulk_update_row(self, row: Localization, body: dict[str, Any], user_id: int,
                         in_place: bool) -> None:
        loc_type = self.localization_types[row.type]
        attributes = self._merged_attributes(loc_type, row.attributes, body)
        version = body.get("new_version") or row.version
        eid = body.get("new_elemental_id") or row.elemental_id
        if body.get("user_elemental_id"):
            row.user = self._author(body["user_elemental_id"], user_id)
        if in_place:
            row.attributes = attributes
            if (eid, version) != row.group:
                self.regroup(row, eid, version)
            return
        new = row.copy(id=self.next_id("localization"), elemental_id=eid, version=version,
                       mark=self._next_mark((eid, version)), attributes=attributes,
                       modified_by=user_id, modified_datetime=utcnow())
        self.insert_row(new)

    def bulk_delete_localizations(self, project: int, q: LocalizationQuery, prune: bool,
                                  user: int | str, count: int | None = None) -> int:
        """``DELETE /rest/Localizations/{project}``: soft deletes (or prunes) matched rows."""
        with self.lock:
            user_id = self.resolve_user(user)
            rows = self.select_localizations(project, q)
            if count is not None and count != len(rows):
                raise bad_request(f"Safety check failed - expected {count} "
                                  f"but would delete {len(rows)}")
            for row in rows:
                if prune:
                    row.deleted = True
                    self.refresh_latest(row.group)
                else:
                    self._soft_delete(row, user_id)
            return len(rows)


def _spec_elemental_id(value: str | None) -> str:
    if value is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise bad_request(f"Could not convert '{value}' into a UUID", str(exc)) from exc


def _geometry_changes(loc_type: LocalizationType, update: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in GEOMETRY_BY_DTYPE[loc_type.dtype]:
        value = update.get(name)
        if name in ("x", "y"):
            if value is not None:
                changes[name] = value
        elif value:
            changes[name] = value
    if update.get("frame") is not None:
        changes["frame"] = update["frame"]
    return changes
