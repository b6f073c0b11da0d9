"""Localization queries and malformed requests, against tator-real-responses.md 10-11."""

from __future__ import annotations

import json

import httpx
import pytest
from tator.exceptions import ApiException

from fiftyone_sync.emulators.tator import demo

V = 2


def box(**fields):
    spec = {"media_id": 2, "type": 1, "version": V, "frame": 0, "x": 0.1, "y": 0.1,
            "width": 0.2, "height": 0.2}
    spec.update(fields)
    return spec


@pytest.fixture
def history(tator_emulator):
    """In version 2 on media 2: A edited twice, B soft-deleted, C untouched, a dot."""
    api = tator_emulator.api("alice")
    a, b, c = api.create_localization_list(1, body=[
        box(attributes={"Label": "Salp"}), box(x=0.4), box(x=0.7, attributes={
            "Label": "Diatom"})]).id
    dot = api.create_localization_list(1, body=[{"media_id": 2, "type": 2, "version": V,
                                                 "frame": 0, "x": 0.5, "y": 0.5}]).id[0]
    a1 = api.update_localization(a, localization_update={"x": 0.15}).object.id
    a2 = api.update_localization(a1, localization_update={"y": 0.3}).object.id
    b_deleted = api.delete_localization(b).id
    ids = {"A": a, "A1": a1, "A2": a2, "B": b, "Bdel": b_deleted, "C": c, "dot": dot}
    return api, ids


def ids_of(rows):
    return [row.id for row in rows]


def test_list_flags(history):
    api, ids = history

    default = api.get_localization_list(1, version=[V])
    deleted = api.get_localization_list(1, version=[V], show_deleted=1)
    all_marks = api.get_localization_list(1, version=[V], show_all_marks=1)
    everything = api.get_localization_list(1, version=[V], show_all_marks=1, show_deleted=1)

    assert ids_of(default) == [ids["C"], ids["dot"], ids["A2"]]
    assert ids_of(deleted) == [ids["C"], ids["dot"], ids["A2"], ids["Bdel"]]
    assert ids_of(all_marks) == [ids[k] for k in ("A", "B", "C", "dot", "A1", "A2")]
    assert len(everything) == 7
    assert api.get_localization_count(1, version=[V]) == 3
    assert api.get_localization_count(1, version=[V], show_deleted=1) == 4
    assert api.get_localization_count(1, version=[V], show_deleted=1, show_all_marks=1) == 7


def test_pagination_and_slices(history):
    api, ids = history

    after = api.get_localization_list(1, version=[V], after=ids["C"])
    sliced = api.get_localization_list(1, version=[V], start=1, stop=3)
    first = api.get_localization_list(1, stop=2)

    assert ids_of(after) == [ids["dot"], ids["A2"]]
    assert ids_of(sliced) == [ids["dot"], ids["A2"]]
    assert ids_of(first) == [1, 2]
    assert api.get_localization_count(1, version=[V], start=0, stop=2) == 2
    assert api.get_localization_count(1, version=[V], after=ids["C"]) == 2


def test_filters(history):
    api, ids = history
    eid = api.get_localization(ids["A"]).elemental_id

    by_eid = api.get_localization_list(1, elemental_id=eid)
    by_attr = api.get_localization_list(1, version=[V], type=1, attribute=["Label::Diatom"])
    dots = api.get_localization_list(1, frame=0, type=2, version=[V], show_deleted=1)
    both = api.get_localization_list(1, version=[V, 1], media_id=[2])

    assert ids_of(by_eid) == [ids["A2"]]
    assert ids_of(by_attr) == [ids["C"]]
    assert api.get_localization_count(1, type=1, version=[V], attribute=["Label::Diatom"]) == 1
    assert ids_of(dots) == [ids["dot"]]
    assert ids_of(both)[-3:] == [ids["C"], ids["dot"], ids["A2"]] and len(both) == 6


def test_bad_elemental_id_filter(history):
    api, _ = history

    with pytest.raises(ApiException) as caught:
        api.get_localization_list(1, elemental_id="nope")

    assert caught.value.status == 400
    assert json.loads(caught.value.body) == {"message": "badly formed hexadecimal UUID string",
                                             "details": "None"}


