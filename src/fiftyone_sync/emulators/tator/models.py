"""The records the Tator emulator keeps, and how each one is rendered as Tator's JSON.

Field names, key order and value types follow the objects recorded from a real Tator server
(tator-real-responses.md): a client that reads these objects reads real Tator objects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

PERMISSION_RANKS = {
    "View Only": 0,
    "Can Edit": 1,
    "Can Transfer": 2,
    "Can Execute": 3,
    "Full Control": 4,
    "Creator": 4,
}
"""Membership labels by rank; ``Creator`` is how Tator labels the project's creator."""

GEOMETRY_BY_DTYPE = {
    "box": ("x", "y", "width", "height"),
    "line": ("x", "y", "u", "v"),
    "dot": ("x", "y"),
    "poly": ("points",),
}


def utcnow() -> dt.datetime:
    """The current time in UTC, as every timestamp the emulator stores."""
    return dt.datetime.now(dt.timezone.utc)


def new_uuid() -> str:
    """A new lowercase hyphenated UUID string (Tator's ``elemental_id`` format)."""
    return str(uuid.uuid4())


def iso(value: dt.datetime | None) -> str | None:
    """Formats a datetime as Django REST framework does: milliseconds and a ``Z`` suffix."""
    if value is None:
        return None
    text = value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()
    if value.microsecond:
        text = text[:23]
    return text + "Z"


@dataclasses.dataclass
class User:
    """A Tator user with the credentials the emulator accepts for it."""

    id: int
    username: str
    token: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    is_staff: bool = False
    password: str | None = None
    bearer_tokens: tuple[str, ...] = ()
    is_active: bool = True
    elemental_id: str = dataclasses.field(default_factory=new_uuid)

    def to_json(self) -> dict[str, Any]:
        """The ``User`` object of ``whoami``."""
        return {
            "id": self.id,
            "username": self.username,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "is_staff": self.is_staff,
            "elemental_id": self.elemental_id,
            "profile": {},
        }


@dataclasses.dataclass
class Membership:
    """A user's role in a project, and the version its creates go to by default."""

    permission: str
    default_version: int | None = None


@dataclasses.dataclass
class Project:
    """A Tator project with its memberships (user id → :class:`Membership`)."""

    id: int
    name: str
    organization: int = 1
    summary: str = ""
    creator: int | None = None
    memberships: dict[int, Membership] = dataclasses.field(default_factory=dict)
    elemental_id: str = dataclasses.field(default_factory=new_uuid)
    created: dt.datetime = dataclasses.field(default_factory=utcnow)

    def permission_of(self, user_id: int) -> str | None:
        """The label ``GET /rest/Project`` shows for ``user_id``, or None for non-members."""
        if self.creator == user_id:
            return "Creator"
        membership = self.memberships.get(user_id)
        return membership.permission if membership else None

    def to_json(self, user_id: int) -> dict[str, Any]:
        """The ``Project`` object as the given user sees it."""
        return {
            "id": self.id,
            "name": self.name,
            "summary": self.summary,
            "organization": self.organization,
            "enable_downloads": True,
            "bucket": None,
            "upload_bucket": None,
            "backup_bucket": None,
            "elemental_id": self.elemental_id,
            "thumb": None,
            "created": iso(self.created),
            "num_files": 0,
            "size": 0,
            "duration": 0,
            "usernames": [],
            "attribute_types": [],
            "extended_info": {},
            "effective_permission": 0,
            "permission": self.permission_of(user_id),
        }


