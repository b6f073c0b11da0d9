"""Whose Tator identity a plugin operator call carries, inside the App server.

The App server has no authentication, so the plugin trusts only what the access proxy adds
to each ``/operators/*`` call: a grant (``params["tator_access"]``) for the cookie's
subject and project, signed with the plugin key (``auth.access.plugin_secret``) that the
App manager passes as ``FIFTYONE_SYNC_PLUGIN_KEY``. A call without a valid grant (for
example straight to the App's port) is refused.

The grant names the reviewer (a fingerprint of the token that opened the App) but holds no
token, so the reviewer types their Tator token once per App session (``tator_token``). It
is accepted only if its fingerprint is the grant's subject (the same token that launched
the App), then kept in this process's memory, keyed by (subject, session start), and sent
only to our API in an ``Authorization`` header. Nothing is written to disk or logged.

Known gap: the token must be typed once per App session because ``/launch`` does not yet
hand it to the proxy; storing it encrypted with the one-time code (``auth.secrets``) would
remove that step.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

from fiftyone_sync.auth.access import (
    PLUGIN_GRANT_PARAM,
    AccessDenied,
    AccessGrant,
    read_cookie,
    subject_of,
)
from fiftyone_sync.tator.client import Credential, CredentialError

TOKEN_PARAM = "tator_token"
KEY_ENV = "FIFTYONE_SYNC_PLUGIN_KEY"
PROJECT_ENV = "FIFTYONE_SYNC_PROJECT_ID"
API_URL_ENV = "FIFTYONE_SYNC_API_URL"


class IdentityError(Exception):
    """The call does not carry the reviewer's identity; the message says what to do."""


class TokenNeeded(IdentityError):
    """The grant is valid but this App session has no Tator token yet."""


@dataclasses.dataclass(frozen=True)
class Reviewer:
    """The reviewer an operator acts for.

    Attributes:
        credential: their Tator credential (sent only to our API).
        project_id: the project of the App (and of the grant).
    """

    credential: Credential
    project_id: int


def app_project() -> int:
    """The project this App server belongs to (set by the App manager).

    Raises:
        IdentityError: the App was not started by the App manager.
    """
    value = os.environ.get(PROJECT_ENV, "")
    if not value.isdigit():
        raise IdentityError("this App was not started by FiftyOne Sync; open it from Tator")
    return int(value)


def api_url() -> str:
    """Our API's base URL as the App server reaches it."""
    value = os.environ.get(API_URL_ENV, "").rstrip("/")
    if not value:
        raise IdentityError("this App was not started by FiftyOne Sync; open it from Tator")
    return value


class TokenCache:
    """Tokens typed in this App server, per App session (subject and session start)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, float], tuple[Credential, float]] = {}
        self._lock = threading.Lock()

    def put(self, grant: AccessGrant, credential: Credential, until: float) -> None:
        """Keeps ``credential`` for the grant's session until ``until`` (Unix time)."""
        with self._lock:
            self._entries[(grant.subject, grant.issued_at)] = (credential, until)
            self._drop_expired()

    def get(self, grant: AccessGrant) -> Credential | None:
        """The session's credential, if one was typed and has not expired."""
        with self._lock:
            self._drop_expired()
            entry = self._entries.get((grant.subject, grant.issued_at))
        return None if entry is None else entry[0]

    def _drop_expired(self) -> None:
        now = time.time()
        for key in [key for key, (_, until) in self._entries.items() if until <= now]:
            del self._entries[key]


SESSION_TOKEN_TTL = 12 * 3600.0
"""Seconds a typed token is kept for its App session at most."""

_TOKENS = TokenCache()


def reviewer(params: dict, cache: TokenCache = _TOKENS) -> Reviewer:
    """The reviewer of an operator call, from the proxy's grant and the session's token.

    Args:
        params: the operator's ``ctx.params``.
        cache: where typed tokens are kept (the process's cache by default).

    Raises:
        IdentityError: no valid grant (the call did not come through the access path), or
            a token that is not the one that opened the App.
        TokenNeeded: the grant is fine but no token was typed in this App session yet.
    """
    project = app_project()
    try:
        grant = read_cookie(params.get(PLUGIN_GRANT_PARAM), project, _plugin_key())
    except AccessDenied:
        raise IdentityError("this call does not carry your Tator identity: open the App "
                            "from Tator (through FiftyOne Sync's access link)") from None

    typed = str(params.get(TOKEN_PARAM) or "").strip()
    if typed:
        credential = _credential(typed)
        if subject_of(credential.header) != grant.subject:
            raise IdentityError("this Tator token is not the one that opened this App; "
                                "use your own token")
        cache.put(grant, credential, (grant.issued_at or time.time()) + SESSION_TOKEN_TTL)
        return Reviewer(credential, project)

    cached = cache.get(grant)
    if cached is None:
        raise TokenNeeded("enter your Tator token (once per App session) to act as yourself.")
    return Reviewer(cached, project)


def _credential(typed: str) -> Credential:
    """A credential from what the reviewer typed: ``Token <key>``, ``Bearer <jwt>`` or a key."""
    text = typed if typed.split(None, 1)[0] in ("Token", "Bearer") else f"Token {typed}"
    try:
        return Credential.from_header(text)
    except CredentialError as error:
        raise IdentityError(str(error)) from None


def _plugin_key() -> str:
    """The key that checks the proxy's grants (set by the App manager)."""
    key = os.environ.get(KEY_ENV, "")
    if not key:
        raise IdentityError("this App was not started by FiftyOne Sync; open it from Tator")
    return key
