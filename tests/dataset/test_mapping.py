"""Pure tests of the Tator ↔ FiftyOne mapping pairs (no servers, no FiftyOne import)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from fiftyone_sync.dataset import attributes as attrs
from fiftyone_sync.dataset import mapping

FLOATS = st.floats(min_value=-1.0, max_value=2.0, allow_nan=False, allow_infinity=False)
UNIT = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=20)
MILLIS_TIMES = st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1)
                            ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))

ATTRIBUTE_TYPES = [
    {"name": "Label", "dtype": "enum", "choices": ["Copepod", "Salp", "Larvacean"]},
    {"name": "Confidence", "dtype": "float"},
    {"name": "Count", "dtype": "int"},
    {"name": "Verified", "dtype": "bool"},
    {"name": "Note", "dtype": "string"},
    {"name": "Seen at", "dtype": "datetime"},
    {"name": "Where", "dtype": "geopos"},
    {"name": "Vector", "dtype": "float_array", "size": 3},
    {"name": "label", "dtype": "string"},
]


def _info(dtype: str) -> mapping.TypeInfo:
    loc_type = {"id": 7, "name": "Boxes", "dtype": dtype, "attribute_types": ATTRIBUTE_TYPES}
    return mapping.type_info(loc_type, "boxes", ["Label", "label"], ["score", "Confidence"])


ATTRIBUTE_VALUES = st.fixed_dictionaries({}, optional={
    "Label": st.sampled_from(["Copepod", "Salp", "Larvacean"]),
    "Confidence": UNIT,
    "Count": st.integers(-10**6, 10**6),
    "Verified": st.booleans(),
    "Note": TEXT,
    "Seen at": MILLIS_TIMES.map(attrs.format_datetime),
    "Where": st.tuples(st.floats(-180, 180), st.floats(-90, 90)).map(list),
    "Vector": st.lists(FLOATS, min_size=1, max_size=5),
    "label": TEXT,
})


def _loc(dtype: str, geometry: dict, attributes: dict) -> dict:
    return {"id": 11, "type": 7, "media": 3, "frame": 0, "version": 5, "mark": 2,
            "elemental_id": "e-1", "attributes": attributes, **geometry}


@given(UNIT, UNIT, UNIT, UNIT, ATTRIBUTE_VALUES)
def test_box_round_trip_is_identity(x, y, w, h, values):
    info = _info("box")
    doc, errors = mapping.label_doc(_loc("box", {"x": x, "y": y, "width": w, "height": h},
                                         values), info, "link")
    assert errors == []
    back = mapping.tator_values(doc, info)
    assert back == {"x": x, "y": y, "width": w, "height": h, "attributes": values}


@given(UNIT, UNIT, ATTRIBUTE_VALUES)
def test_dot_round_trip_is_identity(x, y, values):
    info = _info("dot")
    doc, _ = mapping.label_doc(_loc("dot", {"x": x, "y": y}, values), info, "link")
    assert doc["points"] == [[x, y]]
    assert mapping.tator_values(doc, info) == {"x": x, "y": y, "attributes": values}


@given(st.lists(st.tuples(UNIT, UNIT).map(list), min_size=3, max_size=12), ATTRIBUTE_VALUES)
def test_poly_round_trip_is_identity(points, values):
    info = _info("poly")
    doc, _ = mapping.label_doc(_loc("poly", {"points": points}, values), info, "link")
    assert doc["closed"] is True and doc["filled"] is False
    assert mapping.tator_values(doc, info) == {"points": points, "attributes": values}


@given(UNIT, UNIT, st.floats(-1, 1), st.floats(-1, 1), ATTRIBUTE_VALUES)
def test_line_round_trip_is_identity_up_to_one_rounding(x, y, u, v, values):
    info = _info("line")
    doc, _ = mapping.label_doc(_loc("line", {"x": x, "y": y, "u": u, "v": v}, values),
                               info, "link")
    assert doc["closed"] is False
    assert doc["points"] == [[[x, y], [x + u, y + v]]]
    back = mapping.tator_values(doc, info)
    assert back["x"] == x and back["y"] == y and back["attributes"] == values
    assert abs(back["u"] - u) <= 1e-15 and abs(back["v"] - v) <= 1e-15


def test_label_doc_carries_identity_class_score_and_typed_attributes():
    info = _info("box")
    loc = _loc("box", {"x": 0.95, "y": 0.1, "width": 0.1, "height": 0.2}, {
        "Label": "Salp", "Confidence": 0.75, "Count": 3, "Verified": True, "Note": "n",
        "Seen at": "2024-05-01T12:34:56.789Z", "Where": [-122.1, 36.8],
        "Vector": [1.0, 2.5], "label": "free"})
    doc, errors = mapping.label_doc(loc, info, "http://t/1/annotation/3")
    names = {a.name: a.field for a in info.attributes}

    assert errors == []
    assert doc["_cls"] == "Detection" and doc["label"] == "Salp" and doc["confidence"] == 0.75
    assert doc["bounding_box"] == [0.95, 0.1, 0.1, 0.2]
    assert mapping.is_clipped("box", loc)
    assert doc[names["Count"]] == 3 and doc[names["Verified"]] is True
    assert doc[names["Seen at"]] == dt.datetime(2024, 5, 1, 12, 34, 56, 789000,
                                                tzinfo=dt.timezone.utc)
    assert doc[names["Where"]] == [-122.1, 36.8] and doc[names["Vector"]] == [1.0, 2.5]
    assert names["label"] == "attr_label" and doc["attr_label"] == "free"
    assert names["Seen at"] == "Seen_at"
    assert (doc["tator_id"], doc["tator_mark"], doc["tator_version"], doc["tator_type"],
            doc["tator_elemental_id"]) == (11, 2, 5, 7, "e-1")


def test_values_that_do_not_fit_their_dtype_are_reported_not_stored():
    info = _info("box")
    loc = _loc("box", {"x": 0, "y": 0, "width": 1, "height": 1},
               {"Count": "many", "Verified": "yes", "Seen at": "yesterday"})
    doc, errors = mapping.label_doc(loc, info, "link")
    assert sorted(name for name, _ in errors) == ["Count", "Seen at", "Verified"]
    assert "Count" not in doc and "Verified" not in doc


def test_datetimes_parse_z_and_format_like_tator():
    parsed = attrs.parse_datetime("2024-05-01T12:34:56Z")
    assert parsed == dt.datetime(2024, 5, 1, 12, 34, 56, tzinfo=dt.timezone.utc)
    assert attrs.format_datetime(parsed) == "2024-05-01T12:34:56Z"
    assert attrs.format_datetime(dt.datetime(2024, 5, 1, 0, 0, 0, 5000)) == \
        "2024-05-01T00:00:00.005Z"
    assert attrs.parse_datetime("2024-05-01T14:00:00+02:00").hour == 12


def test_digest_ignores_tags_and_sees_value_changes():
    info = _info("box")
    doc, _ = mapping.label_doc(_loc("box", {"x": .1, "y": .1, "width": .2, "height": .2},
                                    {"Label": "Salp"}), info, "link")
    tagged = {**doc, "tags": ["tator:conflict"]}
    moved = {**doc, "bounding_box": [.1, .1, .3, .2]}
    naive_time = {**doc, "Seen_at": dt.datetime(2024, 1, 1)}
    aware_time = {**doc, "Seen_at": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)}

    assert mapping.digest(tagged, info) == mapping.digest(doc, info)
    assert mapping.digest(moved, info) != mapping.digest(doc, info)
    assert mapping.digest(naive_time, info) == mapping.digest(aware_time, info)


def test_field_names_are_sanitized_unique_and_never_reserved():
    names = attrs.field_names(["Dive quality", "Dive-quality", "id", "tator_id", "3D", ""])
    assert names == {"Dive quality": "Dive_quality", "Dive-quality": "attr_Dive_quality",
                     "id": "attr_id", "tator_id": "attr_tator_id", "3D": "_3D", "": "attr"}


def test_deep_links_follow_tators_annotation_url():
    sample = mapping.deep_link("http://tator", 1, 3, 14, 5)
    label = mapping.deep_link("http://tator", 1, 3, 14, 5, "e-1", 7)
    assert sample == "http://tator/1/annotation/3?version=5&frame=14"
    assert label == ("http://tator/1/annotation/3?selected_entity=e-1&selected_type=7"
                     "&version=5&frame=14")


def test_type_info_survives_the_dataset_info_round_trip():
    info = _info("poly")
    assert mapping.TypeInfo.from_dict(info.to_dict()) == info
    assert info.class_attribute == "Label" and info.score_attribute == "Confidence"
    assert info.class_choices == ("Copepod", "Salp", "Larvacean")