@dataclasses.dataclass
class Version:
    """A layer of annotations; localization histories are kept per version."""

    id: int
    project: int
    name: str
    number: int
    description: str = ""
    show_empty: bool = True
    created_by: int | None = None
    bases: list[int] = dataclasses.field(default_factory=list)
    elemental_id: str = dataclasses.field(default_factory=new_uuid)

    def to_json(self) -> dict[str, Any]:
        """The ``Version`` object."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "show_empty": self.show_empty,
            "elemental_id": self.elemental_id,
            "number": self.number,
            "project": self.project,
            "created_by": self.created_by,
            "effective_permission": 0,
            "bases": list(self.bases),
        }


def normalize_attribute_type(attr: dict[str, Any]) -> dict[str, Any]:
    """Adds the defaults Tator stores for attribute types created through its API."""
    out = dict(attr)
    cast = float if out.get("dtype") == "float" else int
    for bound in ("minimum", "maximum"):
        if out.get(bound) is not None and out.get("dtype") in ("int", "float"):
            out[bound] = cast(out[bound])
    out.setdefault("order", 0)
    out.setdefault("required", False)
    out.setdefault("description", "")
    return out


@dataclasses.dataclass
class MediaType:
    """An image or video media type with its attribute types."""

    id: int
    project: int
    name: str
    dtype: str
    description: str = ""
    attribute_types: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    elemental_id: str = dataclasses.field(default_factory=new_uuid)

    def to_json(self) -> dict[str, Any]:
        """The ``MediaType`` object."""
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "description": self.description,
            "dtype": self.dtype,
            "attribute_types": [dict(a) for a in self.attribute_types],
            "file_format": None,
            "default_volume": 0,
            "visible": True,
            "archive_config": None,
            "streaming_config": None,
            "overlay_config": None,
            "default_box": None,
            "default_line": None,
            "default_dot": None,
            "elemental_id": self.elemental_id,
            "effective_permission": 0,
        }


@dataclasses.dataclass
class LocalizationType:
    """A box, line, dot or poly type, attached to media types (``media``)."""

    id: int
    project: int
    name: str
    dtype: str
    media: list[int] = dataclasses.field(default_factory=list)
    description: str = ""
    attribute_types: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    color_map: dict[str, Any] | None = None
    line_width: int = 3
    elemental_id: str = dataclasses.field(default_factory=new_uuid)

    def attribute(self, name: str) -> dict[str, Any] | None:
        """The attribute type called ``name``, or None."""
        return next((a for a in self.attribute_types if a["name"] == name), None)

    def to_json(self) -> dict[str, Any]:
        """The ``LocalizationType`` object."""
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "description": self.description,
            "dtype": self.dtype,
            "attribute_types": [dict(a) for a in self.attribute_types],
            "color_map": self.color_map,
            "line_width": self.line_width,
            "visible": True,
            "drawable": True,
            "grouping_default": True,
            "elemental_id": self.elemental_id,
            "effective_permission": 0,
            "media": list(self.media),
        }


@dataclasses.dataclass
class Media:
    """An image or a video, with ``media_files`` entries pointing at object-store keys."""

    id: int
    project: int
    type: int
    name: str
    media_files: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    md5: str | None = None
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    fps: float | None = None
    codec: str | None = None
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    created_by: int | None = None
    gid: str | None = None
    uid: str | None = None
    elemental_id: str = dataclasses.field(default_factory=new_uuid)
    created_datetime: dt.datetime = dataclasses.field(default_factory=utcnow)
    modified_datetime: dt.datetime = dataclasses.field(default_factory=utcnow)
    primary_section: int | None = None
    deleted: bool = False

    def to_json(self, media_files: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``Media`` object; ``media_files`` overrides the stored one (presigned paths)."""
        return {
            "name": self.name,
            "media_files": self.media_files if media_files is None else media_files,
            "last_edit_start": None,
            "last_edit_end": None,
            "attributes": dict(self.attributes),
            "elemental_id": self.elemental_id,
            "primary_section": self.primary_section,
            "id": self.id,
            "project": self.project,
            "type": self.type,
            "created_datetime": iso(self.created_datetime),
            "created_by": self.created_by,
            "modified_datetime": iso(self.modified_datetime),
            "modified_by": self.created_by,
            "md5": self.md5,
            "num_frames": self.num_frames,
            "fps": self.fps,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "summary_level": None,
            "gid": self.gid,
            "uid": self.uid,
            "archive_state": "live",
            "archive_status_date": iso(self.created_datetime),
            "effective_permission": 0,
        }


class Localization:
    """One revision (row) of a localization; ``(elemental_id, version, mark)`` is its place.

    ``deleted`` marks a pruned row, which no endpoint shows again; ``variant_deleted`` marks
    a soft-deleted revision, which lists hide unless ``show_deleted=1``.
    """

    __slots__ = (
        "id", "project", "type", "media", "version", "frame", "x", "y", "width", "height",
        "u", "v", "points", "attributes", "elemental_id", "mark", "parent",
        "created_by", "modified_by", "user", "created_datetime", "modified_datetime",
        "variant_deleted", "deleted",
    )

    def __init__(self, **fields: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, fields.get(name))
        self.variant_deleted = bool(self.variant_deleted)
        self.deleted = bool(self.deleted)

    def copy(self, **changes: Any) -> Localization:
        """A new row with this row's fields and the given changes."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields["attributes"] = dict(self.attributes or {})
        fields["points"] = [list(p) for p in self.points] if self.points else self.points
        fields.update(changes)
        return Localization(**fields)

    @property
    def group(self) -> tuple[str, int]:
        """The history this row belongs to: ``(elemental_id, version)``."""
        return (self.elemental_id, self.version)

    def to_json(self, effective_permission: int = 0) -> dict[str, Any]:
        """The ``Localization`` object, keys in the order Tator sends them."""
        return {
            "id": self.id,
            "project": self.project,
            "type": self.type,
            "media": self.media,
            "thumbnail_image": None,
            "version": self.version,
            "attributes": dict(self.attributes or {}),
            "created_by": self.created_by,
            "created_datetime": iso(self.created_datetime),
            "modified_datetime": iso(self.modified_datetime),
            "modified_by": self.modified_by,
            "user": self.user,
            "variant_deleted": self.variant_deleted,
            "x": self.x,
            "y": self.y,
            "width": self.width,
            "height": self.height,
            "u": self.u,
            "v": self.v,
            "points": self.points,
            "frame": self.frame,
            "parent": self.parent,
            "elemental_id": self.elemental_id,
            "mark": self.mark,
            "effective_permission": effective_permission,
        }


@dataclasses.dataclass
class Section:
    """A folder of media; a media belongs to it through ``attributes.tator_user_sections``.

    The JSON shape is not in the recorded reference: it follows Tator's documented fields.
    """

    id: int
    project: int
    name: str
    tator_user_sections: str = dataclasses.field(default_factory=new_uuid)
    elemental_id: str = dataclasses.field(default_factory=new_uuid)

    def to_json(self) -> dict[str, Any]:
        """The ``Section`` object."""
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "path": self.name.replace(" ", "_"),
            "tator_user_sections": self.tator_user_sections,
            "object_search": None,
            "related_object_search": None,
            "explicit_listing": False,
            "media": [],
            "visible": True,
            "elemental_id": self.elemental_id,
            "effective_permission": 0,
        }
