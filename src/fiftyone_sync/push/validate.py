"""Checking a label before it goes to Tator: classes, attribute values, geometry.

What the push refuses (an invalid plan item with a reason; Tator is left untouched):

- a class outside the enum choices, including a wrong case (F7: ``copepod`` for
  ``Copepod``; the reason names the choice it resembles);
- an attribute value that does not fit its Tator type (text in an int, a value outside the
  enum choices, ...);
- an empty box (no width or height) or one wholly outside the image.

What it repairs: a box that overshoots an image edge is clamped to the image (F12: a
rounding error of 1e-6, or an App drag that left ``x=-0.003``; x becomes 0 and the width
shrinks by as much). Points of dots, lines and polygons are clamped to [0, 1] likewise.

Attribute values go back with their Tator types. FiftyOne's App save route turns every
string that parses as an ISO date into a ``datetime`` (reference fiftyone.md 2.3), so a
``string``/``enum`` attribute may come back as a ``datetime``: it is turned back into text,
``YYYY-MM-DD`` when it has no time of day, ISO-8601 otherwise. The original spelling of
compact forms (``20240101``) cannot be recovered: they come back as ``2024-01-01``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from fiftyone_sync.dataset import attributes as attrs
from fiftyone_sync.dataset.mapping import TypeInfo, geometry_to_tator


class InvalidLabel(ValueError):
    """A label that cannot be sent to Tator; the message is the plan item's reason."""


@dataclasses.dataclass
class Checked:
    """A label's Tator values after the checks.

    Attributes:
        geometry: the Tator geometry fields (clamped when needed).
        attributes: the Tator attributes (Tator-typed), None values left out.
        nulls: attribute names whose label value is None.
        label_fixes: label keys to write back so the label holds what Tator holds
            (the clamped geometry, attribute text the App turned into a datetime).
        notes: what was repaired, for the plan item.
    """

    geometry: dict[str, Any]
    attributes: dict[str, Any]
    nulls: list[str]
    label_fixes: dict[str, Any]
    notes: list[str]


def check_label(doc: Mapping[str, Any], info: TypeInfo) -> Checked:
    """Validates one label document and converts it to Tator values.

    Raises:
        InvalidLabel: with the reason.
    """
    fixes: dict[str, Any] = {}
    notes: list[str] = []
    geometry = _geometry(doc, info, fixes, notes)
    attributes: dict[str, Any] = {}
    nulls: list[str] = []

    if info.class_attribute is not None:
        label = doc.get("label")
        if label is None:
            nulls.append(info.class_attribute)
        else:
            attributes[info.class_attribute] = _class_value(info, label)
    if info.score_attribute is not None:
        score = doc.get("confidence")
        if score is None:
            nulls.append(info.score_attribute)
        else:
            attributes[info.score_attribute] = _number(score, "float", info.score_attribute)

    for attr in info.attributes:
        value = doc.get(attr.field)
        if value is None:
            nulls.append(attr.name)
            continue
        converted = to_tator_value(attr.name, attr.dtype, attr.choices, value)
        attributes[attr.name] = converted
        if attr.dtype in attrs.STRING_DTYPES and not isinstance(value, str):
            fixes[attr.field] = converted
    return Checked(geometry, attributes, nulls, fixes, notes)


def _class_value(info: TypeInfo, label: Any) -> Any:
    text = date_text(label) if isinstance(label, dt.datetime) else str(label)
    if info.class_dtype == "enum" and info.class_choices:
        return _choice(info.class_attribute or "class", text, info.class_choices)
    if info.class_dtype in ("int", "float"):
        try:
            return _number(float(text), info.class_dtype, info.class_attribute or "class")
        except ValueError as exc:
            raise InvalidLabel(f"class {text!r} is not a number ({info.class_dtype})") from exc
    return text


def _choice(name: str, text: str, choices: tuple[str, ...]) -> str:
    if text in choices:
        return text
    similar = [c for c in choices if c.lower() == text.lower()]
    hint = f" (did you mean {similar[0]!r}? choices are case-sensitive)" if similar else ""
    raise InvalidLabel(f"{name} {text!r} is not one of the choices {list(choices)}{hint}")


