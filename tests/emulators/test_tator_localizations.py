"""Localization create/update/delete through tator-py, against tator-real-responses.md 7-9.

New localizations go to version 2 ("Review"), which the standard project leaves empty, so
each test sees only its own rows there.
"""

from __future__ import annotations

import json

import httpx
import pytest
import tator
from tator.exceptions import ApiException

from fiftyone_sync.emulators.tator.demo import attribute_types

V = 2
LOC_KEYS = ["id", "project", "type", "media", "thumbnail_image", "version", "attributes",
            "created_by", "created_datetime", "modified_datetime", "modified_by", "user",
            "variant_deleted", "x", "y", "width", "height", "u", "v", "points", "frame",
            "parent", "elemental_id", "mark", "effective_permission"]
EID = "36baa66d-70df-46a3-b50a-d9b75d01742d"


def box(media=2, **fields):
    spec = {"media_id": media, "type": 1, "version": V, "frame": 0, "x": 0.1, "y": 0.1,
            "width": 0.2, "height": 0.2}
    spec.update(fields)
    return spec


def error_of(call):
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body)


@pytest.fixture
def api(tator_emulator):
    return tator_emulator.api("alice")


def test_create_three_boxes_and_read_them(api):
    created = api.create_localization_list(1, body=[
        box(attributes={"Label": "Salp", "Confidence": 0.9, "Reviewed": True, "Count": 3,
                        "Notes": "A"}),
        box(x=0.4, attributes={"Label": "Copepod", "Confidence": 0.5}),
        box(x=0.7, elemental_id=EID, attributes={"Label": "Diatom"})])

    assert type(created).__name__ == "CreateListResponse"
    assert created.message == "Successfully created 3 localizations!"
    a, b, c = (api.get_localization(i) for i in created.id)
    assert list(a.to_dict()) == LOC_KEYS
    assert a.attributes == {"Count": 3, "Label": "Salp", "Notes": "A", "Reviewed": True,
                            "Confidence": 0.9}
    assert b.attributes == {"Label": "Copepod", "Reviewed": False, "Confidence": 0.5}
    assert c.elemental_id == EID and c.mark == 0 and c.version == V
    assert (a.created_by, a.modified_by, a.user, a.variant_deleted) == (1, 1, 1, False)
    assert a.created_datetime == a.modified_datetime and a.created_datetime.endswith("Z")
    assert created.id == sorted(created.id)


def test_dot_line_poly_in_one_call_store_their_shapes(api):
    ids = api.create_localization_list(1, body=[
        {"media_id": 2, "type": 2, "version": V, "frame": 0, "x": 0.5, "y": 0.5},
        {"media_id": 2, "type": 3, "version": V, "frame": 0, "x": 0.1, "y": 0.9, "u": 0.3,
         "v": -0.2},
        {"media_id": 2, "type": 4, "version": V, "frame": 0,
         "points": [[0.1, 0.5], [0.2, 0.6], [0.15, 0.7]]}]).id

    dot, line, poly = api.get_localization_list_by_id(1, localization_id_query={"ids": ids})

    assert (dot.x, dot.y, dot.width, dot.u, dot.points) == (0.5, 0.5, None, None, None)
    assert (line.x, line.y, line.u, line.v, line.width) == (0.1, 0.9, 0.3, -0.2, None)
    assert (poly.x, poly.points) == (None, [[0.1, 0.5], [0.2, 0.6], [0.15, 0.7]])


@pytest.mark.parametrize("spec, message", [
    (box(attributes={"Label": "Octopus"}),
     "Invalid attribute value Octopus for enum attribute Label. Valid choices are: "
     "['Copepod', 'Salp', 'Larvacean', 'Diatom', 'Ctenophore', 'Unknown']."),
    (box(attributes={"Confidence": "abc"}),
     "Invalid attribute value abc for float attribute Confidence"),
    (box(attributes={"Confidence": 1.5}),
     "1.5 is above maximum 1.0 for float attribute Confidence!"),
    (box(attributes={"Observed": "yesterday"}),
     "Invalid attribute value yesterday for datetime attribute Observed"),
    (box(media=5), "Media must be part of project 1, got project 2!"),
])
def test_create_rejects_bad_values(api, spec, message):
    assert error_of(lambda: api.create_localization_list(1, body=[spec])) == (
        400, {"message": message, "details": "None"})


