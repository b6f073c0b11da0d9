"""Logging for every ``fiftyone-sync`` process, with secrets scrubbed from each record.

Code must never log a Tator token, a password or a credentialed MongoDB URI in the first
place. The :class:`RedactingFilter` installed by :func:`configure_logging` is a second line
of defence: it rewrites anything that looks like one before a handler formats the record.
"""

from __future__ import annotations

import logging
import re
import sys

REDACTED = "***"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# scheme://user:password@host -> scheme://user:***@host (any scheme: mongodb, redis, http).
_URI_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)[^@\s/]+(?=@)")
# "Authorization: Token abc", "'Authorization': 'Bearer abc'", "Token abc" and "Bearer abc".
_AUTH_HEADER = re.compile(
    r"(?P<head>authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:token|bearer)\s+)?[^\s'\",}]+",
    re.IGNORECASE,
)
_SCHEME_TOKEN = re.compile(r"(?P<head>\b(?:token|bearer)\s+)[A-Za-z0-9._~+/=-]{8,}",
                           re.IGNORECASE)
# Query-string secrets: ?token=..., &password=..., one-time App access codes (?code=...) and
# presigned-URL signatures (&sig=..., &X-Amz-Signature=...).
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;](?:access_token|token|password|pwd|secret|code|sig|x-amz-signature"
    r"|x-amz-credential)=)[^&\s'\"]+",
    re.IGNORECASE,
)


def redact_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***``; safe to log.

    Args:
        uri: a MongoDB, Redis or HTTP URI, possibly ``scheme://user:password@host/...``.

    Returns:
        The same URI with the password part (and secret query parameters) masked.
    """
    masked = _URI_PASSWORD.sub(lambda m: m.group("head") + REDACTED, uri)
    return _QUERY_SECRET.sub(lambda m: m.group("head") + REDACTED, masked)


def redact_text(text: str) -> str:
    """``text`` with URI passwords, Authorization values and ``Token xxx`` strings masked."""
    text = redact_uri(text)
    text = _AUTH_HEADER.sub(lambda m: m.group("head") + REDACTED, text)
    return _SCHEME_TOKEN.sub(lambda m: m.group("head") + REDACTED, text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message and arguments before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrites ``record`` in place; never drops it."""
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg = redacted
            record.args = None

        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def configure_logging(level: str | int = "INFO") -> None:
    """Sends every logger's records to stderr, redacted, at ``level``.

    Called once at the start of every CLI command. Idempotent: a second call replaces the
    handler it installed instead of adding another (no duplicate lines).

    Args:
        level: a level name (``"DEBUG"``, ``"info"``...) or number.
    """
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown log level {level!r}")

    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_fiftyone_sync", False):
            root.removeHandler(handler)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    handler._fiftyone_sync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)

    # httpx and httpcore log every request's full URL at INFO, and presigned download URLs
    # carry their signature in the query string.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
