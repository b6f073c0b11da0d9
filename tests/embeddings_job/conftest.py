"""Fixtures for the embedding job tests: FiftyOne bound to the session's mongod, datasets of
real images with Tator-identified labels, settings on the Fast-VSS emulator, job contexts.

FiftyOne reads its database settings when it is first imported, so nothing in this package
imports it at module level: the shared ``fo`` session fixture (tests/fixtures/fiftyone.py)
binds it.
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
from tests.embeddings_job.builders import DatasetSpec, build_dataset


@pytest.fixture
def embed_settings(fastvss_emulator: Any, mongo_uri: str, tmp_path: Path) -> Settings:
    """Settings on the emulator: project 1 served by its first project, fast polling, PCA."""
    return Settings(
        data_dir=tmp_path / "data", database_uri=mongo_uri, fastvss_api_url=fastvss_emulator.url,
        fastvss_project_map={1: fastvss_emulator.project}, fastvss_poll_interval=0.05,
        fastvss_timeout=5.0, fastvss_idle_timeout=5.0, embed_map_method="pca")


@pytest.fixture
def make_dataset(fo: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Builds datasets of real PNG images in the test's tmp dir; deletes them afterwards."""
    made: list[str] = []

    def make(spec: DatasetSpec | None = None) -> Any:
        name = f"embed-{uuid.uuid4().hex[:8]}"
        made.append(name)
        return build_dataset(fo, name, tmp_path / name, spec or DatasetSpec())

    yield make
    for name in made:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


@pytest.fixture
def make_ctx(fo: Any, embed_settings: Settings) -> Callable[..., JobContext]:
    """Builds the JobContext of an embedding job on a dataset (progress kept in a list)."""

    def build(dataset_name: str, settings: Settings | None = None,
              progress: list | None = None) -> JobContext:
        sink = progress if progress is not None else []
        return JobContext(
            job_id=f"test-{uuid.uuid4().hex[:6]}", project_id=1,
            database_name=fo.config.database_name,
            settings=settings or embed_settings, credential=Credential("Token", "t" * 40),
            report=lambda phase, done, total: sink.append((phase, done, total)),
            version_id=1, dataset_name=dataset_name)

    return build


PULLED_PREFIX = "tator-p1-"
"""Datasets the pull makes of the Tator emulator's project 1 (tests/dataset uses them too)."""


@pytest.fixture
def clean_project(fo: Any) -> Iterator[None]:
    """No dataset or sync state of emulator project 1 before and after the test.

    A pull against a sync state left by another test would take every label as unchanged
    and pull nothing, so a test that pulls starts from nothing.
    """
    import fiftyone.core.odm as foo

    def wipe() -> None:
        for name in fo.list_datasets():
            if name.startswith(PULLED_PREFIX):
                fo.delete_dataset(name)
        foo.get_db_conn()["tator_sync_state"].delete_many(
            {"dataset": {"$regex": f"^{PULLED_PREFIX}"}})

    wipe()
    yield
    wipe()