def test_create_rejects_a_bad_elemental_id(api):
    status, body = error_of(lambda: api.create_localization_list(
        1, body=[box(elemental_id="not-a-uuid")]))

    assert status == 400
    assert body == {"message": "Could not convert 'not-a-uuid' into a UUID",
                    "details": "badly formed hexadecimal UUID string"}


@pytest.mark.parametrize("body", [
    [box()] * 501,
    [box(x=1.2)],
    [{"media_id": 2, "type": 1, "version": V, "x": 0.1}],
])
def test_create_schema_violations(api, body):
    status, answer = error_of(lambda: api.create_localization_list(1, body=body))

    assert status == 400 and answer["message"] == "Request body validation error"
    assert isinstance(answer["details"], str)


def test_create_500_is_accepted(api):
    assert len(api.create_localization_list(1, body=[box()] * 500).id) == 500


def test_create_empty_list(api):
    assert error_of(lambda: api.create_localization_list(1, body=[])) == (400, {
        "message": "Localization creation requires list of localizations!",
        "details": "'body'"})


def test_create_edge_cases_are_stored_as_sent(api):
    ids = api.create_localization_list(1, body=[
        box(attributes={"Label": "Salp", "bogus_attr": 1}),
        box(x=0.9, width=0.3),
        box(width=0),
        box(Label="Copepod")]).id

    unknown, outside, flat, top_level = (api.get_localization(i) for i in ids)

    assert "bogus_attr" not in unknown.attributes
    assert (outside.x, outside.width) == (0.9, 0.3)
    assert flat.width == 0.0
    assert top_level.attributes["Label"] == "Unknown"


def test_create_single_object_and_default_version(api):
    spec = box()
    del spec["version"]
    single = api.create_localization_list(1, body=spec)

    assert single.message == "Successfully created 1 localizations!"
    assert api.get_localization(single.id[0]).version == 1


def test_same_new_elemental_id_twice_in_one_call_makes_two_marks(api):
    ids = api.create_localization_list(1, body=[
        box(elemental_id=EID, attributes={"Notes": "first"}),
        box(elemental_id=EID, attributes={"Notes": "second"})]).id

    history = api.get_localization_list(1, elemental_id=EID, show_all_marks=1)

    assert [(r.id, r.mark, r.attributes["Notes"]) for r in history] == [
        (ids[0], 0, "first"), (ids[1], 1, "second")]


def test_marks_in_place_pedantic_soft_delete_and_prune(api):
    """Reference tator-api.md 5.9, step by step."""
    (first,) = api.create_localization_list(1, body=[box(x=0.1, y=0.1)]).id
    eid = api.get_localization(first).elemental_id

    step2 = api.update_localization(first, localization_update={"x": 0.2}).object
    step3 = api.update_localization(first, localization_update={"y": 0.3}).object
    status, pedantic = error_of(lambda: api.update_localization(
        first, localization_update={"y": 0.4, "pedantic": 1}))
    step4 = api.update_localization(step3.id, localization_update={"x": 0.5, "in_place": 1})

    assert (step2.id > first, step2.mark, step2.x) == (True, 1, 0.2)
    assert (step3.id > step2.id, step3.mark, step3.x, step3.y) == (True, 2, 0.2, 0.3)
    assert status == 400 and pedantic["message"] == (
        f"Pedantic mode is enabled. Can not edit prior object {first}, must only edit latest "
        f"mark on version.Object is mark 0 of 2 for Review/{eid}")
    assert (step4.object.id, step4.object.mark, step4.object.x) == (step3.id, 2, 0.5)
    assert step4.message == f"Localization {eid}@{V}/2 successfully updated!"
    assert [r.id for r in api.get_localization_list(1, version=[V])] == [step3.id]

    deleted = api.delete_localization(step3.id)
    latest = api.get_localization_by_elemental_id(V, eid)

    assert deleted.message == f"Localization {V}/{eid}@@2 successfully deleted!"
    assert (latest.id, latest.mark, latest.variant_deleted) == (deleted.id, 3, True)
    assert api.get_localization_list(1, version=[V]) == []
    assert [r.id for r in api.get_localization_list(1, version=[V], show_deleted=1)] == [
        deleted.id]

    pruned = api.delete_localization(deleted.id, localization_delete={"prune": 1})

    assert (pruned.id, pruned.message) == (
        deleted.id, f"Localization {V}/{eid}@@3 successfully deleted!")
    assert error_of(lambda: api.get_localization(deleted.id)) == (
        404, {"message": "No Localization matches the given query."})
    assert [r.id for r in api.get_localization_list(1, version=[V])] == [step3.id]
    assert api.get_localization(first).mark == 0 and api.get_localization(first).x == 0.1
    assert [r.id for r in api.get_localization_list(1, version=[V], show_all_marks=1)] == [
        first, step2.id, step3.id]