def test_by_id_queries(history):
    api, ids = history
    wanted = [ids["A"], ids["A1"], ids["A2"], ids["C"]]
    eids = [api.get_localization(ids[k]).elemental_id for k in ("A", "C")]

    latest = api.get_localization_list_by_id(1, localization_id_query={"ids": wanted})
    all_marks = api.get_localization_list_by_id(1, localization_id_query={"ids": wanted},
                                                show_all_marks=1)
    by_eids = api.get_localization_list_by_id(1, localization_id_query={"elemental_ids": eids})
    empty = api.get_localization_list_by_id(1, localization_id_query={})
    count = api.get_localization_count_by_id(1, localization_id_query={"ids": [ids["A2"],
                                                                              ids["A"]]})

    assert ids_of(latest) == [ids["C"], ids["A2"]]
    assert ids_of(all_marks) == [ids["A"], ids["C"], ids["A1"], ids["A2"]]
    assert ids_of(by_eids) == [ids["C"], ids["A2"]]
    assert len(empty) == api.get_localization_count(1) == 19
    assert count == 1


def test_by_id_bad_uuid(history):
    api, _ = history

    with pytest.raises(ApiException) as caught:
        api.get_localization_list_by_id(1, localization_id_query={"elemental_ids": [
            "not-a-uuid"]})

    assert json.loads(caught.value.body)["message"] == "['“not-a-uuid” is not a valid UUID.']"


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("with_token", [True, False])
def test_wrong_method(tator_emulator, method, with_token):
    headers = tator_emulator.headers() if with_token else {}

    answer = httpx.request(method, f"{tator_emulator.url}/rest/Localization/1", json={"x": 0.1},
                           headers=headers)

    assert answer.status_code == 400
    assert answer.json() == {"message": f"Operation {method.lower()} not found for "
                             f"{tator_emulator.url}/rest/Localization/<int:id>",
                             "details": "None"}


def test_wrong_method_on_get_frame_is_a_picture(tator_emulator):
    answer = httpx.post(f"{tator_emulator.url}/rest/GetFrame/1",
                        headers=tator_emulator.headers())

    assert (answer.status_code, answer.headers["content-type"]) == (400, "image/png")


@pytest.mark.parametrize("method, path, kwargs, details", [
    ("POST", "/rest/Localizations/1", {"content": "{not json", "headers": {
        "Content-Type": "application/json"}},
     "Failed to deserialize value with application/json mimetype: {not json"),
    ("PATCH", "/rest/Localization/1", {"content": "{not json", "headers": {
        "Content-Type": "application/json"}},
     "Failed to deserialize value with application/json mimetype: {not json"),
    ("PATCH", "/rest/Localization/1", {"data": {"x": "0.1"}},
     "Content for the following mimetype not found: application/x-www-form-urlencoded. "
     "Valid mimetypes: ['application/json']"),
])
def test_malformed_bodies(tator_emulator, method, path, kwargs, details):
    headers = {**tator_emulator.headers(), **kwargs.pop("headers", {})}

    answer = httpx.request(method, tator_emulator.url + path, headers=headers, **kwargs)

    assert answer.status_code == 400
    assert answer.json() == {"message": "Request body validation error", "details": details}


def test_patch_without_body(tator_emulator):
    answer = httpx.patch(f"{tator_emulator.url}/rest/Localization/1",
                         headers=tator_emulator.headers())

    assert (answer.status_code, answer.json()) == (
        400, {"message": "Missing required request body", "details": "None"})


def test_query_param_errors(tator_emulator):
    api = tator_emulator.api()

    with pytest.raises(ApiException) as cast:
        api.get_localization_list(1, after="abc")
    with pytest.raises(ApiException) as bounded:
        api.get_localization_list(1, show_deleted=2)
    with pytest.raises(TypeError):
        api.get_localization_list(1, bogus=1)

    assert json.loads(cast.value.body) == {"message": "Query parameter error: after",
                                           "details": "Failed to cast value to integer type: abc"}
    assert json.loads(bounded.value.body) == {
        "message": "Invalid query parameter: show_deleted",
        "details": "Value 2 not valid for schema of type integer: "
                   "(<ValidationError: '2 is greater than the maximum of 1'>,)"}


