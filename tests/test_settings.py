"""Settings come from the environment and a ``.env`` file in the working directory, under the
contract's own names (``FASTVSS_API_URL``, ``FIFTYONE_DATABASE_*``, ``REDIS_URL``) and the
``FIFTYONE_SYNC_`` prefix for everything else (README "Settings")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fiftyone_sync.settings import Settings

CONTRACT_NAMES = ("FASTVSS_API_URL", "FIFTYONE_DATABASE_URI", "FIFTYONE_DATABASE_DEFAULT",
                  "FIFTYONE_DATABASE_NAME", "REDIS_URL")


@pytest.fixture
def clean_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an environment without any setting of ours.

    The test run itself may export ``REDIS_URL`` or ``FIFTYONE_SYNC_*`` variables, and the
    repository may hold a ``.env``; either would leak into what these tests read.
    """
    for name in list(os.environ):
        if name in CONTRACT_NAMES or name.startswith(("FIFTYONE_SYNC_", "FIFTYONE_DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_dotenv_file_in_the_working_directory_is_read(clean_dir: Path) -> None:
    (clean_dir / ".env").write_text(
        "FASTVSS_API_URL=http://fastvss.example:9000/\n"
        "FIFTYONE_DATABASE_URI=mongodb://db.example:27017\n"
        "FIFTYONE_DATABASE_DEFAULT=lab\n"
        "FIFTYONE_DATABASE_NAME=shared\n"
        "REDIS_URL=redis://cache.example:6379/3\n"
        "FIFTYONE_SYNC_EMBED_RESULT_TTL=77\n"
        "FIFTYONE_SYNC_CORS_ORIGINS=https://tator.example.org, https://b.example\n"
    )

    settings = Settings()

    assert settings.fastvss_api_url == "http://fastvss.example:9000"
    assert settings.database_uri == "mongodb://db.example:27017"
    assert settings.database_default == "lab"
    assert settings.database_name == "shared"
    assert settings.redis_url == "redis://cache.example:6379/3"
    assert settings.embed_result_ttl == 77
    assert settings.cors_origins == ["https://tator.example.org", "https://b.example"]


def test_contract_names_and_prefixed_names_are_read_from_the_environment(
    clean_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTVSS_API_URL", "http://gpu-box:8000")
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://u:p@mongo:27017")
    monkeypatch.setenv("FIFTYONE_DATABASE_DEFAULT", "marine")
    monkeypatch.setenv("FIFTYONE_DATABASE_NAME", "everything")
    monkeypatch.setenv("REDIS_URL", "redis://queue:6379/1")
    monkeypatch.setenv("FIFTYONE_SYNC_APP_BASE_PORT", "6000")
    monkeypatch.setenv("FIFTYONE_SYNC_FASTVSS_PROJECT_MAP", "1=plankton,2=fish")

    settings = Settings()

    assert settings.fastvss_api_url == "http://gpu-box:8000"
    assert settings.database_uri == "mongodb://u:p@mongo:27017"
    assert settings.database_default == "marine"
    assert settings.database_name == "everything"
    assert settings.redis_url == "redis://queue:6379/1"
    assert settings.app_base_port == 6000
    assert settings.fastvss_project_map == {1: "plankton", 2: "fish"}


def test_the_environment_wins_over_the_dotenv_file(
    clean_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_dir / ".env").write_text("REDIS_URL=redis://from-file:6379/0\n"
                                    "FIFTYONE_SYNC_API_PORT=9001\n")
    monkeypatch.setenv("REDIS_URL", "redis://from-env:6379/0")
    monkeypatch.setenv("FIFTYONE_SYNC_API_PORT", "9002")

    settings = Settings()

    assert settings.redis_url == "redis://from-env:6379/0"
    assert settings.api_port == 9002


def test_our_settings_without_the_prefix_are_ignored(
    clean_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the contract's names go unprefixed: a stray ``API_PORT`` must not move the API."""
    monkeypatch.setenv("API_PORT", "1234")
    monkeypatch.setenv("EMBED_RESULT_TTL", "5")
    (clean_dir / ".env").write_text("APP_BASE_PORT=7000\n")

    settings = Settings()

    assert settings.api_port == 8080
    assert settings.embed_result_ttl == 3600
    assert settings.app_base_port == 5151
    assert settings.database_uri is None and settings.redis_url is None


def test_a_relative_data_dir_is_made_absolute(clean_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIFTYONE_SYNC_DATA_DIR", "state/here")

    settings = Settings()

    assert settings.data_dir == clean_dir / "state" / "here"
    assert settings.media_dir.is_absolute()
