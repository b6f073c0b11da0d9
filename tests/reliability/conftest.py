"""Fixtures for reliability tests: the security tests' API fixtures, plus a MongoDB and a
Redis of the test's own that it may stop and restart without disturbing other tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fiftyone_sync.settings import Settings
from fiftyone_sync.stores import embedded
from tests.security.conftest import api, sec_settings

__all__ = ["api", "own_stores", "sec_settings"]


@pytest.fixture()
def own_stores(tmp_path: Path) -> Iterator[Settings]:
    """Settings whose ``data_dir`` holds this test's own mongod and Redis (both running).

    Restart them with ``embedded.stop_mongod(s)`` / ``embedded.ensure_mongod(s)`` (same
    for Redis): a restart reuses the previous port when it is free.
    """
    settings = Settings(data_dir=tmp_path / "own-stores")
    embedded.ensure_mongod(settings)
    embedded.ensure_redis(settings)
    yield settings
    embedded.stop_all(settings)