def to_tator_value(name: str, dtype: str, choices: tuple[str, ...], value: Any) -> Any:
    """One attribute value in its Tator type.

    Raises:
        InvalidLabel: if the value does not fit the type.
    """
    if dtype in attrs.STRING_DTYPES:
        text = date_text(value) if isinstance(value, dt.datetime) else value
        if not isinstance(text, str):
            raise InvalidLabel(f"attribute {name} ({dtype}) holds {value!r}, not text")
        return _choice(f"attribute {name}", text, choices) if dtype == "enum" and choices \
            else text
    if dtype in ("int", "float"):
        return _number(value, dtype, name)
    if dtype == "bool":
        if not isinstance(value, bool):
            raise InvalidLabel(f"attribute {name} (bool) holds {value!r}")
        return value
    if dtype == "datetime":
        try:
            when = value if isinstance(value, dt.datetime) else attrs.parse_datetime(value)
        except attrs.AttributeValueError as exc:
            raise InvalidLabel(f"attribute {name}: {exc}") from exc
        return attrs.format_datetime(when)
    if dtype in ("geopos", "float_array"):
        try:
            return attrs.to_tator(dtype, attrs.to_fiftyone(dtype, list(value)))
        except (attrs.AttributeValueError, TypeError) as exc:
            raise InvalidLabel(f"attribute {name} ({dtype}): {exc}") from exc
    return value


def _number(value: Any, dtype: str, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidLabel(f"attribute {name} ({dtype}) holds {value!r}, not a number")
    if dtype == "int":
        if float(value).is_integer():
            return int(value)
        raise InvalidLabel(f"attribute {name} (int) holds {value!r}, not a whole number")
    return float(value)


def date_text(value: dt.datetime) -> str:
    """The text a date-looking string had before FiftyOne's App parsed it (best effort)."""
    if value.tzinfo is None and value.time() == dt.time(0, 0):
        return value.date().isoformat()
    return value.isoformat()


def _geometry(doc: Mapping[str, Any], info: TypeInfo, fixes: dict[str, Any],
              notes: list[str]) -> dict[str, Any]:
    try:
        raw = geometry_to_tator(info.dtype, doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidLabel(f"the label has no usable {info.dtype} geometry") from exc
    if info.dtype == "box":
        return _clamp_box(raw, fixes, notes)
    return _clamp_points(info.dtype, raw, doc, fixes, notes)


def _finite(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _clamp_box(box: dict[str, Any], fixes: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    if not _finite(x, y, w, h):
        raise InvalidLabel(f"box [{x}, {y}, {w}, {h}] holds a non-number")
    if w <= 0 or h <= 0:
        raise InvalidLabel(f"empty box (width {w}, height {h})")
    x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(1.0, x + w), min(1.0, y + h)
    if x1 <= x0 or y1 <= y0:
        raise InvalidLabel(f"box [{x}, {y}, {w}, {h}] lies wholly outside the image")
    clamped = {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}
    if (x0, y0, x1, y1) != (x, y, x + w, y + h):
        notes.append(f"box clamped to the image: [{x}, {y}, {w}, {h}] → "
                     f"[{x0}, {y0}, {x1 - x0}, {y1 - y0}]")
        fixes["bounding_box"] = [x0, y0, x1 - x0, y1 - y0]
        return clamped
    return {"x": x, "y": y, "width": w, "height": h}


def _clamp_points(dtype: str, raw: dict[str, Any], doc: Mapping[str, Any],
                  fixes: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    points = [[raw["x"], raw["y"]]] if dtype in ("dot", "line") else raw["points"]
    if not points or not all(_finite(*p[:2]) for p in points):
        raise InvalidLabel(f"{dtype} has no usable points")
    if all(not (0 <= p[0] <= 1 and 0 <= p[1] <= 1) for p in points) and dtype != "line":
        raise InvalidLabel(f"{dtype} lies wholly outside the image")
    clamped = [[min(1.0, max(0.0, p[0])), min(1.0, max(0.0, p[1]))] for p in points]
    if clamped == [[p[0], p[1]] for p in points]:
        return raw
    notes.append(f"{dtype} points clamped to the image")
    if dtype == "dot":
        fixes["points"] = clamped
        return {"x": clamped[0][0], "y": clamped[0][1]}
    if dtype == "poly":
        fixes["points"] = [clamped]
        return {"points": clamped}
    end = doc["points"][0][1]
    fixes["points"] = [[clamped[0], list(end)]]
    return {"x": clamped[0][0], "y": clamped[0][1], "u": end[0] - clamped[0][0],
            "v": end[1] - clamped[0][1]}
