"""The Tator emulator's in-memory state: users, projects, types, media and localizations.

One :class:`Store` holds everything a Tator server would keep in Postgres and S3. It is
thread-safe (one re-entrant lock) because uvicorn serves requests from a thread pool, and it
is the Python API tests use to act "as another Tator user" without HTTP
(:meth:`Store.patch_localization`, :meth:`Store.delete_localization`, ...).

Localization semantics (marks, in-place edits, soft deletes, pruning) live in
:mod:`.localizations`, which extends this class; this module keeps the records and indexes.
"""

from __future__ import annotations

import bisect
import logging
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import mediafiles
from .errors import does_not_exist, not_found
from .models import (
    PERMISSION_RANKS,
    Localization,
    LocalizationType,
    Media,
    MediaType,
    Membership,
    Project,
    Section,
    User,
    Version,
    new_uuid,
    normalize_attribute_type,
)
from .objects import ObjectStore
from .queries import QueryMixin
from .revisions import RevisionsMixin

logger = logging.getLogger(__name__)

ID_KINDS = ("user", "project", "version", "media_type", "localization_type", "media",
            "localization", "applet", "hosted_template", "section", "state")


class StoreError(ValueError):
    """A fixture or builder call that does not describe a valid Tator project."""


class StoreBase:
    """Records, id sequences and indexes; see the module docstring."""

    def __init__(self, organization: int = 1) -> None:
        self.lock = threading.RLock()
        self.organization = organization
        self.objects = ObjectStore()
        self.users: dict[int, User] = {}
        self.projects: dict[int, Project] = {}
        self.versions: dict[int, Version] = {}
        self.media_types: dict[int, MediaType] = {}
        self.localization_types: dict[int, LocalizationType] = {}
        self.media: dict[int, Media] = {}
        self.localizations: dict[int, Localization] = {}
        self.sections: dict[int, Section] = {}
        self.states: dict[int, dict[str, Any]] = {}
        self.applets: dict[int, dict[str, Any]] = {}
        self.hosted_templates: dict[int, dict[str, Any]] = {}
        self.organization_admins: set[int] = set()
        self._last_id = {kind: 0 for kind in ID_KINDS}
        self._tokens: dict[str, int] = {}
        self._bearers: dict[str, int] = {}
        self._project_locs: dict[int, list[int]] = {}
        self._media_locs: dict[int, list[int]] = {}
        self._eid_locs: dict[str, list[int]] = {}
        self._groups: dict[tuple[str, int], list[int]] = {}
        self._latest: dict[tuple[str, int], int] = {}
        self._media_order: dict[int, list[int] | None] = {}
        self._thumbnails: dict[Path, tuple[Path, tuple[int, int]]] = {}
        self._image_sizes: dict[Path, tuple[int, int]] = {}
        self._work_dir: Path | None = None

    # ----- ids and files ------------------------------------------------------------------

    def next_id(self, kind: str, wanted: int | None = None) -> int:
        """A new id of ``kind``; ids only grow, like Postgres sequences shared by projects."""
        with self.lock:
            if wanted is not None:
                if wanted <= 0:
                    raise StoreError(f"{kind} id must be positive, got {wanted}")
                self._last_id[kind] = max(self._last_id[kind], wanted)
                return wanted
            self._last_id[kind] += 1
            return self._last_id[kind]

    @property
    def work_dir(self) -> Path:
        """A private temporary folder for generated thumbnails and segment files."""
        with self.lock:
            if self._work_dir is None:
                self._work_dir = Path(tempfile.mkdtemp(prefix="tator-emulator-"))
            return self._work_dir

    def close(self) -> None:
        """Removes the store's temporary folder."""
        with self.lock:
            if self._work_dir is not None:
                shutil.rmtree(self._work_dir, ignore_errors=True)
                self._work_dir = None

    # ----- users and projects ------------------------------------------------------------

    def add_user(self, username: str, token: str, **fields: Any) -> User:
        """Adds a user who authenticates with ``Token <token>`` (and any ``bearer_tokens``)."""
        with self.lock:
            if token in self._tokens:
                raise StoreError(f"token of {username!r} is already used")
            user = User(id=self.next_id("user", fields.pop("id", None)), username=username,
                        token=token, **fields)
            self.users[user.id] = user
            self._tokens[token] = user.id
            for bearer in user.bearer_tokens:
                self._bearers[bearer] = user.id
            return user

    def rotate_token(self, user_id: int) -> str:
        """Gives a user a new random token (``refresh`` on ``POST /rest/Token``)."""
        with self.lock:
            user = self.users[user_id]
            self._tokens.pop(user.token, None)
            user.token = secrets.token_hex(20)
            self._tokens[user.token] = user.id
            return user.token

    def user_by_token(self, token: str) -> User | None:
        """The user owning a DRF token, or None."""
        user_id = self._tokens.get(token)
        return None if user_id is None else self.users[user_id]

    def user_by_bearer(self, token: str) -> User | None:
        """The user owning an SSO bearer token, or None."""
        user_id = self._bearers.get(token)
        return None if user_id is None else self.users[user_id]

    @property
    def sso_enabled(self) -> bool:
        """Whether the fixture has bearer tokens (then a bad ``Bearer`` gets a 401)."""
        return bool(self._bearers)

    def user_named(self, username: str) -> User:
        """The user called ``username``."""
        for user in self.users.values():
            if user.username == username:
                return user
        raise StoreError(f"no user {username!r}")

    def resolve_user(self, user: int | str | User) -> int:
        """A user id from an id, a username or a :class:`User`."""
        if isinstance(user, User):
            return user.id
        if isinstance(user, str):
            return self.user_named(user).id
        if user not in self.users:
            raise StoreError(f"no user with id {user}")
        return user

    def add_project(self, name: str, creator: int | str | None = None, **fields: Any) -> Project:
        """Adds a project; its ``creator`` gets the ``Creator`` label."""
        with self.lock:
            creator_id = None if creator is None else self.resolve_user(creator)
            project = Project(id=self.next_id("project", fields.pop("id", None)), name=name,
                              organization=fields.pop("organization", self.organization),
                              creator=creator_id, **fields)
            self.projects[project.id] = project
            self._project_locs[project.id] = []
            self._media_order[project.id] = None
            return project

    def add_membership(
        self, project: int, user: int | str, permission: str, default_version: int | None = None
    ) -> Membership:
        """Makes ``user`` a member of ``project`` with a permission label."""
        if permission not in PERMISSION_RANKS or permission == "Creator":
            raise StoreError(f"unknown membership permission {permission!r}")
        with self.lock:
            membership = Membership(permission, default_version)
            self.get_project(project).memberships[self.resolve_user(user)] = membership
            return membership

    def get_project(self, project_id: int) -> Project:
        """The project, or a 404 :class:`TatorError` as Tator's permission check raises it."""
        project = self.projects.get(project_id)
        if project is None:
            raise not_found("Project")
        return project

    # ----- versions and types ------------------------------------------------------------

    def add_version(self, project: int, name: str, number: int | None = None,
                    **fields: Any) -> Version:
        """Adds a version; ``number`` defaults to one more than the highest so far."""
        with self.lock:
            self.get_project(project)
            if number is None:
                numbers = [v.number for v in self.versions.values() if v.project == project]
                number = max(numbers, default=-1) + 1
            version = Version(id=self.next_id("version", fields.pop("id", None)),
                              project=project, name=name, number=number, **fields)
            self.versions[version.id] = version
            return version

    def project_versions(self, project: int) -> list[Version]:
        """A project's versions ordered by ``number``."""
        found = [v for v in self.versions.values() if v.project == project]
        return sorted(found, key=lambda v: (v.number, v.id))

    def add_media_type(self, project: int, name: str, dtype: str,
                       attribute_types: Iterable[dict[str, Any]] = (), **fields: Any) -> MediaType:
        """Adds an ``image`` or ``video`` media type."""
        if dtype not in ("image", "video"):
            raise StoreError(f"media type dtype must be image or video, got {dtype!r}")
        with self.lock:
            self.get_project(project)
            media_type = MediaType(
                id=self.next_id("media_type", fields.pop("id", None)), project=project,
                name=name, dtype=dtype,
                attribute_types=[normalize_attribute_type(a) for a in attribute_types], **fields)
            self.media_types[media_type.id] = media_type
            return media_type

    def add_localization_type(
        self, project: int, name: str, dtype: str, media_types: Iterable[int] = (),
        attribute_types: Iterable[dict[str, Any]] = (), **fields: Any,
    ) -> LocalizationType:
        """Adds a box, line, dot or poly type attached to ``media_types``."""
        if dtype not in ("box", "line", "dot", "poly"):
            raise StoreError(f"localization dtype must be box, line, dot or poly, got {dtype!r}")
        with self.lock:
            self.get_project(project)
            loc_type = LocalizationType(
                id=self.next_id("localization_type", fields.pop("id", None)), project=project,
                name=name, dtype=dtype, media=list(media_types),
                attribute_types=[normalize_attribute_type(a) for a in attribute_types], **fields)
            self.localization_types[loc_type.id] = loc_type
            return loc_type

    # ----- media ---------------------------------------------------------------------------

    def add_media(self, project: int, media_type: int, name: str, path: Path | str,
                  **fields: Any) -> Media:
        """Adds an image or video whose bytes are the file at ``path``."""
        path = Path(path)
        with self.lock:
            kind = self.media_types.get(media_type)
            if kind is None or kind.project != project:
                raise StoreError(f"media type {media_type} is not in project {project}")
            media = Media(id=self.next_id("media", fields.pop("id", None)), project=project,
                          type=media_type, name=name, **fields)
            if kind.dtype == "image":
                self._attach_image(media, path)
            else:
                self._attach_video(media, path)
            self._register_media(media)
            return media

    def _register_media(self, media: Media) -> None:
        self.media[media.id] = media
        self._media_locs.setdefault(media.id, [])
        self._media_order[media.project] = None

    def media_key(self, media: Media, filename: str) -> str:
        """The object key of one of a media's files: ``{org}/{project}/{media}/{file}``."""
        organization = self.projects[media.project].organization
        return f"{organization}/{media.project}/{media.id}/{filename}"

    def _thumbnail(self, path: Path, video: bool) -> tuple[Path, tuple[int, int]]:
        if path not in self._thumbnails:
            make = mediafiles.video_thumbnail if video else mediafiles.make_thumbnail
            self._thumbnails[path] = make(path, self.work_dir)
        return self._thumbnails[path]

    def _attach_image(self, media: Media, path: Path) -> None:
        suffix = path.suffix.lower()
        mime = mediafiles.IMAGE_MIMES.get(suffix)
        if mime is None:
            raise StoreError(f"unsupported image file {path.name}")
        if path not in self._image_sizes:
            self._image_sizes[path] = mediafiles.image_size(path)
        width, height = self._image_sizes[path]
        filename = "image.png" if suffix == ".png" else "image.jpeg"
        stored = self.objects.put(self.media_key(media, filename), path)
        thumb_path, (tw, th) = self._thumbnail(path, video=False)
        thumb = self.objects.put(self.media_key(media, "thumb.jpg"), thumb_path)
        media.media_files = {
            "image": [mediafiles.image_entry(self.media_key(media, filename), stored.size,
                                             width, height, mime)],
            "thumbnail": [mediafiles.image_entry(self.media_key(media, "thumb.jpg"), thumb.size,
                                                 tw, th, "image/None")],
        }
        media.width, media.height, media.md5 = width, height, stored.md5

    def _attach_video(self, media: Media, path: Path) -> None:
        info = mediafiles.video_info(path)
        original = self.objects.put(self.media_key(media, "archival.mp4"), path)
        rung = f"{info.height}_stream.mp4"
        self.objects.put(self.media_key(media, rung), path)
        segments = mediafiles.segment_info(path, info, self.work_dir)
        self.objects.put(self.media_key(media, f"{info.height}_segments.json"), segments)
        thumb_path, (tw, th) = self._thumbnail(path, video=True)
        thumb = self.objects.put(self.media_key(media, "thumb.jpg"), thumb_path)
        media.media_files = {
            "archival": [mediafiles.video_entry(self.media_key(media, "archival.mp4"),
                                                original.size, info)],
            "streaming": [mediafiles.video_entry(
                self.media_key(media, rung), original.size, info,
                self.media_key(media, f"{info.height}_segments.json"))],
            "thumbnail": [mediafiles.image_entry(self.media_key(media, "thumb.jpg"), thumb.size,
                                                 tw, th, "image/jpeg")],
        }
        media.width, media.height, media.md5 = info.width, info.height, original.md5
        media.num_frames, media.fps, media.codec = info.num_frames, info.fps, info.codec

    def add_section(self, project: int, name: str, media: Iterable[int] = (),
                    **fields: Any) -> Section:
        """Adds a folder section and files ``media`` in it (their primary section too)."""
        with self.lock:
            self.get_project(project)
            section = Section(id=self.next_id("section", fields.pop("id", None)),
                              project=project, name=name, **fields)
            self.sections[section.id] = section
            for media_id in media:
                item = self.get_media(media_id)
                item.attributes["tator_user_sections"] = section.tator_user_sections
                item.primary_section = section.id
            return section

    def add_state(self, project: int, media: Iterable[int], version: int, type_id: int,
                  frame: int | None = None, localizations: Iterable[int] = (),
                  attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        """Adds a State (a track), only so lists and counts of states are not empty.

        States are not otherwise emulated: there are no state types and no revisions.
        """
        with self.lock:
            self.get_project(project)
            state = {"id": self.next_id("state"), "project": project, "type": type_id,
                     "media": list(media), "localizations": list(localizations),
                     "frame": frame, "version": version, "attributes": dict(attributes or {}),
                     "elemental_id": new_uuid(), "mark": 0, "variant_deleted": False,
                     "effective_permission": 0}
            self.states[state["id"]] = state
            return state

    def section_media(self, section_id: int) -> set[int]:
        """Ids of the live media filed in a section (empty for an unknown section)."""
        section = self.sections.get(section_id)
        if section is None:
            return set()
        return {m.id for m in self.media.values() if not m.deleted
                and m.attributes.get("tator_user_sections") == section.tator_user_sections}

    def delete_media(self, media_id: int) -> int:
        """Deletes a media as Tator does: it and its localizations vanish from every endpoint.

        Returns:
            How many localization rows went with it.
        """
        with self.lock:
            media = self.get_media(media_id)
            media.deleted = True
            self._media_order[media.project] = None
            rows = [self.localizations[i] for i in self.media_loc_ids(media_id)]
            for row in rows:
                row.deleted = True
            for group in {row.group for row in rows}:
                self.refresh_latest(group)
            return len(rows)

    def get_media(self, media_id: int) -> Media:
        """A media that is not deleted, or a 404."""
        media = self.media.get(media_id)
        if media is None or media.deleted:
            raise not_found("Media")
        return media

    def media_in_name_order(self, project: int) -> list[int]:
        """Ids of a project's live media ordered by ``(name, id)``, as Tator lists them."""
        with self.lock:
            order = self._media_order.get(project)
            if order is None:
                live = [m for m in self.media.values() if m.project == project and not m.deleted]
                order = [m.id for m in sorted(live, key=lambda m: (m.name, m.id))]
                self._media_order[project] = order
            return order

    def get_version(self, version_id: int) -> Version:
        """A version, or a 404."""
        version = self.versions.get(version_id)
        if version is None:
            raise not_found("Version")
        return version

    def get_localization_type(self, type_id: int) -> LocalizationType:
        """A localization type, or a 404."""
        loc_type = self.localization_types.get(type_id)
        if loc_type is None:
            raise not_found("LocalizationType")
        return loc_type

    def get_media_type(self, type_id: int) -> MediaType:
        """A media type, or a 404."""
        media_type = self.media_types.get(type_id)
        if media_type is None:
            raise not_found("MediaType")
        return media_type

    # ----- localization rows and their indexes -------------------------------------------

    def get_localization(self, loc_id: int) -> Localization:
        """A localization row that is not pruned, or a 404."""
        row = self.localizations.get(loc_id)
        if row is None or row.deleted:
            raise not_found("Localization")
        return row

    def latest_mark(self, group: tuple[str, int]) -> int | None:
        """The highest mark among unpruned rows of ``(elemental_id, version)``."""
        return self._latest.get(group)

    def latest_row(self, group: tuple[str, int]) -> Localization | None:
        """The unpruned row holding the latest mark of a history."""
        mark = self._latest.get(group)
        for loc_id in reversed(self._groups.get(group, [])):
            row = self.localizations[loc_id]
            if not row.deleted and row.mark == mark:
                return row
        return None

    def group_rows(self, group: tuple[str, int]) -> list[Localization]:
        """Every unpruned row of a history, oldest first."""
        rows = (self.localizations[i] for i in self._groups.get(group, []))
        return [row for row in rows if not row.deleted]

    def insert_row(self, row: Localization) -> Localization:
        """Stores a new row and indexes it; the caller has set its id and mark."""
        self.localizations[row.id] = row
        _insert_sorted(self._project_locs.setdefault(row.project, []), row.id)
        _insert_sorted(self._media_locs.setdefault(row.media, []), row.id)
        _insert_sorted(self._eid_locs.setdefault(row.elemental_id, []), row.id)
        _insert_sorted(self._groups.setdefault(row.group, []), row.id)
        if not row.deleted:
            self._latest[row.group] = max(self._latest.get(row.group, -1), row.mark)
        return row

    def refresh_latest(self, group: tuple[str, int]) -> None:
        """Recomputes a history's latest mark, e.g. after a prune."""
        marks = [row.mark for row in self.group_rows(group)]
        if marks:
            self._latest[group] = max(marks)
        else:
            self._latest.pop(group, None)

    def regroup(self, row: Localization, elemental_id: str, version: int) -> None:
        """Moves a row to another history (an in-place version or elemental_id change)."""
        old = row.group
        self._groups[old].remove(row.id)
        if row.elemental_id != elemental_id:
            self._eid_locs[row.elemental_id].remove(row.id)
            _insert_sorted(self._eid_locs.setdefault(elemental_id, []), row.id)
        row.elemental_id, row.version = elemental_id, version
        _insert_sorted(self._groups.setdefault(row.group, []), row.id)
        self.refresh_latest(old)
        self.refresh_latest(row.group)

    def project_loc_ids(self, project: int) -> list[int]:
        """Ids of every row of a project (pruned included), ascending."""
        return self._project_locs.get(project, [])

    def media_loc_ids(self, media: int) -> list[int]:
        """Ids of every row on a media, ascending."""
        return self._media_locs.get(media, [])

    def eid_loc_ids(self, elemental_id: str) -> list[int]:
        """Ids of every row with an elemental_id (all versions), ascending."""
        return self._eid_locs.get(elemental_id, [])

    def require_media(self, media_id: int) -> Media:
        """A media for a create spec: unknown ids fail like Django's ``Media.objects.get``."""
        media = self.media.get(media_id)
        if media is None or media.deleted:
            raise does_not_exist("Media")
        return media


def _insert_sorted(ids: list[int], new_id: int) -> None:
    if not ids or ids[-1] < new_id:
        ids.append(new_id)
    else:
        bisect.insort(ids, new_id)


class Store(QueryMixin, RevisionsMixin, StoreBase):
    """Everything one emulated Tator server holds; see the module docstring.

    Build one with the ``add_*`` methods or :func:`.fixtures.load_fixture`, then act on it
    directly (``create_localizations``, ``patch_localization``, ``delete_localization``,
    ``list_localizations``) or serve it with :class:`.server.EmulatorServer`.
    """