def test_patch_details(api):
    (loc,) = api.create_localization_list(1, body=[box(attributes={
        "Label": "Salp", "Confidence": 0.9, "Notes": "A"})]).id

    first = api.update_localization(loc, localization_update={"x": 0.15, "attributes": {
        "Label": "Copepod"}})
    row = first.object
    zero_width = api.update_localization(row.id, localization_update={
        "width": 0, "height": 0.3, "in_place": 1}).object
    zero_x = api.update_localization(row.id, localization_update={"x": 0, "in_place": 1}).object
    nulled = api.update_localization(row.id, localization_update={
        "null_attributes": ["Notes"], "reset_attributes": ["Confidence"], "in_place": 1}).object
    unknown_key = api.update_localization(row.id, localization_update={"bogus": 1,
                                                                       "in_place": 1})

    assert first.message.endswith(f"@{V}/0 successfully updated!")
    assert row.effective_permission == 255 and row.mark == 1
    assert row.created_datetime == api.get_localization(loc).created_datetime
    assert row.modified_datetime >= row.created_datetime
    assert row.attributes == {"Label": "Copepod", "Notes": "A", "Reviewed": False,
                              "Confidence": 0.9}
    assert (zero_width.width, zero_width.height) == (0.2, 0.3)
    assert zero_x.x == 0.0
    assert nulled.attributes == {"Label": "Copepod", "Notes": None, "Reviewed": False,
                                 "Confidence": 0.0}
    assert unknown_key.object.id == row.id


@pytest.mark.parametrize("update, message", [
    ({"attributes": {"bogus_attr": 1}}, "Invalid attribute bogus_attr for entity type Boxes"),
    ({"attributes": {"Label": "Octopus"}}, "Invalid attribute value Octopus for enum "
     "attribute Label. Valid choices are: ['Copepod', 'Salp', 'Larvacean', 'Diatom', "
     "'Ctenophore', 'Unknown']."),
    ({"attributes": {"Count": "many"}}, "Invalid attribute value many for integer attribute "
     "Count"),
])
def test_patch_rejects_bad_attributes(api, update, message):
    assert error_of(lambda: api.update_localization(1, localization_update=update)) == (
        400, {"message": message, "details": "None"})


def test_patch_unknown_id(api):
    assert error_of(lambda: api.update_localization(99999999, localization_update={
        "x": 0.1})) == (404, {"message": "No Localization matches the given query."})


def test_by_elemental_id(api):
    (loc,) = api.create_localization_list(1, body=[box()]).id
    eid = api.get_localization(loc).elemental_id

    answer = api.update_localization_by_elemental_id(V, eid, localization_update={
        "attributes": {"Confidence": 0.55}})

    assert answer.message == f"Localization {eid}@{V}/0 successfully updated!"
    assert (answer.object.mark, answer.object.attributes["Confidence"]) == (1, 0.55)
    assert api.get_localization_by_elemental_id(V, eid).id == answer.object.id
    assert api.get_localization_by_elemental_id(V, eid, mark=0).id == loc
    assert error_of(lambda: api.get_localization_by_elemental_id(1, eid)) == (
        404, {"message": ""})
    assert error_of(lambda: api.delete_localization_by_elemental_id(
        V, "abed7b0f-2ba5-40a7-a613-ec61baab6fdf")) == (404, {"message": ""})


