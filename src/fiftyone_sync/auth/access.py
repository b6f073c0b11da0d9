"""One-time codes and access cookies for the App access path (DESIGN.md section 9).

FiftyOne's App has no authentication, so browsers reach it only through ``/apps/{project}``:

1. ``/launch`` checks the Tator token and role, then issues a **one-time code** for (user,
   project). The code is kept in Redis (as a hash, never the code itself) with a short TTL
   and is deleted atomically when redeemed, so a reused code is refused.
2. Opening ``/apps/{project}/?code=...`` redeems it for an **access cookie**: a short-lived,
   project-scoped value signed with the deployment's secret key (HMAC-SHA256). The cookie
   carries no Tator token.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time

import redis

CODE_KEY_PREFIX = "fiftyone-sync:app-code:"
COOKIE_NAME = "fiftyone_sync_app"
_COOKIE_CONTEXT = b"fiftyone-sync app access v1\x00"
_PLUGIN_CONTEXT = b"fiftyone-sync plugin grants v1\x00"
PLUGIN_GRANT_PARAM = "tator_access"
"""The operator parameter carrying the proxy's grant (any value a caller sent is replaced)."""


class AccessDenied(Exception):
    """A code or cookie that does not grant access; the message says why (no secrets)."""


@dataclasses.dataclass(frozen=True)
class AccessGrant:
    """Who may use a project's App, and until when.

    Attributes:
        subject: the user, as a fingerprint of their token (the token itself is never kept).
        project_id: the project whose App this grants.
        expires_at: Unix time after which the grant is void.
        issued_at: Unix time the one-time code was redeemed. Renewals keep it, so a session
            ends ``access_session_max_age`` after it began however active it is: the
            cookie carries no token, so this bounds how long a revoked Tator user keeps
            App access. 0 for a grant that must not be renewed.
    """

    subject: str
    project_id: int
    expires_at: float
    issued_at: float = 0.0


def subject_of(token_header: str) -> str:
    """A stable, non-reversible name for the holder of a Tator token."""
    return hashlib.sha256(token_header.encode()).hexdigest()[:16]


class AccessCodes:
    """Issues and redeems one-time codes kept in Redis.

    Args:
        client: a Redis client of the deployment.
        ttl: seconds a code stays redeemable.
    """

    def __init__(self, client: redis.Redis, ttl: float) -> None:
        self._client = client
        self._ttl = ttl

    def issue(self, subject: str, project_id: int) -> str:
        """A new code for ``subject`` in ``project_id``, valid once within the TTL."""
        code = secrets.token_urlsafe(32)
        payload = json.dumps({"subject": subject, "project_id": project_id})
        self._client.set(_code_key(code), payload, px=max(1, int(self._ttl * 1000)))
        return code

    def redeem(self, code: str, project_id: int) -> str:
        """Consumes ``code`` and returns its subject.

        Raises:
            AccessDenied: the code is unknown, expired, already used, or for another project.
        """
        raw = self._client.getdel(_code_key(code))
        if raw is None:
            raise AccessDenied("this access link is unknown, expired or already used; "
                               "open the App again from Tator")

        payload = json.loads(raw)
        if payload.get("project_id") != project_id:
            raise AccessDenied(f"this access link is not for project {project_id}")
        return str(payload["subject"])


def _code_key(code: str) -> str:
    return CODE_KEY_PREFIX + hashlib.sha256(code.encode()).hexdigest()


def sign_cookie(grant: AccessGrant, secret: str) -> str:
    """The cookie value for ``grant``: ``payload.signature``, both base64url."""
    payload = json.dumps(
        {"s": grant.subject, "p": grant.project_id, "e": round(grant.expires_at, 3),
         "i": round(grant.issued_at, 3)},
        separators=(",", ":"),
    ).encode()
    body = _b64encode(payload)
    return f"{body}.{_b64encode(_signature(body, secret))}"


def read_cookie(value: str | None, project_id: int, secret: str,
                now: float | None = None) -> AccessGrant:
    """The grant in a cookie value, if it is authentic, unexpired and for ``project_id``.

    Raises:
        AccessDenied: the cookie is missing, forged, expired or for another project.
    """
    if not value:
        raise AccessDenied("no App access cookie; open the App from Tator")

    grant = _verified_grant(value, secret)
    if grant is None:
        raise AccessDenied("the App access cookie is not valid; open the App from Tator")

    if grant.project_id != project_id:
        raise AccessDenied(f"the App access cookie is not for project {project_id}")
    if grant.expires_at <= (time.time() if now is None else now):
        raise AccessDenied("the App access cookie has expired; open the App from Tator again")
    return grant


def _verified_grant(value: str, secret: str) -> AccessGrant | None:
    """The grant in ``value`` if its signature is ours, else ``None``."""
    body, _, signature = value.partition(".")
    try:
        if not hmac.compare_digest(_b64decode(signature), _signature(body, secret)):
            return None
        payload = json.loads(_b64decode(body))
        return AccessGrant(str(payload["s"]), int(payload["p"]), float(payload["e"]),
                           float(payload.get("i", 0.0)))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def plugin_secret(secret: str) -> str:
    """The key that signs the grants the proxy hands to the App's Tator plugin.

    The proxy adds a grant (``sign_cookie`` with this key) to every ``/operators/*`` call
    as ``params[PLUGIN_GRANT_PARAM]``; the plugin checks it with :func:`read_cookie`. The
    key is derived from the deployment's secret, so the App server, which holds it, cannot
    sign access cookies.
    """
    return hmac.new(secret.encode(), _PLUGIN_CONTEXT, hashlib.sha256).hexdigest()


def _signature(body: str, secret: str) -> bytes:
    return hmac.new(secret.encode(), _COOKIE_CONTEXT + body.encode(), hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
