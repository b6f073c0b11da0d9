"""Checks a Tator token and the caller's role in a project, with Tator itself.

Every project endpoint calls :func:`check_project_access` before doing anything. Answers are
cached for ``token_cache_ttl`` seconds (keyed by a hash of the token, never the token), so a
revoked token stops working within that time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time

import requests
from tator.exceptions import ApiException

from fiftyone_sync.tator.client import Credential, TatorClient

logger = logging.getLogger(__name__)

ROLES = ("View Only", "Can Edit", "Can Transfer", "Can Execute", "Full Control")
"""Tator's project roles, weakest first; the project's creator counts as Full Control."""

EDIT = "Can Edit"
VIEW = "View Only"
TRANSFER = "Can Transfer"
FULL_CONTROL = "Full Control"


class AuthError(Exception):
    """The caller may not do this; ``status`` is the HTTP status our API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TatorUnavailable(AuthError):
    """Tator could not be asked (down, timing out, or answering garbage)."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


@dataclasses.dataclass(frozen=True)
class ProjectAccess:
    """Who the caller is in a project, as Tator said."""

    project_id: int
    project_name: str
    role: str

    def allows(self, needed: str) -> bool:
        """Whether the caller's role is at least ``needed``."""
        return _rank(self.role) >= _rank(needed)


def _rank(role: str) -> int:
    if role == "Creator":
        return len(ROLES) - 1
    return ROLES.index(role) if role in ROLES else -1


class AccessChecker:
    """Asks Tator who a token belongs to in a project, and remembers it briefly.

    Args:
        client: the process's Tator client.
        ttl: seconds an answer (good or bad) is reused.
    """

    def __init__(self, client: TatorClient, ttl: float) -> None:
        self._client = client
        self._ttl = ttl
        self._cache: dict[tuple[str, int], tuple[float, ProjectAccess | AuthError]] = {}
        self._lock = threading.Lock()

    def check(self, credential: Credential, project_id: int, needed: str = EDIT) -> ProjectAccess:
        """Returns the caller's access if their role is at least ``needed``.

        Raises:
            AuthError: 401 for a token Tator refuses, 403 for a non-member or a weaker role,
                404 for an unknown project, 503 when Tator cannot be asked.
        """
        answer = self._cached(credential, project_id)
        if answer is None:
            answer = self._ask_tator(credential, project_id)
            if not isinstance(answer, TatorUnavailable):
                with self._lock:
                    key = (_token_key(credential), project_id)
                    self._cache[key] = (time.monotonic() + self._ttl, answer)

        if isinstance(answer, AuthError):
            raise answer
        if not answer.allows(needed):
            raise AuthError(
                403, f"your role in project {project_id} is {answer.role!r}; this needs "
                f"{needed!r} or higher")
        return answer

    def _cached(self, credential: Credential, project_id: int) -> ProjectAccess | AuthError | None:
        with self._lock:
            entry = self._cache.get((_token_key(credential), project_id))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _ask_tator(self, credential: Credential, project_id: int) -> ProjectAccess | AuthError:
        try:
            project = self._client.api(credential).get_project(project_id)
        except ApiException as exc:
            return _auth_error_from(exc, project_id)
        except requests.RequestException as exc:
            logger.warning("Tator did not answer a token check: %s", type(exc).__name__)
            return TatorUnavailable(f"Tator is unreachable ({type(exc).__name__}); try again")

        role = project.get("permission") or ""
        return ProjectAccess(project_id, project.get("name") or "", role)


def _token_key(credential: Credential) -> str:
    return hashlib.sha256(credential.header.encode()).hexdigest()


def _auth_error_from(exc: ApiException, project_id: int) -> AuthError:
    """Maps Tator's answer to a refused check (Tator says 400 for bad tokens)."""
    if exc.status in (400, 401):
        return AuthError(401, "Tator did not accept this token")
    if exc.status == 403:
        return AuthError(403, f"you are not a member of Tator project {project_id}")
    if exc.status == 404:
        return AuthError(404, f"Tator has no project {project_id}")

    logger.warning("Tator answered a token check with HTTP %s", exc.status)
    return TatorUnavailable(f"Tator answered HTTP {exc.status}; try again")
