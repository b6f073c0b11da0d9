"""One function per Tator operation: permission checks, then the store, then Tator's answer.

Each handler takes a :class:`Call` (the caller, parsed path/query/body) and returns a
:class:`Answer`; errors are raised as :class:`~.errors.TatorError`. Handlers run in a worker
thread (they do blocking store work); the ASGI wiring lives in :mod:`.app`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from . import auth
from .errors import bad_request, does_not_exist, forbidden, not_authenticated, not_found
from .models import Media, User
from .queries import LocalizationQuery, select_states
from .store import Store


@dataclasses.dataclass
class Call:
    """One request as a handler sees it."""

    store: Store
    user: User | None
    path: dict[str, Any]
    query: dict[str, Any]
    body: Any
    base_url: str


@dataclasses.dataclass
class Answer:
    """A JSON answer: status and body."""

    status: int
    body: Any


def ok(body: Any) -> Answer:
    """A 200 answer."""
    return Answer(200, body)


def _project(call: Call, rank: int = auth.VIEW, key: str = "project") -> int:
    project = call.store.get_project(call.path[key])
    auth.require(project, call.user, rank)
    return project.id


def _in_project(call: Call, project_id: int, rank: int = auth.VIEW) -> None:
    auth.require(call.store.get_project(project_id), call.user, rank)


# ----- users and projects ---------------------------------------------------------------


def whoami(call: Call) -> Answer:
    """``GET /rest/User/GetCurrent``; anonymous callers get Django's DoesNotExist 404."""
    if call.user is None:
        raise does_not_exist("User")
    return ok(call.user.to_json())


def obtain_token(call: Call) -> Answer:
    """``POST /rest/Token``: a user's token for username and password (201)."""
    body = call.body
    if call.user is not None and call.user.username != body["username"]:
        raise bad_request("Credentials do not match currently authenticated user!")
    for user in call.store.users.values():
        if user.username == body["username"] and user.password == body["password"]:
            token = call.store.rotate_token(user.id) if body.get("refresh") else user.token
            return Answer(201, {"token": token})
    raise bad_request("Could not authenticate with provided credentials!")


def get_project_list(call: Call) -> Answer:
    """``GET /rest/Projects``: the projects the caller is a member of."""
    if call.user is None:
        raise not_authenticated()
    found = []
    for project in sorted(call.store.projects.values(), key=lambda p: p.id):
        if project.permission_of(call.user.id) is None:
            continue
        if call.query.get("organization") not in (None, project.organization):
            continue
        if call.query.get("elemental_id") not in (None, project.elemental_id):
            continue
        found.append(project.to_json(call.user.id))
    return ok(found)


def get_project(call: Call) -> Answer:
    """``GET /rest/Project/{id}``, with the caller's ``permission`` label."""
    project_id = _project(call, key="id")
    return ok(call.store.projects[project_id].to_json(call.user.id))


def get_version_list(call: Call) -> Answer:
    """``GET /rest/Versions/{project}`` ordered by number (``media_id`` is ignored)."""
    project = _project(call)
    return ok([v.to_json() for v in call.store.project_versions(project)])


def get_version(call: Call) -> Answer:
    """``GET /rest/Version/{id}``."""
    version = call.store.get_version(call.path["id"])
    _in_project(call, version.project)
    return ok(version.to_json())


# ----- types --------------------------------------------------------------------------------


def get_media_type_list(call: Call) -> Answer:
    """``GET /rest/MediaTypes/{project}`` ordered by name."""
    project = _project(call)
    found = [t for t in call.store.media_types.values() if t.project == project]
    eid = call.query.get("elemental_id")
    found = [t for t in found if eid is None or t.elemental_id == eid]
    return ok([t.to_json() for t in sorted(found, key=lambda t: (t.name, t.id))])


def get_media_type(call: Call) -> Answer:
    """``GET /rest/MediaType/{id}``."""
    media_type = call.store.get_media_type(call.path["id"])
    _in_project(call, media_type.project)
    return ok(media_type.to_json())


def get_localization_type_list(call: Call) -> Answer:
    """``GET /rest/LocalizationTypes/{project}`` ordered by name; ``media_id`` takes one id."""
    project = _project(call)
    found = [t for t in call.store.localization_types.values() if t.project == project]
    media_ids = call.query.get("media_id")
    if media_ids is not None:
        if len(media_ids) != 1:
            raise bad_request("Entity type list endpoints expect only one media ID!")
        media = call.store.get_media(media_ids[0])
        found = [t for t in found if media.type in t.media]
    eid = call.query.get("elemental_id")
    found = [t for t in found if eid is None or t.elemental_id == eid]
    return ok([t.to_json() for t in sorted(found, key=lambda t: (t.name, t.id))])


def get_localization_type(call: Call) -> Answer:
    """``GET /rest/LocalizationType/{id}``."""
    loc_type = call.store.get_localization_type(call.path["id"])
    _in_project(call, loc_type.project)
    return ok(loc_type.to_json())


