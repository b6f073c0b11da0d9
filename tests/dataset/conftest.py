"""Fixtures for the pull tests: FiftyOne bound to the session's mongod, job contexts.

FiftyOne reads its database settings when it is first imported, so nothing in this package
imports it at module level: the shared ``fo`` session fixture (tests/fixtures/fiftyone.py)
binds it. Every test works on the standard emulator project and starts from an empty
dataset and sync state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fiftyone_sync.jobs.context import JobContext
from fiftyone_sync.settings import Settings
from fiftyone_sync.tator.client import Credential

DATASET = "tator-p1-v1"
PREFIX = "tator-p1-"
"""Datasets of the emulator's project 1; the only ones these tests create or delete."""



@pytest.fixture
def clean_db(fo: Any) -> Iterator[Any]:
    """No dataset or sync state of project 1 before and after the test."""
    import fiftyone.core.odm as foo

    def wipe() -> None:
        for name in fo.list_datasets():
            if name.startswith(PREFIX):
                fo.delete_dataset(name)
        foo.get_db_conn()["tator_sync_state"].delete_many({"dataset": {"$regex": f"^{PREFIX}"}})

    wipe()
    yield foo.get_db_conn()
    wipe()


@pytest.fixture
def pull_settings(tator_emulator: Any, mongo_uri: str, tmp_path: Path) -> Settings:
    """Settings on the emulator and the session's mongod, media cached in the tmp dir."""
    return Settings(tator_url=tator_emulator.url, database_uri=mongo_uri,
                    data_dir=tmp_path / "data",
                    download_retries=1, listing_page_size=3, media_page_size=2,
                    media_batch_size=2)


@pytest.fixture
def make_ctx(fo: Any, tator_emulator: Any, pull_settings: Settings, clean_db: Any
             ) -> Callable[..., JobContext]:
    """Builds the JobContext of a pull by one of the emulator's users."""

    def build(user: str = "alice", progress: list | None = None) -> JobContext:
        sink = progress if progress is not None else []
        return JobContext(
            job_id=f"test-{uuid.uuid4().hex[:6]}", project_id=1,
            database_name=fo.config.database_name, settings=pull_settings,
            credential=Credential("Token", tator_emulator.tokens[user]),
            report=lambda phase, done, total: sink.append((phase, done, total)))

    return build
