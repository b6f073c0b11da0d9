"""Tator localizations ↔ FiftyOne label documents, one small pair of functions per dtype.

The pull turns each Tator localization into the MongoDB document of a FiftyOne label (the
same shape ``fo.Detection(...).to_dict()`` gives), and the push turns an edited label back.
Working on plain documents keeps this module free of FiftyOne imports (it is pure and fast)
and lets the pull write labels by id with bulk MongoDB operations.

Geometry (Tator coordinates are normalized, origin top-left, as in FiftyOne):

- box  ``x, y, width, height`` ↔ ``Detection.bounding_box [x, y, w, h]``, kept exactly as
  Tator holds it, even past the image edge (crops are clipped later, not the stored box);
- dot  ``x, y`` ↔ ``Keypoint.points [[x, y]]``;
- line ``x, y, u, v`` ↔ ``Polyline.points [[[x, y], [x+u, y+v]]]``, ``closed=False``
  (back: ``u = x2 - x``, exact up to one float rounding);
- poly ``points`` ↔ ``Polyline.points [points]``, ``closed=True``, ``filled=False``.

A dot's score stays an ordinary attribute: ``Keypoint.confidence`` is a per-point list.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from bson import ObjectId

from fiftyone_sync.dataset import attributes as attrs


class MappingError(ValueError):
    """A localization that cannot become a label (unknown dtype, missing geometry)."""


CONFLICT_TAG = "tator:conflict"

LABEL_CLASSES: dict[str, tuple[str, str, str]] = {
    "box": ("Detections", "Detection", "detections"),
    "dot": ("Keypoints", "Keypoint", "keypoints"),
    "line": ("Polylines", "Polyline", "polylines"),
    "poly": ("Polylines", "Polyline", "polylines"),
}
"""Tator dtype → (FiftyOne list class, label class, list key)."""

IDENTITY_FIELDS = ("tator_elemental_id", "tator_version", "tator_id", "tator_mark",
                   "tator_type", "tator_url")


@dataclasses.dataclass(frozen=True)
class AttributeInfo:
    """One Tator attribute of a localization type and the label field that holds it."""

    name: str
    field: str
    dtype: str
    choices: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class TypeInfo:
    """How one localization type maps to one label field.

    Attributes:
        id: the LocalizationType id.
        name: its Tator name.
        dtype: ``box``, ``dot``, ``line`` or ``poly``.
        field: the dataset's label field for this type.
        class_attribute: the attribute that becomes ``label`` (None: no class).
        score_attribute: the attribute that becomes ``confidence`` (None: no score).
        attributes: every other attribute, with its label field name.
    """

    id: int
    name: str
    dtype: str
    field: str
    class_attribute: str | None
    score_attribute: str | None
    attributes: tuple[AttributeInfo, ...]
    class_dtype: str = "string"
    class_choices: tuple[str, ...] = ()

    @property
    def list_key(self) -> str:
        """The key of the label list inside the field (``detections``...)."""
        return LABEL_CLASSES[self.dtype][2]

    @property
    def list_class(self) -> str:
        """The FiftyOne class of the field (``Detections``...)."""
        return LABEL_CLASSES[self.dtype][0]

    @property
    def label_class(self) -> str:
        """The FiftyOne class of one label (``Detection``...)."""
        return LABEL_CLASSES[self.dtype][1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, kept in the dataset's info for the push."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TypeInfo":
        """The inverse of :meth:`to_dict`."""
        values = dict(data)
        values["attributes"] = tuple(
            AttributeInfo(**{**a, "choices": tuple(a.get("choices") or ())})
            for a in values["attributes"])
        values["class_choices"] = tuple(values.get("class_choices") or ())
        return cls(**values)


def _pick(names: Iterable[str], preferred: Iterable[str]) -> str | None:
    present = list(names)
    return next((name for name in preferred if name in present), None)


def type_info(loc_type: Mapping[str, Any], field: str, class_names: Iterable[str],
              score_names: Iterable[str]) -> TypeInfo:
    """Builds a :class:`TypeInfo` from a Tator ``LocalizationType`` JSON object.

    Args:
        loc_type: the LocalizationType (id, name, dtype, attribute_types).
        field: the label field name chosen for it.
        class_names: candidate class attribute names, most preferred first.
        score_names: candidate score attribute names, most preferred first.

    Raises:
        MappingError: for a dtype the dataset cannot hold.
    """
    dtype = loc_type["dtype"]
    if dtype not in LABEL_CLASSES:
        raise MappingError(f"localization type {loc_type['id']} has unknown dtype {dtype!r}")

    types = {a["name"]: a for a in loc_type.get("attribute_types") or []}
    class_attr = _pick(types, class_names)
    score_attr = None if dtype == "dot" else _pick(
        [n for n, a in types.items() if a.get("dtype") in ("float", "int")], score_names)
    others = [n for n in types if n not in (class_attr, score_attr)]
    names = attrs.field_names(others)
    attributes = tuple(
        AttributeInfo(n, names[n], types[n].get("dtype", "string"),
                      tuple(str(c) for c in types[n].get("choices") or ()))
        for n in others)
    class_type = types.get(class_attr or "", {})
    return TypeInfo(
        id=int(loc_type["id"]), name=str(loc_type["name"]), dtype=dtype, field=field,
        class_attribute=class_attr, score_attribute=score_attr, attributes=attributes,
        class_dtype=class_type.get("dtype", "string"),
        class_choices=tuple(str(c) for c in class_type.get("choices") or ()))


def geometry_to_fiftyone(dtype: str, loc: Mapping[str, Any]) -> dict[str, Any]:
    """The label geometry keys of one localization.

    Raises:
        MappingError: if the geometry the dtype needs is missing.
    """
    try:
        if dtype == "box":
            return {"bounding_box": [float(loc["x"]), float(loc["y"]),
                                     float(loc["width"]), float(loc["height"])]}
        if dtype == "dot":
            return {"points": [[float(loc["x"]), float(loc["y"])]]}
        if dtype == "line":
            x, y = float(loc["x"]), float(loc["y"])
            return {"points": [[[x, y], [x + float(loc["u"]), y + float(loc["v"])]]],
                    "closed": False, "filled": False}
        if dtype == "poly":
            points = [[float(p[0]), float(p[1])] for p in loc["points"]]
            return {"points": [points], "closed": True, "filled": False}
    except (KeyError, TypeError, IndexError) as exc:
        raise MappingError(f"localization {loc.get('id')} ({dtype}) lacks geometry") from exc
    raise MappingError(f"unknown localization dtype {dtype!r}")


def geometry_to_tator(dtype: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Tator geometry fields of one label document (the inverse of the above)."""
    if dtype == "box":
        x, y, w, h = doc["bounding_box"]
        return {"x": x, "y": y, "width": w, "height": h}
    if dtype == "dot":
        x, y = doc["points"][0]
        return {"x": x, "y": y}
    if dtype == "line":
        (x, y), (x2, y2) = doc["points"][0][:2]
        return {"x": x, "y": y, "u": x2 - x, "v": y2 - y}
    if dtype == "poly":
        return {"points": [[p[0], p[1]] for p in doc["points"][0]]}
    raise MappingError(f"unknown localization dtype {dtype!r}")


