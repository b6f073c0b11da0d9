"""One tator-py client per process, shared by every token.

``tator.get_api`` downloads and parses Tator's whole OpenAPI document (about 1 MB) on each
call and sets no timeout on any request, not even on that download. :class:`TatorClient`
downloads the document once, itself and with its timeouts, builds tator-py's client from it,
and hands out cheap per-token views of it, each with its own HTTP session and default
timeouts. Token checks use such a view too (:mod:`fiftyone_sync.auth.tator_auth`).
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

CONNECT_TIMEOUT = 5.0
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


def timeouts(read: float) -> tuple[float, float]:
    """``(connect, read)`` seconds for a read timeout (``FIFTYONE_SYNC_TATOR_TIMEOUT``).

    Connecting takes at most 5 s, or the read timeout if that is shorter.
    """
    return min(CONNECT_TIMEOUT, read), read


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
        timeout: ``(connect, read)`` seconds applied to every request, the schema download
            included (see :func:`timeouts`).
    """

    constructions = 0
    """How many tator-py clients this process built (the benchmarks report it)."""

    def __init__(self, host: str, timeout: tuple[float, float] = timeouts(60.0)) -> None:
        self.host = host.rstrip("/")
        self.timeout = timeout
        self._base: OpenAPIClient | None = None
        self._lock = threading.Lock()

    def _base_client(self) -> OpenAPIClient:
        """Downloads Tator's OpenAPI document once and builds the shared client from it."""
        with self._lock:
            if self._base is None:
                self._base = self._build()
                TatorClient.constructions += 1
                logger.info("Built the Tator client for %s", self.host)
            return self._base

    def _build(self) -> OpenAPIClient:
        """What ``tator.get_api(host)`` builds, but with the schema fetched under a timeout.

        tator-py fetches ``/schema`` with a bare ``requests.get``: a Tator that accepts the
        connection and never answers would hang the process. This reproduces
        ``OpenAPIClient.__init__`` (tator-py 1.x) around a response fetched with our session.
        """
        url = f"{self.host}/schema"
        session = _TimeoutSession(self.timeout)
        response = session.get(url)
        response.raise_for_status()

        client = object.__new__(OpenAPIClient)
        client._load_schema(url, response)
        client.base_url = self.host
        client.session = session
        client._cache = {}
        client._debug = False
        client.api_client = _ApiClientShim(client)
        tator.models._set_factory(client._factory)
        return client

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
