"""Request validation against the emulator's OpenAPI document, with Tator's error texts.

Tator validates every request with openapi-core before its handler runs: query values are
cast and checked (repeated keys keep the last value, arrays are comma-separated, unknown
parameters are ignored, defaults are filled in) and JSON bodies are checked against the
operation's schema. The wording of the 400s copies tator-real-responses.md section 11.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import bad_request
from .schema import Schema, component

BODY_ERROR = "Request body validation error"


class SchemaMismatch(ValueError):
    """A value that does not fit a schema; the text imitates jsonschema's."""


def parse_query(operation: Schema, query: list[tuple[str, str]]) -> dict[str, Any]:
    """Casts the declared query params of ``operation``; raises 400s as Tator words them.

    Args:
        operation: the OpenAPI operation.
        query: the raw ``(key, value)`` pairs in request order.

    Returns:
        Declared parameter name → value, with schema defaults for absent ones.
    """
    raw = dict(query)
    parsed: dict[str, Any] = {}
    for param in operation.get("parameters", []):
        if param["in"] != "query":
            continue
        name, schema = param["name"], param["schema"]
        if name not in raw:
            if param.get("required"):
                raise bad_request(f"Missing required query parameter: {name}")
            if "default" in schema:
                parsed[name] = schema["default"]
            continue
        value = _cast(name, schema, raw[name])
        try:
            check(schema, value)
        except SchemaMismatch as exc:
            raise bad_request(
                f"Invalid query parameter: {name}",
                f"Value {raw[name]} not valid for schema of type {schema['type']}: "
                f"(<ValidationError: {str(exc)!r}>,)",
            ) from exc
        parsed[name] = value
    return parsed


def _cast(name: str, schema: Schema, text: str) -> Any:
    if schema.get("type") == "array":
        return [_cast(name, schema["items"], part) for part in text.split(",") if part != ""]
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            return {"true": True, "false": False, "1": True, "0": False}[text.lower()]
    except (ValueError, KeyError) as exc:
        raise bad_request(f"Query parameter error: {name}",
                          f"Failed to cast value to {kind} type: {text}") from exc
    return text


def parse_body(operation: Schema, raw: bytes, content_type: str) -> Any:
    """Decodes and validates a request body; returns None when there is none and none is due."""
    spec = operation.get("requestBody")
    if spec is None:
        return None
    if not raw:
        if spec.get("required"):
            raise bad_request("Missing required request body")
        return None
    mime = content_type.split(";")[0].strip().lower() or "application/octet-stream"
    if mime != "application/json":
        raise bad_request(BODY_ERROR, f"Content for the following mimetype not found: {mime}. "
                                      "Valid mimetypes: ['application/json']")
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_request(BODY_ERROR, "Failed to deserialize value with application/json "
                                      f"mimetype: {text}") from exc
    schema = spec["content"]["application/json"]["schema"]
    try:
        check(schema, body)
    except SchemaMismatch as exc:
        kind = _resolve(schema).get("type", "any")
        raise bad_request(BODY_ERROR, f"Value {body!r} not valid for schema of type {kind}: "
                                      f"(<ValidationError: {str(exc)!r}>,)") from exc
    return body


def _resolve(schema: Schema) -> Schema:
    if "$ref" in schema:
        return {**component(schema["$ref"].split("/")[-1]),
                **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def check(schema: Schema, value: Any) -> None:
    """Raises :class:`SchemaMismatch` if ``value`` does not fit an OpenAPI 3.0 schema."""
    schema = _resolve(schema)
    if value is None:
        if schema.get("nullable") or not schema:
            return
        raise SchemaMismatch("None is not of type " + repr(schema.get("type", "any")))
    if "oneOf" in schema:
        _check_one_of(schema["oneOf"], value)
        return
    kind = schema.get("type")
    if kind is not None and not _TYPES[kind](value):
        raise SchemaMismatch(f"{value!r} is not of type {kind!r}")
    _check_bounds(schema, value)
    if kind == "array":
        for item in value:
            check(schema.get("items", {}), item)
    if kind == "object":
        _check_object(schema, value)


def _check_one_of(options: list[Schema], value: Any) -> None:
    errors = []
    for option in options:
        try:
            check(option, value)
            return
        except SchemaMismatch as exc:
            errors.append(str(exc))
    raise SchemaMismatch(f"{value!r} is not valid under any of the given schemas: {errors}")


def _check_bounds(schema: Schema, value: Any) -> None:
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaMismatch(f"{value!r} is not one of {schema['enum']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaMismatch(f"{value!r} is less than the minimum of {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaMismatch(f"{value!r} is greater than the maximum of {schema['maximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaMismatch(f"{value!r} is too long")
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise SchemaMismatch(f"{value!r} is too short")


def _check_object(schema: Schema, value: dict[str, Any]) -> None:
    for name in schema.get("required", []):
        if name not in value:
            raise SchemaMismatch(f"{name!r} is a required property")
    for name, sub in schema.get("properties", {}).items():
        if name in value:
            check(sub, value[name])