def test_repost_existing_elemental_id_appends_and_versions_are_separate(api):
    api.create_localization_list(1, body=[box(elemental_id=EID)])
    again = api.create_localization_list(1, body=[box(elemental_id=EID, x=0.72)]).id[0]
    baseline = api.create_localization_list(1, body=[box(elemental_id=EID, version=1)]).id[0]

    history = api.get_localization_list(1, elemental_id=EID, show_all_marks=1)

    assert [(r.version, r.mark) for r in history] == [(V, 0), (V, 1), (1, 0)]
    assert [r.id for r in api.get_localization_list(1, elemental_id=EID)] == [again, baseline]


def test_bulk_update_by_ids_is_in_place_and_by_elemental_ids_adds_marks(api):
    (loc,) = api.create_localization_list(1, body=[box(elemental_id=EID)]).id
    before = api.get_localization(loc)

    by_ids = api.update_localization_list(1, localization_bulk_update={
        "ids": [loc], "attributes": {"Notes": "bulk by ids"}})
    by_eids = api.update_localization_list(1, localization_bulk_update={
        "elemental_ids": [EID], "attributes": {"Notes": "bulk by eids"}})
    geometry = api.update_localization_list(1, localization_bulk_update={"ids": [loc],
                                                                          "x": 0.5})

    assert type(by_ids).__name__ == "MessageResponse"
    assert by_ids.message == by_eids.message == "Successfully updated 1 localizations!"
    after = api.get_localization(loc)
    assert (after.mark, after.attributes["Notes"], after.x) == (0, "bulk by ids", 0.1)
    assert after.modified_datetime == before.modified_datetime
    assert geometry.message == "Successfully updated 1 localizations!"
    history = api.get_localization_list(1, elemental_id=EID, show_all_marks=1)
    assert [(r.mark, r.attributes["Notes"]) for r in history] == [
        (0, "bulk by ids"), (1, "bulk by eids")]


def test_bulk_update_rules(api):
    ids = api.create_localization_list(1, body=[
        box(), {"media_id": 2, "type": 2, "version": V, "frame": 0, "x": 0.5, "y": 0.5}]).id

    mixed = error_of(lambda: api.update_localization_list(1, localization_bulk_update={
        "ids": ids, "attributes": {"Label": "Salp"}}))
    by_media = error_of(lambda: api.update_localization_list(
        1, localization_bulk_update={"attributes": {"Label": "Salp"}}, media_id=[2]))
    count = error_of(lambda: api.update_localization_list(
        1, localization_bulk_update={"ids": ids[:1], "attributes": {"Notes": "x"}}, count=5))
    unknown = error_of(lambda: api.update_localization_list(1, localization_bulk_update={
        "ids": ids[:1], "attributes": {"bogus_attr": 1}}))
    nothing = api.update_localization_list(1, localization_bulk_update={
        "attributes": {"Notes": "x"}}, media_id=[4], version=[V])

    same_type = ("When doing a bulk patch the type id of all objects must be the same.")
    assert mixed == by_media == (400, {"message": same_type, "details": "None"})
    assert count == (400, {"message": "Safety check failed - expected 5 but would update 1",
                           "details": "None"})
    assert unknown[1]["message"] == "Invalid attribute bogus_attr for entity type Boxes"
    assert nothing.message == "Successfully updated 0 localizations!"