def is_clipped(dtype: str, loc: Mapping[str, Any]) -> bool:
    """Whether a box reaches past the image (``x + width > 1`` and the like)."""
    if dtype != "box":
        return False
    x, y, w, h = (loc.get(k) for k in ("x", "y", "width", "height"))
    if None in (x, y, w, h):
        return False
    return x < 0 or y < 0 or x + w > 1 or y + h > 1


def label_attributes(info: TypeInfo, values: Mapping[str, Any]) -> tuple[dict[str, Any], list]:
    """Converts a localization's attributes; returns (label keys, [(name, error)] skipped)."""
    out: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    if info.class_attribute is not None:
        raw = values.get(info.class_attribute)
        out["label"] = None if raw is None else str(raw)
    if info.score_attribute is not None:
        raw = values.get(info.score_attribute)
        if raw is not None and not isinstance(raw, bool) and isinstance(raw, (int, float)):
            out["confidence"] = float(raw)

    for attr in info.attributes:
        try:
            value = attrs.to_fiftyone(attr.dtype, values.get(attr.name))
        except attrs.AttributeValueError as exc:
            errors.append((attr.name, str(exc)))
            continue
        if value is not None:
            out[attr.field] = value
    return out, errors


def deep_link(tator_url: str, project: int, media: int, frame: int, version: int,
              elemental_id: str | None = None, type_id: int | None = None) -> str:
    """Tator's annotation view of a media frame, optionally with one element selected."""
    selected = ""
    if elemental_id is not None:
        selected = f"selected_entity={quote(str(elemental_id), safe='')}&selected_type={type_id}&"
    return (f"{tator_url}/{int(project)}/annotation/{int(media)}?{selected}"
            f"version={int(version)}&frame={int(frame)}")


