"""The emulator's object store: media files by object key, and presigned-style URLs to them.

Tator keeps media files in S3-like storage under keys ``{org}/{project}/{media}/{file}`` and
hands out presigned URLs through ``DownloadInfo``. The emulator maps each key to a file on
local disk (many keys may share one file, which keeps large synthetic projects cheap) and
signs URLs with an HMAC so a test can check that a client used the URL it was given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import quote


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """A file behind one object key."""

    path: Path
    size: int
    md5: str


def file_digest(path: Path) -> tuple[int, str]:
    """The size and md5 hex digest of a file."""
    digest = hashlib.md5()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class ObjectStore:
    """Object keys → local files, plus URL signing for the ``/objects/{key}`` route."""

    def __init__(self) -> None:
        self._objects: dict[str, StoredObject] = {}
        self._digests: dict[Path, tuple[int, str]] = {}
        self._secret = secrets.token_bytes(16)
        self._issued: dict[tuple[int, str], str] = {}
        self._lock = threading.Lock()

    def put(self, key: str, path: Path) -> StoredObject:
        """Registers ``path`` under ``key``; the digest of a shared file is computed once."""
        path = Path(path)
        with self._lock:
            if path not in self._digests:
                self._digests[path] = file_digest(path)
            size, md5 = self._digests[path]
            stored = StoredObject(path, size, md5)
            self._objects[key] = stored
        return stored

    def get(self, key: str) -> StoredObject | None:
        """The object behind ``key``, or None."""
        return self._objects.get(key)

    def url_for(self, base_url: str, key: str, expiration: int, user_id: int = 0) -> str:
        """A presigned-style URL for ``key``, reused per (user, key) as Tator caches them."""
        with self._lock:
            cached = self._issued.get((user_id, key))
            if cached is not None and int(cached.split("expires=")[1].split("&")[0]) > time.time():
                return base_url + cached
            expires = int(time.time()) + expiration
            path = f"/objects/{quote(key)}?expires={expires}&sig={self.sign(key, expires)}"
            self._issued[(user_id, key)] = path
        return base_url + path

    def sign(self, key: str, expires: int) -> str:
        """The signature the ``/objects`` route expects for ``key`` until ``expires``."""
        message = f"{key}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def verify(self, key: str, expires: str | None, sig: str | None) -> bool:
        """Whether a URL's signature is valid and not expired."""
        if not expires or not sig or not expires.isdigit():
            return False
        if int(expires) < time.time():
            return False
        return hmac.compare_digest(self.sign(key, int(expires)), sig)