def test_delete_details(api):
    ids = api.create_localization_list(1, body=[box(attributes={"Notes": "E0"}), box(),
                                                box()]).id
    e0, other, third = ids
    e1 = api.update_localization(e0, localization_update={"x": 0.35, "attributes": {
        "Notes": "E1"}}).object

    pedantic = error_of(lambda: api.delete_localization(e0, localization_delete={
        "pedantic": 1}))
    stale = api.delete_localization(e0)
    copy = api.get_localization(stale.id)
    edited = api.update_localization(e1.id, localization_update={"attributes": {
        "Notes": "after delete"}}).object

    assert pedantic[0] == 400 and "Object is mark 0 of 1 for Review/" in pedantic[1]["message"]
    assert (copy.mark, copy.variant_deleted, copy.x, copy.attributes["Notes"]) == (
        2, True, 0.1, "E0")
    assert copy.created_datetime > api.get_localization(e0).created_datetime
    assert (edited.mark, edited.variant_deleted) == (3, True)

    bulk = api.delete_localization_list(1, localization_bulk_delete={"ids": [other, e0]})
    by_old_ids = api.get_localization_list_by_id(1, localization_id_query={"ids": [other]},
                                                 show_deleted=1)
    eid = api.get_localization(other).elemental_id
    by_eids = api.get_localization_list_by_id(1, localization_id_query={"elemental_ids": [
        eid]}, show_deleted=1)
    pruned = api.delete_localization_list(1, localization_bulk_delete={"ids": [third],
                                                                       "prune": 1})

    assert bulk.message == "Successfully deleted 1 localizations!"
    assert by_old_ids == []
    assert [(r.mark, r.variant_deleted) for r in by_eids] == [(1, True)]
    assert pruned.message == "Successfully deleted 1 localizations!"
    assert error_of(lambda: api.get_localization(third))[0] == 404


def test_bulk_delete_rules(api):
    (loc,) = api.create_localization_list(1, body=[box()]).id

    count = error_of(lambda: api.delete_localization_list(
        1, localization_bulk_delete={"ids": [loc]}, count=3))
    nothing = api.delete_localization_list(1, localization_bulk_delete={"ids": [99999999]})
    unknown = error_of(lambda: api.delete_localization(99999999))

    assert count == (400, {"message": "Safety check failed - expected 3 but would delete 1",
                           "details": "None"})
    assert nothing.message == "Successfully deleted 0 localizations!"
    assert unknown == (404, {"message": "No Localization matches the given query."})


def test_unfiltered_bulk_delete_wipes_the_project(tator_emulator, api):
    answer = api.delete_localization_list(1)

    assert answer.message == "Successfully deleted 16 localizations!"
    assert api.get_localization_count(1) == 0
    assert tator_emulator.api("dave").get_localization_count(2) == 1


def test_store_python_api_acts_as_another_user(tator_emulator, api):
    (loc,) = api.create_localization_list(1, body=[box()]).id

    row = tator_emulator.store.patch_localization(loc, user="bob", attributes={
        "Label": "Salp"})
    message, deleted = tator_emulator.store.delete_localization(row.id, user="bob")

    assert (row.mark, row.modified_by, row.attributes["Label"]) == (1, 2, "Salp")
    seen = api.get_localization_list(1, version=[V], show_deleted=1)
    assert [(r.id, r.variant_deleted, r.modified_by) for r in seen] == [(deleted, True, 2)]
    assert message.endswith("@@1 successfully deleted!")


def test_datetime_and_attribute_types_round_trip(tator_emulator, api):
    ids = api.create_localization_list(1, body=[box(attributes={
        "Observed": "2024-05-01T12:00:00Z", "Reviewed": "true", "Count": "4"})]).id

    row = api.get_localization(ids[0])

    assert row.attributes["Observed"] == "2024-05-01T12:00:00Z"
    assert row.attributes["Reviewed"] is True and row.attributes["Count"] == 4
    assert [a["name"] for a in attribute_types(["A"])] == [
        a.name for a in api.get_localization_type(1).attribute_types]


def test_update_raw_effective_permission_and_content_type(tator_emulator):
    answer = httpx.patch(f"{tator_emulator.url}/rest/Localization/1",
                         headers=tator_emulator.headers(), json={"x": 0.3})

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"message", "object"}


def test_tator_util_chunked_create_and_paginator(api):
    specs = [box(x=round(i / 2000, 4)) for i in range(1050)]

    responses = list(tator.util.chunked_create(api.create_localization_list, 1, body=specs))
    paginator = tator.util.get_paginator(api, "get_localization_list", batch_size=400)
    pages = list(paginator.paginate(project=1, version=[V]))

    assert [len(r.id) for r in responses] == [500, 500, 50]
    assert [len(page) for page in pages] == [400, 400, 250]
    ids = [row.id for page in pages for row in page]
    assert ids == sorted(ids) == [i for r in responses for i in r.id]
