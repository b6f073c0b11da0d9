"""Encrypts the Tator credential a job carries from the API to a worker.

A queued job needs its user's Tator token, and the queue lives in Redis, which is not a
place for secrets. The API encrypts the credential with a key derived from the
deployment's secret key (``Settings.resolved_secret_key``); a worker of the same deployment
decrypts it just before the job body runs. Fernet authenticates what it encrypts, so a
tampered or foreign value is refused, and it stamps the time, so an old one expires.
"""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fiftyone_sync.tator.client import Credential

_KEY_PURPOSE = b"fiftyone-sync: Tator credentials carried by jobs"


class SecretError(Exception):
    """An encrypted credential that cannot be used: tampered, foreign, or expired."""


class CredentialCipher:
    """Encrypts and decrypts :class:`Credential` values with the deployment's secret.

    Args:
        secret_key: the deployment's secret key (any non-empty string).
        max_age: seconds after which an encrypted credential is refused.
    """

    def __init__(self, secret_key: str, max_age: int) -> None:
        if not secret_key:
            raise SecretError("the secret key is empty")
        self._fernet = Fernet(_derive_key(secret_key))
        self._max_age = max_age

    def encrypt(self, credential: Credential) -> str:
        """The credential as an opaque, authenticated, time-stamped string."""
        clear = json.dumps({"scheme": credential.scheme, "token": credential.token})
        return self._fernet.encrypt(clear.encode()).decode("ascii")

    def decrypt(self, sealed: str) -> Credential:
        """The credential :meth:`encrypt` sealed.

        Raises:
            SecretError: when the value was not made with this key, was altered, or is
                older than ``max_age`` (the job waited too long; queue it again).
        """
        try:
            clear = self._fernet.decrypt(sealed.encode("ascii"), ttl=self._max_age)
        except (InvalidToken, UnicodeEncodeError):
            raise SecretError(
                "the job's Tator credential cannot be decrypted: it expired (older than "
                f"{self._max_age} s) or another deployment's secret key sealed it") from None

        data = json.loads(clear)
        return Credential(data["scheme"], data["token"])


def _derive_key(secret_key: str) -> bytes:
    """A Fernet key for this one purpose, derived from the secret with HKDF-SHA256."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_PURPOSE)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))