def test_query_param_shapes(tator_emulator):
    url, headers = tator_emulator.url, tator_emulator.headers()

    unknown = httpx.get(f"{url}/rest/Localizations/1?bogus=1&stop=1", headers=headers)
    repeated = httpx.get(f"{url}/rest/LocalizationCount/1?media_id=1&media_id=4",
                         headers=headers)
    commas = httpx.get(f"{url}/rest/LocalizationCount/1?media_id=1,4", headers=headers)

    assert unknown.status_code == 200 and len(unknown.json()) == 1
    assert repeated.json() == 4
    assert commas.json() == 10


@pytest.mark.parametrize("path", ["/rest/Nope", "/rest/Localizations/1/"])
def test_unrouted_urls_get_the_html_404(tator_emulator, path):
    answer = httpx.get(tator_emulator.url + path, headers=tator_emulator.headers())

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("call, message", [
    (lambda api: api.get_localization(99999999), "No Localization matches the given query."),
    (lambda api: api.get_localization_list(99999999), "No Project matches the given query."),
    (lambda api: api.get_localization_type(99999999),
     "No LocalizationType matches the given query."),
    (lambda api: api.get_project(99999999), "No Project matches the given query."),
    (lambda api: api.get_media(99999999), "No Media matches the given query."),
])
def test_unknown_ids(tator_emulator, call, message):
    with pytest.raises(ApiException) as caught:
        call(tator_emulator.api())

    assert caught.value.status == 404
    assert json.loads(caught.value.body) == {"message": message}


def test_types_and_versions(tator_emulator):
    api = tator_emulator.api()

    versions = api.get_version_list(1)
    media_types = api.get_media_type_list(1)
    loc_types = api.get_localization_type_list(1)
    for_video = api.get_localization_type_list(1, media_id=[4])

    assert [(v.id, v.name, v.number) for v in versions] == [(1, "Baseline", 0),
                                                            (2, "Review", 1)]
    assert api.get_version(2).to_dict() == versions[1].to_dict()
    assert [(t.name, t.dtype) for t in media_types] == [("Images", "image"),
                                                        ("Videos", "video")]
    assert [t.name for t in loc_types] == ["Boxes", "Dots", "Lines", "Polys"]
    assert loc_types[0].media == [1, 2] and loc_types[0].color_map is None
    assert len(for_video) == 4
    with pytest.raises(ApiException) as caught:
        api.get_localization_type_list(1, media_id=[1, 4])
    assert json.loads(caught.value.body)["message"] == (
        "Entity type list endpoints expect only one media ID!")
    attr = loc_types[0].attribute_types[1]
    assert (attr["name"], attr["minimum"], attr["maximum"], attr["required"]) == (
        "Confidence", 0.0, 1.0, False)


def test_sections_scope_media_and_localizations(tator_emulator):
    tator_emulator.load(demo.plankton_fixture(tator_emulator.media_dir, sections=True))
    api = tator_emulator.api("carol")

    sections = api.get_section_list(1)
    stills = api.get_media_list(1, section=1)
    clip_locs = api.get_localization_list(1, section=2)

    assert [(s.id, s.name) for s in sections] == [(2, "Clips"), (1, "Stills")]
    assert api.get_section(1).tator_user_sections == stills[0].attributes["tator_user_sections"]
    assert [m.id for m in stills] == [1, 2, 3] and stills[0].primary_section == 1
    assert api.get_media_count(1, section=2) == 1
    assert {row.media for row in clip_locs} == {4} and len(clip_locs) == 4
    assert api.get_localization_count(1, section=1, media_id=[2, 4]) == 3


def test_states_are_listed_and_counted(tator_emulator):
    api = tator_emulator.api("bob")

    states = api.get_state_list(1, media_id=[4])

    assert [(s.media, s.version, s.attributes) for s in states] == [([4], 1, {"Label": "Salp"})]
    assert api.get_state_count(1) == 1
    assert api.get_state_count(1, media_id=[1]) == 0
