"""Errors the Tator emulator answers with, shaped like Tator's own error bodies.

Tator maps every exception to one of three JSON shapes: 404 ``{"message"}``, 403
``{"message"}`` with a generic text, and 400 ``{"message", "details"}`` for everything else
(reference tator-api.md section 7). Handlers raise :class:`TatorError` and the app renders it.
"""

from __future__ import annotations

from typing import Any

GENERIC_FORBIDDEN = "You do not have permission to perform this action."


class TatorError(Exception):
    """An answer the emulator gives instead of a success: a status and a JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def bad_request(message: str, details: str = "None") -> TatorError:
    """A 400 with Tator's ``{"message", "details"}`` body (``details`` is ``str(cause)``)."""
    return TatorError(400, {"message": message, "details": details})


def not_found(model: str | None) -> TatorError:
    """A 404 as Django's ``get_object_or_404`` words it; ``None`` gives an empty message."""
    message = "" if model is None else f"No {model} matches the given query."
    return TatorError(404, {"message": message})


def does_not_exist(model: str) -> TatorError:
    """A 404 for an ``ObjectDoesNotExist`` raised inside a handler."""
    return TatorError(404, {"message": f"{model} matching query does not exist."})


def forbidden(message: str = GENERIC_FORBIDDEN) -> TatorError:
    """A 403; permission classes always use the generic message."""
    return TatorError(403, {"message": message})


def not_authenticated() -> TatorError:
    """What an anonymous request gets from a project-scoped endpoint."""
    return bad_request("Authentication credentials were not provided.")
