"""The OpenAPI document the emulator serves at ``/schema``, written by hand for tator-py.

tator-py 1.8.1 builds its methods from the server's document, so this document decides method
names (``operationId``), keyword names (query parameters, body ``$ref`` component names) and
result types (status-coded response ``$ref``\\ s); see tator-api.md section 1. Only the
operations of section 1.3 plus the few the emulator's own flows need are declared. The
emulator validates requests against this same document (:mod:`.validation`), so what is
declared here is also what is enforced.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A ``$ref`` to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(item: Schema, **extra: Any) -> Schema:
    """An array schema."""
    return {"type": "array", "items": item, **extra}


def _int(**extra: Any) -> Schema:
    return {"type": "integer", **extra}


def _num(**extra: Any) -> Schema:
    return {"type": "number", **extra}


def _str(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def _obj(properties: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


NULL_INT = _int(nullable=True)
NULL_NUM = _num(nullable=True)
NULL_STR = _str(nullable=True)
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
POINTS = array_of(array_of(_num(), minItems=2, maxItems=2), nullable=True)

GEOMETRY: Schema = {
    "x": _num(minimum=0, maximum=1, nullable=True),
    "y": _num(minimum=0, maximum=1, nullable=True),
    "width": _num(minimum=0, maximum=1, nullable=True),
    "height": _num(minimum=0, maximum=1, nullable=True),
    "u": _num(minimum=-1, maximum=1, nullable=True),
    "v": _num(minimum=-1, maximum=1, nullable=True),
    "points": POINTS,
}
ID_QUERY: Schema = {
    "ids": array_of(_int()), "media_ids": array_of(_int()),
    "elemental_ids": array_of(_str()), "state_ids": array_of(_int()),
    "frame_state_ids": array_of(_int()), "float_array": array_of(ANY_OBJECT),
    "object_search": ANY_OBJECT, "media_query": _str(),
}
ATTRIBUTE_EDITS: Schema = {
    "attributes": ANY_OBJECT, "null_attributes": array_of(_str()),
    "reset_attributes": array_of(_str()),
}
ZERO_ONE = _int(minimum=0, maximum=1, default=0)


def _type_components() -> Schema:
    """Users, projects, versions and the media and localization types."""
    attribute_value: Schema = {"nullable": True, "oneOf": [
        {"type": "boolean"}, _num(), _str(), array_of(_num(), minItems=1),
        array_of(_str(), minItems=1)]}
    attribute_type = _obj({
        "name": _str(), "dtype": _str(enum=["bool", "int", "float", "enum", "string",
                                             "datetime", "geopos", "float_array", "blob"]),
        "description": _str(default=""), "required": {"type": "boolean", "default": False},
        "order": _int(default=0), "default": ref("AttributeValue"), "minimum": _num(),
        "maximum": _num(), "choices": array_of(_str()), "labels": array_of(_str()),
        "use_current": {"type": "boolean"}, "size": _int(), "style": _str(),
        "visible": {"type": "boolean"}, "autocomplete": ANY_OBJECT,
    }, ("name", "dtype"))
    return {
        "AttributeValue": attribute_value,
        "AttributeType": attribute_type,
        "User": _obj({"id": _int(), "username": _str(), "first_name": _str(),
                      "last_name": _str(), "email": _str(), "is_staff": {"type": "boolean"},
                      "elemental_id": _str(), "profile": ANY_OBJECT}),
        "Project": _obj({
            "id": _int(), "name": _str(), "summary": _str(default=""), "organization": _int(),
            "enable_downloads": {"type": "boolean", "default": True}, "bucket": NULL_INT,
            "upload_bucket": NULL_INT, "backup_bucket": NULL_INT, "elemental_id": _str(),
            "thumb": NULL_STR, "created": _str(), "num_files": _int(), "size": _int(),
            "duration": _int(), "usernames": array_of(_str()),
            "attribute_types": array_of(ref("AttributeType")), "extended_info": ANY_OBJECT,
            "effective_permission": _int(), "permission": _str()}),
        "Version": _obj({"id": _int(), "name": _str(), "description": _str(default=""),
                         "show_empty": {"type": "boolean", "default": True},
                         "elemental_id": _str(), "number": _int(), "project": _int(),
                         "created_by": NULL_INT, "effective_permission": _int(),
                         "bases": array_of(_int())}),
        "MediaType": _obj({
            "id": _int(), "project": _int(), "name": _str(), "description": _str(default=""),
            "dtype": _str(enum=["image", "video", "multi", "live"]),
            "attribute_types": array_of(ref("AttributeType")), "file_format": NULL_STR,
            "default_volume": _int(), "visible": {"type": "boolean", "default": True},
            "archive_config": ANY_OBJECT, "streaming_config": ANY_OBJECT,
            "overlay_config": ANY_OBJECT, "default_box": NULL_INT, "default_line": NULL_INT,
            "default_dot": NULL_INT, "elemental_id": _str(), "effective_permission": _int()}),
        "LocalizationType": _obj({
            "id": _int(), "project": _int(), "name": _str(), "description": _str(default=""),
            "dtype": _str(enum=["box", "line", "dot", "poly"]),
            "attribute_types": array_of(ref("AttributeType")), "color_map": ANY_OBJECT,
            "line_width": _int(default=3), "visible": {"type": "boolean", "default": True},
            "drawable": {"type": "boolean", "default": True},
            "grouping_default": {"type": "boolean", "default": True}, "elemental_id": _str(),
            "effective_permission": _int(), "media": array_of(_int())}),
    }


def _media_components() -> Schema:
    """Media, their file definitions and download info."""
    image_def = _obj({"path": _str(), "resolution": array_of(_int()), "size": _int(),
                      "mime": _str(), "host": _str(), "http_auth": _str()},
                     ("path", "resolution"))
    video_def = _obj({"path": _str(), "codec": _str(), "resolution": array_of(_int()),
                      "size": _int(), "bit_rate": _int(), "segment_info": _str(),
                      "codec_mime": _str(), "codec_description": _str(), "host": _str(),
                      "http_auth": _str(), "reference_only": _int()},
                     ("path", "codec", "resolution"))
    audio_def = _obj({"path": _str(), "codec": _str(), "size": _int(), "bit_rate": _int(),
                      "host": _str(), "http_auth": _str()}, ("path", "codec"))
    media_files = _obj({
        "image": array_of(ref("ImageDefinition")), "thumbnail": array_of(ref("ImageDefinition")),
        "thumbnail_gif": array_of(ref("ImageDefinition")),
        "streaming": array_of(ref("VideoDefinition")),
        "archival": array_of(ref("VideoDefinition")), "audio": array_of(ref("AudioDefinition")),
        "attachment": array_of(ANY_OBJECT), "ids": array_of(_int()),
    })
    return {
        "ImageDefinition": image_def,
        "VideoDefinition": video_def,
        "AudioDefinition": audio_def,
        "MediaFiles": media_files,
        "Media": _obj({
            "id": _int(), "project": _int(), "type": _int(), "name": _str(), "md5": NULL_STR,
            "media_files": {**ref("MediaFiles"), "nullable": True}, "attributes": ANY_OBJECT,
            "elemental_id": _str(), "primary_section": NULL_INT, "created_datetime": _str(),
            "created_by": NULL_INT, "modified_datetime": _str(), "modified_by": NULL_INT,
            "last_edit_start": NULL_STR, "last_edit_end": NULL_STR, "num_frames": NULL_INT,
            "fps": NULL_NUM, "codec": NULL_STR, "width": NULL_INT, "height": NULL_INT,
            "summary_level": NULL_INT, "gid": NULL_STR, "uid": NULL_STR,
            "archive_state": _str(), "archive_status_date": _str(),
            "effective_permission": _int()}),
        "MediaIdQuery": _obj({k: ID_QUERY[k] for k in (
            "ids", "float_array", "object_search")} | {
            "localization_ids": array_of(_int()), "state_ids": array_of(_int())}),
        "Section": _obj({
            "id": _int(), "project": _int(), "name": _str(), "path": _str(),
            "tator_user_sections": NULL_STR, "object_search": ANY_OBJECT,
            "related_object_search": ANY_OBJECT, "explicit_listing": {"type": "boolean"},
            "media": array_of(_int()), "visible": {"type": "boolean", "default": True},
            "elemental_id": _str(), "effective_permission": _int()}),
        "DownloadInfoSpec": _obj({"keys": array_of(_str())}, ("keys",)),
        "DownloadInfo": _obj({"key": _str(), "url": _str()}),
    }


def _localization_components() -> Schema:
    """Localizations and the bodies that create, query, edit and delete them."""
    loc_spec = _obj({"media_id": _int(), "type": _int(), "frame": _int(minimum=0),
                     "version": _int(), **GEOMETRY, "parent": NULL_INT,
                     "elemental_id": NULL_STR, "attributes": ANY_OBJECT,
                     "user_elemental_id": NULL_STR}, ("media_id", "type", "frame"))
    return {
        "Localization": _obj({
            "id": _int(), "project": _int(), "type": _int(), "media": _int(),
            "thumbnail_image": NULL_INT, "version": _int(), "attributes": ANY_OBJECT,
            "created_by": NULL_INT, "created_datetime": _str(), "modified_datetime": _str(),
            "modified_by": NULL_INT, "user": NULL_INT, "variant_deleted": {"type": "boolean"},
            **GEOMETRY, "frame": _int(), "parent": NULL_INT, "elemental_id": _str(),
            "mark": _int(), "effective_permission": _int()}),
        "LocalizationSpec": loc_spec,
        "State": _obj({
            "id": _int(), "project": _int(), "type": _int(), "media": array_of(_int()),
            "localizations": array_of(_int()), "frame": NULL_INT, "version": _int(),
            "attributes": ANY_OBJECT, "elemental_id": _str(), "mark": _int(),
            "variant_deleted": {"type": "boolean"}, "effective_permission": _int()}),
        "LocalizationUpdate": _obj({
            **GEOMETRY, "frame": _int(minimum=0), "elemental_id": NULL_STR, **ATTRIBUTE_EDITS,
            "user_elemental_id": NULL_STR, "in_place": ZERO_ONE, "pedantic": ZERO_ONE,
            "mark": _int(), "parent": NULL_INT}),
        "LocalizationBulkUpdate": _obj({
            **ID_QUERY, **ATTRIBUTE_EDITS, "new_version": _int(), "new_elemental_id": _str(),
            "user_elemental_id": NULL_STR, "in_place": ZERO_ONE}),
        "LocalizationIdQuery": _obj(dict(ID_QUERY)),
        "LocalizationDelete": _obj({"prune": ZERO_ONE, "pedantic": ZERO_ONE}),
        "LocalizationBulkDelete": _obj({**ID_QUERY, "prune": ZERO_ONE, "pedantic": ZERO_ONE}),
    }


def _other_components() -> Schema:
    """Generic responses, applets, hosted templates and tokens."""
    parameter = _obj({"name": _str(), "value": _str()}, ("name", "value"))
    return {
        "CreateResponse": _obj({"message": _str(), "id": _int(), "object": ANY_OBJECT},
                               ("message", "id")),
        "CreateListResponse": _obj({"message": _str(), "id": array_of(_int()),
                                    "object": array_of(ANY_OBJECT)}, ("message", "id")),
        "MessageResponse": _obj({"message": _str()}, ("message",)),
        "NotFoundResponse": _obj({"message": _str()}, ("message",)),
        "BadRequestResponse": _obj({"message": _str(), "details": _str()}, ("message",)),
        "Parameter": parameter,
        "Applet": _obj({"id": _int(), "project": _int(), "name": _str(), "html_file": _str(),
                        "description": _str(), "categories": array_of(_str()),
                        "template": NULL_INT, "tparams": array_of(ref("Parameter")),
                        "rendered": _str()}),
        "AppletSpec": _obj({"name": _str(), "html_file": NULL_STR, "description": _str(),
                            "categories": array_of(_str()), "template": NULL_INT,
                            "tparams": array_of(ref("Parameter")),
                            "headers": array_of(ref("Parameter"))}, ("name",)),
        "HostedTemplate": _obj({"id": _int(), "name": _str(), "organization": _int(),
                                "url": _str(), "tparams": array_of(ref("Parameter")),
                                "effective_permission": _int()}),
        "HostedTemplateSpec": _obj({"name": _str(), "url": _str(),
                                    "headers": array_of(ref("Parameter"), default=[]),
                                    "tparams": array_of(ref("Parameter"), default=[])},
                                   ("name", "url")),
        "Credentials": _obj({"username": _str(), "password": _str(),
                             "refresh": {"type": "boolean", "default": False}},
                            ("username", "password")),
        "Token": _obj({"token": _str()}, ("token",)),
    }


def _components() -> Schema:
    """Every component schema the operations refer to."""
    return {**_type_components(), **_media_components(), **_localization_components(),
            **_other_components()}


def _query(name: str, schema: Schema, required: bool = False) -> Schema:
    param: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if schema.get("type") == "array":
        param.update(style="form", explode=False)
    return param


def _path(name: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema or _int()}


ATTRIBUTE_PARAMS = [_query(name, array_of(_str())) for name in (
    "attribute", "attribute_lt", "attribute_lte", "attribute_gt", "attribute_gte",
    "attribute_contains", "attribute_null")]

LOCALIZATION_QUERY = [
    _query("media_id", array_of(_int(minimum=1))), _query("type", _int()),
    _query("version", array_of(_int())), _query("frame", _int(minimum=0)),
    _query("elemental_id", _str()), _query("after", _int()), _query("section", _int()),
    _query("start", _int(minimum=0)), _query("stop", _int(minimum=0)),
    _query("show_deleted", _int(minimum=0, maximum=1, default=0)),
    _query("show_all_marks", _int(minimum=0, maximum=1, default=0)),
    _query("merge", _int(minimum=0, maximum=1, default=1)), *ATTRIBUTE_PARAMS,
]
STATE_QUERY = [
    _query("media_id", array_of(_int(minimum=1))), _query("type", _int()),
    _query("version", array_of(_int())), _query("after", _int()),
    _query("start", _int(minimum=0)), _query("stop", _int(minimum=0)),
]
COUNT_PARAM = _query("count", _int(minimum=0))
PRESIGN_PARAMS = [_query("presigned", _int(minimum=1, maximum=604800)),
                  _query("no_cache", {"type": "boolean", "default": False})]
MEDIA_QUERY = [
    _query("media_id", array_of(_int(minimum=1))), _query("type", _int()),
    _query("name", _str()), _query("dtype", _str(enum=["image", "video", "multi"])),
    _query("md5", _str()), _query("gid", _str()), _query("uid", _str()),
    _query("elemental_id", _str()), _query("after", _int()), _query("after_name", _str()),
    _query("section", _int()),
    _query("archive_lifecycle", _str(enum=["live", "archived", "all"], default="all")),
    _query("start", _int(minimum=0)), _query("stop", _int(minimum=0)),
    *PRESIGN_PARAMS, *ATTRIBUTE_PARAMS,
]
FRAME_QUERY = [
    _query("frames", array_of(_int(minimum=0), maxItems=32, default=[0])),
    _query("tile", _str()), _query("roi", array_of(_str())), _query("force_scale", _str()),
    _query("animate", _int(minimum=0, maximum=15)), _query("quality", _int()),
]


def _json_response(schema: Schema, description: str = "Successful response.") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(op_id: str, status: int, result: Schema | None, params: list[Schema] = (),
        body: Schema | None = None, body_required: bool = True, tag: str = "Tator") -> Schema:
    responses: Schema = {
        "400": _json_response(ref("BadRequestResponse"), "Bad request."),
        "404": _json_response(ref("NotFoundResponse"), "Not found."),
    }
    responses[str(status)] = (_json_response(result) if result is not None
                              else {"description": "Successful response."})
    operation: Schema = {"operationId": op_id, "tags": [tag], "parameters": list(params),
                         "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": body_required,
                                    "content": {"application/json": {"schema": body}}}
    return operation


def _paths() -> Schema:
    """Every declared operation, by path and method (a table, kept in one place)."""
    pid, oid = _path("project"), _path("id")
    ver, eid = _path("version"), _path("elemental_id", _str())
    org = _path("organization")
    loc_list = array_of(ref("Localization"))
    update_result = _obj({"message": _str(), "object": ref("Localization")})
    delete_result = _obj({"message": _str(), "id": _int()})
    create_body = {"oneOf": [array_of(ref("LocalizationSpec"), maxItems=500),
                             ref("LocalizationSpec")]}
    return {
        "/rest/User/GetCurrent": {"get": _op("Whoami", 200, ref("User"))},
        # Tator's document says 200 here while its server answers 201 (an untyped result).
        "/rest/Token": {"post": _op("CreateObtainAuthToken", 200, ref("Token"),
                                    body=ref("Credentials"))},
        "/rest/Projects": {"get": _op("GetProjectList", 200, array_of(ref("Project")), [
            _query("organization", _int()), _query("elemental_id", _str())])},
        "/rest/Project/{id}": {"get": _op("GetProject", 200, ref("Project"), [oid])},
        "/rest/Versions/{project}": {"get": _op("GetVersionList", 200, array_of(ref("Version")),
                                                [pid, _query("media_id", _int())])},
        "/rest/Version/{id}": {"get": _op("GetVersion", 200, ref("Version"), [oid])},
        "/rest/MediaTypes/{project}": {"get": _op(
            "GetMediaTypeList", 200, array_of(ref("MediaType")),
            [pid, _query("elemental_id", _str())])},
        "/rest/MediaType/{id}": {"get": _op("GetMediaType", 200, ref("MediaType"), [oid])},
        "/rest/LocalizationTypes/{project}": {"get": _op(
            "GetLocalizationTypeList", 200, array_of(ref("LocalizationType")),
            [pid, _query("media_id", array_of(_int())), _query("type", _int()),
             _query("elemental_id", _str())])},
        "/rest/LocalizationType/{id}": {"get": _op("GetLocalizationType", 200,
                                                   ref("LocalizationType"), [oid])},
        "/rest/Medias/{project}": {
            "get": _op("GetMediaList", 200, array_of(ref("Media")), [pid, *MEDIA_QUERY]),
            "put": _op("GetMediaListById", 200, array_of(ref("Media")), [pid, *MEDIA_QUERY],
                       body=ref("MediaIdQuery")),
        },
        "/rest/Sections/{project}": {"get": _op(
            "GetSectionList", 200, array_of(ref("Section")),
            [pid, _query("name", _str()), _query("elemental_id", _str())])},
        "/rest/Section/{id}": {"get": _op("GetSection", 200, ref("Section"), [oid])},
        "/rest/Media/{id}": {"get": _op("GetMedia", 200, ref("Media"), [oid, *PRESIGN_PARAMS])},
        "/rest/MediaCount/{project}": {"get": _op("GetMediaCount", 200, _int(),
                                                  [pid, *MEDIA_QUERY])},
        "/rest/DownloadInfo/{project}": {"post": _op(
            "GetDownloadInfo", 201, array_of(ref("DownloadInfo")),
            [pid, _query("expiration", _int(minimum=1, maximum=604800, default=86400))],
            body=ref("DownloadInfoSpec"))},
        "/rest/GetFrame/{id}": {"get": _op("GetFrame", 200, None, [oid, *FRAME_QUERY])},
        "/rest/Localizations/{project}": {
            "get": _op("GetLocalizationList", 200, loc_list, [pid, *LOCALIZATION_QUERY]),
            "put": _op("GetLocalizationListById", 200, loc_list, [pid, *LOCALIZATION_QUERY],
                       body=ref("LocalizationIdQuery")),
            "post": _op("CreateLocalizationList", 201, ref("CreateListResponse"), [pid],
                        body=create_body),
            "patch": _op("UpdateLocalizationList", 200, ref("MessageResponse"),
                         [pid, *LOCALIZATION_QUERY, COUNT_PARAM],
                         body=ref("LocalizationBulkUpdate")),
            "delete": _op("DeleteLocalizationList", 200, ref("MessageResponse"),
                          [pid, *LOCALIZATION_QUERY, COUNT_PARAM],
                          body=ref("LocalizationBulkDelete"), body_required=False),
        },
        "/rest/LocalizationCount/{project}": {
            "get": _op("GetLocalizationCount", 200, _int(), [pid, *LOCALIZATION_QUERY]),
            "put": _op("GetLocalizationCountById", 200, _int(), [pid, *LOCALIZATION_QUERY],
                       body=ref("LocalizationIdQuery")),
        },
        "/rest/States/{project}": {"get": _op(
            "GetStateList", 200, array_of(ref("State")), [pid, *STATE_QUERY])},
        "/rest/StateCount/{project}": {"get": _op("GetStateCount", 200, _int(),
                                                  [pid, *STATE_QUERY])},
        "/rest/Localization/{id}": {
            "get": _op("GetLocalization", 200, ref("Localization"), [oid]),
            "patch": _op("UpdateLocalization", 200, update_result, [oid],
                         body=ref("LocalizationUpdate")),
            "delete": _op("DeleteLocalization", 200, delete_result, [oid],
                          body=ref("LocalizationDelete"), body_required=False),
        },
        "/rest/Localization/{version}/{elemental_id}": {
            "get": _op("GetLocalizationByElementalId", 200, ref("Localization"),
                       [ver, eid, _query("mark", _int(minimum=0))]),
            "patch": _op("UpdateLocalizationByElementalId", 200, update_result, [ver, eid],
                         body=ref("LocalizationUpdate")),
            "delete": _op("DeleteLocalizationByElementalId", 200, delete_result, [ver, eid],
                          body=ref("LocalizationDelete"), body_required=False),
        },
        "/rest/Applets/{project}": {
            "get": _op("GetAppletList", 200, array_of(ref("Applet")), [pid]),
            "post": _op("RegisterApplet", 201, ref("CreateResponse"), [pid],
                        body=ref("AppletSpec")),
        },
        "/rest/Applet/{id}": {
            "get": _op("GetApplet", 200, ref("Applet"), [oid]),
            # Tator declares no 200 for this PATCH, so tator-py returns an untyped result.
            "patch": _op("UpdateApplet", 201, None, [oid], body=ref("AppletSpec")),
            "delete": _op("DeleteApplet", 200, ref("MessageResponse"), [oid]),
        },
        "/rest/HostedTemplates/{organization}": {
            "get": _op("GetHostedTemplateList", 200, array_of(ref("HostedTemplate")), [org]),
            "post": _op("CreateHostedTemplate", 201, ref("CreateResponse"), [org],
                        body=ref("HostedTemplateSpec")),
        },
        "/rest/HostedTemplate/{id}": {
            "get": _op("GetHostedTemplate", 200, ref("HostedTemplate"), [oid]),
            "patch": _op("UpdateHostedTemplate", 200, ref("MessageResponse"), [oid],
                         body=ref("HostedTemplateSpec")),
            "delete": _op("DeleteHostedTemplate", 200, ref("MessageResponse"), [oid]),
        },
    }


@functools.cache
def openapi_document() -> Schema:
    """The whole document as a dict (built once)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Tator REST API (emulator subset)", "version": "1.8.1-emulator",
                 "description": "Hand-written subset of Tator's API for tests and demos."},
        "paths": _paths(),
        "components": {"schemas": _components()},
    }


@functools.cache
def openapi_yaml() -> bytes:
    """The document as YAML bytes, the form Tator's ``/schema/`` sends."""
    return yaml.safe_dump(openapi_document(), sort_keys=False, allow_unicode=True).encode()


def operations() -> dict[tuple[str, str], Schema]:
    """``(METHOD, path template)`` → operation, for routing and validation."""
    found = {}
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            found[(method.upper(), path)] = operation
    return found


def component(name: str) -> Schema:
    """A component schema by name."""
    return openapi_document()["components"]["schemas"][name]
