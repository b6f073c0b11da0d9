"""Our fixture format for the Tator emulator, and the loader that turns it into a store.

A fixture is a JSON/YAML-able dict; objects refer to each other by name (or id)::

    organization: 1
    users:
      - {username: alice, token: <40 hex>, password: pw, bearer_tokens: [...], org_admin: true,
         is_active: true}
    projects:
      - id: 1                       # ids are optional everywhere
        name: Test Project
        creator: alice              # gets the "Creator" permission label
        members: {bob: Can Edit, carol: View Only}
        versions: [{name: Baseline, number: 0}, {name: Review}]
        media_types:
          - {name: Images, dtype: image, attribute_types: [{name: Site, dtype: string}]}
        localization_types:
          - {name: Boxes, dtype: box, media_types: [Images], attribute_types: [...]}
        media:
          - {name: a.png, type: Images, path: images/a.png}   # relative to base_dir
        sections: [{name: Stills, media: [a.png]}]          # folders of media
        states: [{media: [a.png], version: Baseline, type: 10}]  # only listed and counted
        localizations:
          - {media: a.png, type: Boxes, version: Baseline, frame: 0, user: alice,
             x: 0.1, y: 0.1, width: 0.2, height: 0.2, attributes: {Label: Copepod}}

Localizations go through :meth:`Store.create_localizations`, so they are checked exactly like
an API create (attribute types, defaults, marks).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import yaml

from .store import Store, StoreError

logger = logging.getLogger(__name__)

USER_FIELDS = ("id", "first_name", "last_name", "email", "is_staff", "password", "elemental_id",
               "is_active")


def load_fixture_file(path: Path | str) -> Store:
    """Loads a ``.json`` or ``.yaml`` fixture; relative media paths are relative to its folder."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else \
        json.loads(path.read_text())
    return load_fixture(data, base_dir=path.parent)


def load_fixture(data: dict[str, Any], base_dir: Path | str | None = None,
                 store: Store | None = None) -> Store:
    """Builds (or extends) a store from a fixture dict; see the module docstring."""
    started = time.monotonic()
    store = store or Store(organization=data.get("organization", 1))
    for user in data.get("users", []):
        _load_user(store, user)
    for project in data.get("projects", []):
        _load_project(store, project, Path(base_dir) if base_dir else Path.cwd())
    logger.info("loaded Tator fixture: %d projects, %d media, %d localizations in %.2f s",
                len(store.projects), len(store.media), len(store.localizations),
                time.monotonic() - started)
    return store


def _load_user(store: Store, spec: dict[str, Any]) -> None:
    fields = {k: spec[k] for k in USER_FIELDS if k in spec}
    fields["bearer_tokens"] = tuple(spec.get("bearer_tokens", ()))
    user = store.add_user(spec["username"], spec["token"], **fields)
    if spec.get("org_admin"):
        store.organization_admins.add(user.id)


def _load_project(store: Store, spec: dict[str, Any], base_dir: Path) -> None:
    project = store.add_project(spec["name"], creator=spec.get("creator"),
                                **{k: spec[k] for k in ("id", "summary") if k in spec})
    names: dict[str, dict[str, int]] = {"version": {}, "media_type": {}, "loc_type": {},
                                        "media": {}}
    for version in spec.get("versions", []):
        made = store.add_version(project.id, version["name"], version.get("number"),
                                 **_pick(version, "id", "description"))
        names["version"][made.name] = made.id
    _load_members(store, project.id, spec.get("members", {}), names["version"])
    for media_type in spec.get("media_types", []):
        made = store.add_media_type(project.id, media_type["name"], media_type["dtype"],
                                    media_type.get("attribute_types", ()),
                                    **_pick(media_type, "id", "description"))
        names["media_type"][made.name] = made.id
    for loc_type in spec.get("localization_types", []):
        media_types = [_ref(names["media_type"], m) for m in loc_type.get("media_types", [])]
        made = store.add_localization_type(project.id, loc_type["name"], loc_type["dtype"],
                                           media_types, loc_type.get("attribute_types", ()),
                                           **_pick(loc_type, "id", "description", "color_map"))
        names["loc_type"][made.name] = made.id
    for media in spec.get("media", []):
        path = Path(media["path"])
        made = store.add_media(project.id, _ref(names["media_type"], media["type"]),
                               media["name"], path if path.is_absolute() else base_dir / path,
                               **_pick(media, "id", "attributes"))
        names["media"][made.name] = made.id
    for section in spec.get("sections", []):
        store.add_section(project.id, section["name"],
                          [_ref(names["media"], m) for m in section.get("media", [])],
                          **_pick(section, "id"))
    for state in spec.get("states", []):
        store.add_state(project.id, [_ref(names["media"], m) for m in state["media"]],
                        _ref(names["version"], state["version"]), state["type"],
                        state.get("frame"), attributes=state.get("attributes"))
    _load_localizations(store, project.id, spec.get("localizations", []), names)


def _load_members(store: Store, project: int, members: dict[str, Any] | list[dict[str, Any]],
                  versions: dict[str, int]) -> None:
    if isinstance(members, dict):
        members = [{"user": user, "permission": perm} for user, perm in members.items()]
    for member in members:
        default = member.get("default_version")
        store.add_membership(project, member["user"], member["permission"],
                             None if default is None else _ref(versions, default))


def _load_localizations(store: Store, project: int, specs: list[dict[str, Any]],
                        names: dict[str, dict[str, int]]) -> None:
    for spec in specs:
        body = {k: v for k, v in spec.items() if k not in ("media", "type", "version", "user")}
        body["media_id"] = _ref(names["media"], spec["media"])
        body["type"] = _ref(names["loc_type"], spec["type"])
        body.setdefault("frame", 0)
        if "version" in spec:
            body["version"] = _ref(names["version"], spec["version"])
        user = spec.get("user") or store.projects[project].creator
        if user is None:
            raise StoreError("a localization needs a user (or a project creator)")
        store.create_localizations(project, [body], user)


def _ref(names: dict[str, int], value: str | int) -> int:
    if isinstance(value, int):
        return value
    if value not in names:
        raise StoreError(f"unknown reference {value!r}; known: {sorted(names)}")
    return names[value]


def _pick(spec: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: spec[k] for k in keys if k in spec}
