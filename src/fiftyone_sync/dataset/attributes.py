"""Typed conversion of Tator attribute values to FiftyOne label attributes and back.

Tator keeps attributes as JSON values typed by the localization type's ``attribute_types``
(reference tator-api.md section 3.5). FiftyOne stores them as label fields with a declared
type, so the App can filter them. Each dtype has a pair of small functions, one per direction;
``to_tator(dtype, to_fiftyone(dtype, v)) == v`` for every value Tator can hold (a property test
checks it). A null or missing Tator value maps to ``None`` (the field is left unset).

Names: Tator attribute names may hold spaces or punctuation; :func:`field_names` turns them
into label attribute names that are valid, unique and never shadow a label's own fields.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any


class AttributeValueError(ValueError):
    """A Tator attribute value that does not fit its declared dtype."""


RESERVED_LABEL_FIELDS = frozenset({
    "id", "_id", "_cls", "label", "confidence", "bounding_box", "points", "tags", "attributes",
    "index", "mask", "mask_path", "closed", "filled", "instance",
})
"""Names FiftyOne's label classes already use; attributes never get these names."""

STRING_DTYPES = frozenset({"enum", "string", "blob"})


def parse_datetime(value: str) -> dt.datetime:
    """Parses Tator's ISO-8601 text (``...Z``; naive text is taken as UTC) to an aware UTC time.

    Raises:
        AttributeValueError: if ``value`` is not ISO-8601 text.
    """
    if not isinstance(value, str):
        raise AttributeValueError(f"datetime attribute must be ISO text, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise AttributeValueError(f"not an ISO-8601 datetime: {value!r}") from exc

    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def format_datetime(value: dt.datetime) -> str:
    """Formats a time the way Tator does: UTC, ``Z``, milliseconds, no fraction when zero."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    millis = value.microsecond // 1000
    if millis:
        text += f".{millis:03d}"
    return text + "Z"


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise AttributeValueError(f"bool attribute holds {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise AttributeValueError(f"int attribute holds {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise AttributeValueError(f"int attribute holds {value!r}")


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AttributeValueError(f"float attribute holds {value!r}")
    return float(value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise AttributeValueError(f"text attribute holds {value!r}")


def _to_float_list(value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise AttributeValueError(f"array attribute holds {value!r}")
    return [_to_float(item) for item in value]


def _to_geopos(value: Any) -> list[float]:
    values = _to_float_list(value)
    if len(values) != 2:
        raise AttributeValueError(f"geopos attribute must be [lon, lat], got {value!r}")
    return values


_TO_FIFTYONE: dict[str, Callable[[Any], Any]] = {
    "bool": _to_bool,
    "int": _to_int,
    "float": _to_float,
    "enum": _to_str,
    "string": _to_str,
    "blob": _to_str,
    "datetime": parse_datetime,
    "geopos": _to_geopos,
    "float_array": _to_float_list,
}


def to_fiftyone(dtype: str, value: Any) -> Any:
    """A Tator attribute value as FiftyOne stores it (``None`` stays ``None``).

    Raises:
        AttributeValueError: if the value does not fit ``dtype``.
    """
    if value is None:
        return None
    convert = _TO_FIFTYONE.get(dtype)
    if convert is None:
        return value
    return convert(value)


def to_tator(dtype: str, value: Any) -> Any:
    """A FiftyOne label attribute value as Tator expects it in an update."""
    if value is None:
        return None
    if dtype == "datetime" and isinstance(value, dt.datetime):
        return format_datetime(value)
    if dtype in ("geopos", "float_array"):
        return [float(item) for item in value]
    if dtype == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def fiftyone_field_class(dtype: str) -> tuple[str, str | None]:
    """The FiftyOne field class name (and list subfield) that holds a dtype's values."""
    if dtype == "bool":
        return "BooleanField", None
    if dtype == "int":
        return "IntField", None
    if dtype == "float":
        return "FloatField", None
    if dtype == "datetime":
        return "DateTimeField", None
    if dtype in ("geopos", "float_array"):
        return "ListField", "FloatField"
    return "StringField", None


def sanitize_name(name: str) -> str:
    """A name made of ``[A-Za-z0-9_]`` that does not start with a digit; never empty."""
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", name.strip()).strip("_")
    if not cleaned:
        cleaned = "attr"
    if cleaned[0].isdigit():
        cleaned = f"_{cleaned}"
    return cleaned


def field_names(names: Iterable[str], taken: Iterable[str] = RESERVED_LABEL_FIELDS,
                prefix: str = "attr_") -> dict[str, str]:
    """Maps each Tator name to a unique sanitized FiftyOne name.

    A name that collides with ``taken`` (a label's own fields, or ``tator_*`` identity
    fields) or with an earlier name gets ``prefix`` and, if needed, a numeric suffix.
    """
    used = set(taken)
    result: dict[str, str] = {}
    for name in names:
        candidate = sanitize_name(name)
        if candidate in used or candidate.startswith("tator_"):
            candidate = f"{prefix}{candidate}"
        base, counter = candidate, 2
        while candidate in used:
            candidate = f"{base}_{counter}"
            counter += 1
        used.add(candidate)
        result[name] = candidate
    return result