def get_section_list(call: Call) -> Answer:
    """``GET /rest/Sections/{project}`` ordered by name (folder sections only)."""
    project = _project(call)
    found = [s for s in call.store.sections.values() if s.project == project]
    name = call.query.get("name")
    found = [s for s in found if name is None or s.name == name]
    eid = call.query.get("elemental_id")
    found = [s for s in found if eid is None or s.elemental_id == eid]
    return ok([s.to_json() for s in sorted(found, key=lambda s: (s.name, s.id))])


def get_section(call: Call) -> Answer:
    """``GET /rest/Section/{id}``."""
    section = call.store.sections.get(call.path["id"])
    if section is None:
        raise not_found("Section")
    _in_project(call, section.project)
    return ok(section.to_json())


# ----- media ----------------------------------------------------------------------------


def _media_json(call: Call, media: Media) -> dict[str, Any]:
    expiration = call.query.get("presigned")
    if not expiration:
        return media.to_json()
    presigned = {
        role: [_presign_entry(call, entry, expiration) for entry in entries]
        for role, entries in media.media_files.items()
    }
    return media.to_json(presigned)


def _presign_entry(call: Call, entry: dict[str, Any], expiration: int) -> dict[str, Any]:
    out = dict(entry)
    for field in ("path", "segment_info"):
        value = out.get(field)
        if value and not value.startswith(("http://", "https://", "/")):
            out[field] = call.store.objects.url_for(call.base_url, value, expiration,
                                                    call.user.id)
    return out


def get_media_list(call: Call) -> Answer:
    """``GET /rest/Medias/{project}`` ordered by name, id."""
    project = _project(call)
    return ok([_media_json(call, m) for m in call.store.select_media(project, call.query)])


def get_media_list_by_id(call: Call) -> Answer:
    """``PUT /rest/Medias/{project}``: as the GET, with body ``ids`` unioned with media_id."""
    project = _project(call)
    ids = (call.body or {}).get("ids") or None
    media = call.store.select_media(project, call.query, ids)
    return ok([_media_json(call, m) for m in media])


def get_media_count(call: Call) -> Answer:
    """``GET /rest/MediaCount/{project}``."""
    project = _project(call)
    return ok(len(call.store.select_media(project, call.query)))


def get_media(call: Call) -> Answer:
    """``GET /rest/Media/{id}``."""
    media = call.store.get_media(call.path["id"])
    _in_project(call, media.project)
    return ok(_media_json(call, media))


def get_download_info(call: Call) -> Answer:
    """``POST /rest/DownloadInfo/{project}`` (201; needs Can Transfer; keys of the project)."""
    project = _project(call, auth.TRANSFER)
    answer = []
    for key in call.body["keys"]:
        parts = key.split("/")
        owner = parts[3] if parts[0] == "_uploads" and len(parts) > 3 else (
            parts[1] if len(parts) > 1 else None)
        if owner != str(project):
            raise forbidden()
        url = call.store.objects.url_for(call.base_url, key, call.query["expiration"],
                                         call.user.id)
        answer.append({"key": key, "url": url})
    return Answer(201, answer)


# ----- localizations ------------------------------------------------------------------------


def get_localization_list(call: Call) -> Answer:
    """``GET /rest/Localizations/{project}``."""
    project = _project(call)
    rows = call.store.select_localizations(project, LocalizationQuery.build(call.query))
    return ok([row.to_json() for row in rows])


def get_localization_list_by_id(call: Call) -> Answer:
    """``PUT /rest/Localizations/{project}`` with a ``LocalizationIdQuery`` body."""
    project = _project(call)
    q = LocalizationQuery.build(call.query, call.body)
    return ok([row.to_json() for row in call.store.select_localizations(project, q)])


def get_localization_count(call: Call) -> Answer:
    """``GET``/``PUT /rest/LocalizationCount/{project}``."""
    project = _project(call)
    q = LocalizationQuery.build(call.query, call.body)
    return ok(call.store.count_localizations(project, q))


def create_localization_list(call: Call) -> Answer:
    """``POST /rest/Localizations/{project}`` (201; one spec or a list of up to 500)."""
    project = _project(call, auth.EDIT)
    specs = call.body if isinstance(call.body, list) else [call.body]
    if not specs:
        raise bad_request("Localization creation requires list of localizations!", "'body'")
    ids = call.store.create_localizations(project, specs, call.user.id)
    return Answer(201, {"message": f"Successfully created {len(ids)} localizations!",
                        "id": ids})


def update_localization_list(call: Call) -> Answer:
    """``PATCH /rest/Localizations/{project}``: bulk attribute edit."""
    project = _project(call, auth.EDIT)
    q = LocalizationQuery.build(call.query, call.body)
    count = call.store.bulk_update_localizations(project, q, call.body, call.user.id,
                                                 call.query.get("count"))
    return ok({"message": f"Successfully updated {count} localizations!"})