def label_doc(loc: Mapping[str, Any], info: TypeInfo, link: str,
              label_id: ObjectId | None = None) -> tuple[dict[str, Any], list]:
    """The FiftyOne label document of one localization, plus attribute values skipped.

    Args:
        loc: the Localization JSON object.
        info: its type's mapping.
        link: the label's deep link into Tator.
        label_id: the label's id (a new one when None).
    """
    doc: dict[str, Any] = {"_id": label_id or ObjectId(), "_cls": info.label_class,
                           "attributes": {}, "tags": []}
    doc.update(geometry_to_fiftyone(info.dtype, loc))
    values, errors = label_attributes(info, loc.get("attributes") or {})
    doc.update(values)
    doc.update(tator_elemental_id=str(loc["elemental_id"]), tator_version=int(loc["version"]),
               tator_id=int(loc["id"]), tator_mark=int(loc.get("mark") or 0),
               tator_type=int(loc["type"]), tator_url=link)
    return doc, errors


def tator_values(doc: Mapping[str, Any], info: TypeInfo) -> dict[str, Any]:
    """The Tator view of a label document: geometry plus ``attributes`` (nulls left out)."""
    values = geometry_to_tator(info.dtype, doc)
    attributes: dict[str, Any] = {}
    if info.class_attribute is not None and doc.get("label") is not None:
        attributes[info.class_attribute] = _class_value(info, doc["label"])
    if info.score_attribute is not None and doc.get("confidence") is not None:
        attributes[info.score_attribute] = doc["confidence"]
    for attr in info.attributes:
        value = doc.get(attr.field)
        if value is not None:
            attributes[attr.name] = attrs.to_tator(attr.dtype, value)
    values["attributes"] = attributes
    return values


def _class_value(info: TypeInfo, label: str) -> Any:
    if info.class_dtype in ("int", "float"):
        try:
            number = float(label)
        except ValueError:
            return label
        return int(number) if info.class_dtype == "int" and number.is_integer() else number
    return label


def _canonical(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return attrs.format_datetime(value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


_DIGEST_BASE_KEYS = ("label", "confidence", "bounding_box", "points", "closed")
_DIGEST_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
"""One encoder for every digest: ``json.dumps`` with options builds a new one per call."""


def digest_keys(info: TypeInfo) -> list[str]:
    """The label keys whose values the digest covers (what counts as a FiftyOne edit)."""
    return [*_DIGEST_BASE_KEYS, *(a.field for a in info.attributes)]


def digest(doc: Mapping[str, Any], info: TypeInfo) -> str:
    """A digest of a label's synced values (class, score, geometry, attributes; not tags).

    It is computed the same way from the document the pull wrote and from the document
    read back later, so a difference means someone edited the label in FiftyOne.
    """
    payload = {k: _canonical(doc.get(k)) for k in digest_keys(info)}
    text = _DIGEST_ENCODER.encode(payload)
    return hashlib.sha1(text.encode()).hexdigest()


def media_digest(media: Mapping[str, Any]) -> str:
    """A digest of what a sample takes from its media (name, checksum, attributes, size)."""
    payload = {k: media.get(k) for k in ("name", "md5", "attributes", "width", "height",
                                        "num_frames")}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode()).hexdigest()
