"""The service's settings, read once from the environment and an optional ``.env`` file.

Names fixed by the original contract (``FASTVSS_API_URL``, ``FIFTYONE_DATABASE_*``,
``REDIS_URL``) keep their names; every other setting carries the ``FIFTYONE_SYNC_`` prefix.
The README's settings table documents each one.
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

PREFIX = "FIFTYONE_SYNC_"


def _contract(name: str) -> AliasChoices:
    """Accepts a contract name as is, without our prefix."""
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Every knob of the service; one instance per process (see :func:`get_settings`)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="ignore", populate_by_name=True
    )

    # Names fixed by the original contract.
    fastvss_api_url: str = Field("http://localhost:8000", validation_alias=_contract(
        "FASTVSS_API_URL"))
    database_uri: str | None = Field(None, validation_alias=_contract("FIFTYONE_DATABASE_URI"))
    database_default: str = Field(
        "fiftyone_project", validation_alias=_contract("FIFTYONE_DATABASE_DEFAULT"))
    database_name: str | None = Field(None, validation_alias=_contract("FIFTYONE_DATABASE_NAME"))
    redis_url: str | None = Field(None, validation_alias=_contract("REDIS_URL"))

    # Ours.
    data_dir: Path = Path.home() / ".fiftyone-sync"
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    app_base_port: int = 5151
    app_address: str = "127.0.0.1"
    tator_url: str = "http://127.0.0.1:8090"
    allowed_database_names: Annotated[list[str], NoDecode] = []
    secret_key: str | None = None
    token_cache_ttl: float = 60.0

    @field_validator("allowed_database_names", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        """Accepts a comma-separated list in the environment."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("tator_url", "fastvss_api_url", "public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        """tator-py requests ``{host}/schema`` verbatim, so a trailing slash breaks it."""
        return value.rstrip("/")

    @property
    def state_dir(self) -> Path:
        """Where processes of this host record what they started (stores, App servers)."""
        return self.data_dir / "state"

    @property
    def media_dir(self) -> Path:
        """The media cache: downloaded images and extracted video frames."""
        return self.data_dir / "media"

    def resolved_secret_key(self) -> str:
        """The deployment's secret; generated once into the data dir when unset.

        Every API, worker and App host of a deployment must share it, so a multi-host
        deployment sets it explicitly.
        """
        if self.secret_key:
            return self.secret_key

        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            candidate = path.with_suffix(".tmp")
            candidate.write_text(secrets.token_urlsafe(32))
            candidate.chmod(0o600)
            candidate.replace(path)
        return path.read_text().strip()


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