def delete_localization_list(call: Call) -> Answer:
    """``DELETE /rest/Localizations/{project}``: bulk soft delete or prune."""
    project = _project(call, auth.EDIT)
    body = call.body or {}
    q = LocalizationQuery.build(call.query, body)
    count = call.store.bulk_delete_localizations(project, q, bool(body.get("prune")),
                                                 call.user.id, call.query.get("count"))
    return ok({"message": f"Successfully deleted {count} localizations!"})


def get_state_list(call: Call) -> Answer:
    """``GET /rest/States/{project}`` (states are only stored, see ``Store.add_state``)."""
    project = _project(call)
    return ok([dict(s) for s in select_states(call.store.states.values(), project,
                                              call.query)])


def get_state_count(call: Call) -> Answer:
    """``GET /rest/StateCount/{project}``."""
    project = _project(call)
    return ok(len(select_states(call.store.states.values(), project, call.query)))


def get_localization(call: Call) -> Answer:
    """``GET /rest/Localization/{id}``: that exact row, even a variant_deleted one."""
    row = call.store.get_localization(call.path["id"])
    _in_project(call, row.project)
    return ok(row.to_json())


def update_localization(call: Call) -> Answer:
    """``PATCH /rest/Localization/{id}``: a new revision unless ``in_place=1``."""
    row = call.store.get_localization(call.path["id"])
    _in_project(call, row.project, auth.EDIT)
    message, result = call.store.update_localization(row.id, call.body, call.user.id)
    return ok({"message": message, "object": result.to_json(effective_permission=255)})


def delete_localization(call: Call) -> Answer:
    """``DELETE /rest/Localization/{id}``: soft delete, or ``prune``."""
    row = call.store.get_localization(call.path["id"])
    _in_project(call, row.project, auth.EDIT)
    body = call.body or {}
    message, loc_id = call.store.delete_localization(
        row.id, call.user.id, bool(body.get("prune")), bool(body.get("pedantic")))
    return ok({"message": message, "id": loc_id})


def _by_elemental_id(call: Call, rank: int) -> Any:
    version = call.store.get_version(call.path["version"])
    _in_project(call, version.project, rank)
    return call.store.latest_by_elemental_id(version.id, call.path["elemental_id"],
                                             call.query.get("mark"))


def get_localization_by_elemental_id(call: Call) -> Answer:
    """``GET /rest/Localization/{version}/{elemental_id}``: latest mark, or ``mark``."""
    return ok(_by_elemental_id(call, auth.VIEW).to_json())


def update_localization_by_elemental_id(call: Call) -> Answer:
    """``PATCH /rest/Localization/{version}/{elemental_id}`` on the latest mark."""
    row = _by_elemental_id(call, auth.EDIT)
    message, result = call.store.update_localization(row.id, call.body, call.user.id)
    return ok({"message": message, "object": result.to_json(effective_permission=255)})


def delete_localization_by_elemental_id(call: Call) -> Answer:
    """``DELETE /rest/Localization/{version}/{elemental_id}`` on the latest mark."""
    row = _by_elemental_id(call, auth.EDIT)
    body = call.body or {}
    message, loc_id = call.store.delete_localization(
        row.id, call.user.id, bool(body.get("prune")), bool(body.get("pedantic")))
    return ok({"message": message, "id": loc_id})


HANDLERS: dict[str, Callable[[Call], Answer]] = {
    "Whoami": whoami,
    "CreateObtainAuthToken": obtain_token,
    "GetProjectList": get_project_list,
    "GetProject": get_project,
    "GetVersionList": get_version_list,
    "GetVersion": get_version,
    "GetMediaTypeList": get_media_type_list,
    "GetMediaType": get_media_type,
    "GetLocalizationTypeList": get_localization_type_list,
    "GetLocalizationType": get_localization_type,
    "GetSectionList": get_section_list,
    "GetSection": get_section,
    "GetMediaList": get_media_list,
    "GetMediaListById": get_media_list_by_id,
    "GetMediaCount": get_media_count,
    "GetMedia": get_media,
    "GetDownloadInfo": get_download_info,
    "GetLocalizationList": get_localization_list,
    "GetLocalizationListById": get_localization_list_by_id,
    "GetLocalizationCount": get_localization_count,
    "GetLocalizationCountById": get_localization_count,
    "CreateLocalizationList": create_localization_list,
    "UpdateLocalizationList": update_localization_list,
    "DeleteLocalizationList": delete_localization_list,
    "GetStateList": get_state_list,
    "GetStateCount": get_state_count,
    "GetLocalization": get_localization,
    "UpdateLocalization": update_localization,
    "DeleteLocalization": delete_localization,
    "GetLocalizationByElementalId": get_localization_by_elemental_id,
    "UpdateLocalizationByElementalId": update_localization_by_elemental_id,
    "DeleteLocalizationByElementalId": delete_localization_by_elemental_id,
}
"""Operation id → handler; GetFrame and the applet operations are wired in :mod:`.app`."""
