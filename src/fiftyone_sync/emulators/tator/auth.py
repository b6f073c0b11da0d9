"""Who is calling, and may they: Tator's token authentication and membership permissions.

Tator answers a bad token with a 400 (not a 401), an unknown project with a 404 before any
membership check, a non-member or a too-low role with a generic 403, and an anonymous call to
a project endpoint with a 400 (tator-api.md section 2, tator-real-responses.md section 3).
Where the fixture gives users SSO bearer tokens, ``Bearer`` is accepted and a bad bearer gets
the 401 of Tator's Keycloak middleware; otherwise ``Bearer`` counts as no credentials.
"""

from __future__ import annotations

from .errors import TatorError, bad_request, forbidden, not_authenticated
from .models import PERMISSION_RANKS, Project, User

VIEW, EDIT, TRANSFER, EXECUTE, FULL = 0, 1, 2, 3, 4
"""Minimum permission ranks: GETs, localization writes, DownloadInfo, applets, admin."""

BAD_BEARER = TatorError(
    401, {"error": "Authentication failed", "detail": "Please provide or refresh your token."}
)


class Authenticator:
    """Resolves ``Authorization`` headers against a store's users."""

    def __init__(self, store) -> None:
        self.store = store

    def user_for(self, header: str | None) -> User | None:
        """The calling user, None for an anonymous call, or a :class:`TatorError`."""
        if not header or not header.strip():
            return None
        parts = header.split()
        keyword = parts[0].lower()
        if keyword == "token":
            return self._token_user(parts)
        if keyword == "bearer" and self.store.sso_enabled:
            user = self.store.user_by_bearer(parts[1]) if len(parts) == 2 else None
            if user is None:
                raise BAD_BEARER
            return user
        return None

    def _token_user(self, parts: list[str]) -> User:
        if len(parts) == 1:
            raise bad_request("Invalid token header. No credentials provided.")
        if len(parts) > 2:
            raise bad_request("Invalid token header. Token string should not contain spaces.")
        user = self.store.user_by_token(parts[1])
        if user is None:
            raise bad_request("Invalid token.")
        if not user.is_active:
            raise bad_request("User inactive or deleted.")
        return user


def require(project: Project, user: User | None, rank: int) -> User:
    """Checks that ``user`` is a member of ``project`` with at least ``rank``."""
    if user is None:
        raise not_authenticated()
    label = project.permission_of(user.id)
    if label is None or PERMISSION_RANKS[label] < rank:
        raise forbidden()
    return user
