"""One tator-py client per process, shared by every token.

``tator.get_api`` downloads and parses Tator's whole OpenAPI document (about 1 MB) on each
call and sets no timeout on any request. :class:`TatorClient` builds the client once and
hands out cheap per-token views of it, each with its own HTTP session and default timeouts.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import requests
import tator
from tator.openapi.client import OpenAPIClient, _ApiClientShim

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 60.0)
AUTH_SCHEMES = ("Token", "Bearer")


class CredentialError(ValueError):
    """An ``Authorization`` header that is missing or not of a form Tator accepts."""


@dataclasses.dataclass(frozen=True)
class Credential:
    """A Tator token and its scheme (``Token``, or ``Bearer`` where Tator uses SSO)."""

    scheme: str
    token: str = dataclasses.field(repr=False)

    @classmethod
    def from_header(cls, header: str | None) -> "Credential":
        """Parses an ``Authorization`` header value; raises :class:`CredentialError`."""
        if not header or not header.strip():
            raise CredentialError("missing Authorization header (expected 'Token <key>')")

        parts = header.strip().split(None, 1)
        if len(parts) != 2:
            raise CredentialError("Authorization header must be 'Token <key>' or 'Bearer <jwt>'")

        scheme = next((s for s in AUTH_SCHEMES if s.lower() == parts[0].lower()), None)
        token = parts[1].strip()
        if scheme is None or not token or any(c.isspace() for c in token):
            raise CredentialError("Authorization header must be 'Token <key>' or 'Bearer <jwt>'")
        return cls(scheme, token)

    @property
    def header(self) -> str:
        """The ``Authorization`` header value to send to Tator."""
        return f"{self.scheme} {self.token}"


class _TimeoutSession(requests.Session):
    """A session that applies a default timeout to every request tator-py makes."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)


class TatorClient:
    """The process's connection to one Tator server.

    Args:
        host: Tator's base URL, without a trailing slash.
        timeout: ``(connect, read)`` seconds applied to every request.
    """

    constructions = 0
    """How many tator-py clients this process built (the benchmarks report it)."""

    def __init__(self, host: str, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.host = host.rstrip("/")
        self.timeout = timeout
        self._base: OpenAPIClient | None = None
        self._lock = threading.Lock()

    def _base_client(self) -> OpenAPIClient:
        """Downloads Tator's OpenAPI document once and builds the shared client from it."""
        with self._lock:
            if self._base is None:
                self._base = tator.get_api(self.host, token="")
                TatorClient.constructions += 1
                logger.info("Built the Tator client for %s", self.host)
            return self._base

    def api(self, credential: Credential) -> OpenAPIClient:
        """A tator-py API object that acts as ``credential``'s user.

        It shares the parsed OpenAPI document with every other view, so it costs no request.
        """
        base = self._base_client()
        # A shallow copy by hand: copy.copy probes ``__setstate__`` on a bare instance, and
        # OpenAPIClient.__getattr__ then recurses on its missing ``_endpoints``.
        view = object.__new__(type(base))
        view.__dict__.update(base.__dict__)
        view.session = _TimeoutSession(self.timeout)
        view.session.headers["Authorization"] = credential.header
        view._cache = {}
        view.api_client = _ApiClientShim(view)
        return view
