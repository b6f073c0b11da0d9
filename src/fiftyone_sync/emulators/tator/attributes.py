"""Attribute type checks the way Tator applies them to localization and media attributes.

Tator converts each attribute value against its type before it stores it and rejects bad
values with a 400 whose text the sync may show to users, so the messages copy the wording
recorded from a real server (tator-real-responses.md, "Attribute error messages").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .errors import bad_request

AttributeType = dict[str, Any]


def check_value(attr: AttributeType, value: Any) -> Any:
    """Converts ``value`` for attribute type ``attr`` or raises a 400 :class:`TatorError`.

    Args:
        attr: the attribute type (``name``, ``dtype`` and its constraints).
        value: the value a client sent; ``None`` is stored as null for every dtype.

    Returns:
        The value as Tator stores it.
    """
    if value is None:
        return None
    converter = _CONVERTERS.get(attr["dtype"], _as_is)
    return converter(attr, value)


def jsonb_order(attributes: dict[str, Any]) -> dict[str, Any]:
    """Orders keys as Postgres ``jsonb`` does: shorter keys first, then bytewise."""
    return dict(sorted(attributes.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode())))


def defaults_for(attribute_types: list[AttributeType]) -> dict[str, Any]:
    """The values Tator fills in for attributes a create request leaves out."""
    now = dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    values: dict[str, Any] = {}
    for attr in attribute_types:
        if attr.get("dtype") == "datetime" and attr.get("use_current"):
            values[attr["name"]] = now
        elif "default" in attr:
            values[attr["name"]] = attr["default"]
    return values


def _invalid(attr: AttributeType, value: Any, kind: str) -> Exception:
    return bad_request(f"Invalid attribute value {value} for {kind} attribute {attr['name']}")


def _bounded(attr: AttributeType, number: float, kind: str) -> None:
    name = attr["name"]
    cast = float if kind == "float" else int
    if attr.get("minimum") is not None and number < attr["minimum"]:
        raise bad_request(
            f"{number} is below minimum {cast(attr['minimum'])} for {kind} attribute {name}!"
        )
    if attr.get("maximum") is not None and number > attr["maximum"]:
        raise bad_request(
            f"{number} is above maximum {cast(attr['maximum'])} for {kind} attribute {name}!"
        )


def _to_bool(attr: AttributeType, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _invalid(attr, value, "bool")


def _to_int(attr: AttributeType, value: Any) -> int:
    if isinstance(value, bool):
        raise _invalid(attr, value, "integer")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise _invalid(attr, value, "integer") from exc
    _bounded(attr, number, "int")
    return number


def _to_float(attr: AttributeType, value: Any) -> float:
    if isinstance(value, bool):
        raise _invalid(attr, value, "float")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise _invalid(attr, value, "float") from exc
    _bounded(attr, number, "float")
    return number


def _to_enum(attr: AttributeType, value: Any) -> Any:
    choices = attr.get("choices") or []
    if value not in choices:
        raise bad_request(
            f"Invalid attribute value {value} for enum attribute {attr['name']}. "
            f"Valid choices are: {choices}."
        )
    return value


def _to_string(attr: AttributeType, value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _to_datetime(attr: AttributeType, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(attr, value, "datetime")
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(attr, value, "datetime") from exc
    return value


def _to_geopos(attr: AttributeType, value: Any) -> list[float]:
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )
    if not ok or not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
        raise _invalid(attr, value, "geopos")
    return [float(value[0]), float(value[1])]


def _to_float_array(attr: AttributeType, value: Any) -> list[float]:
    ok = isinstance(value, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    )
    if not ok or (attr.get("size") and len(value) != attr["size"]):
        raise _invalid(attr, value, "float_array")
    return [float(v) for v in value]


def _as_is(attr: AttributeType, value: Any) -> Any:
    return value


_CONVERTERS = {
    "bool": _to_bool,
    "int": _to_int,
    "float": _to_float,
    "enum": _to_enum,
    "string": _to_string,
    "datetime": _to_datetime,
    "geopos": _to_geopos,
    "float_array": _to_float_array,
}
