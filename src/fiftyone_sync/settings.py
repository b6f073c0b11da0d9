"""The service's settings, read once from the environment and an optional ``.env`` file.

Names fixed by the original contract (``FASTVSS_API_URL``, ``FIFTYONE_DATABASE_*``,
``REDIS_URL``) keep their names; every other setting carries the ``FIFTYONE_SYNC_`` prefix.
The README's settings table documents each one.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from pathlib import Path
from typing import Literal

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
    # Seconds Tator may take to answer one request (read timeout); connecting is bounded
    # by min(5, this). README "Security and reliability".
    tator_timeout: float = Field(60.0, gt=0)
    allowed_database_names: Annotated[list[str], NoDecode] = []
    secret_key: str | None = None
    token_cache_ttl: float = 60.0
    # Largest request body the API accepts (README "Security and reliability").
    max_request_bytes: int = Field(256 * 1024**2, ge=1)
    # The applet (README "The Tator applet"): origins whose pages may call this API
    # (Tator's origin: the applet runs in a srcdoc iframe with it).
    cors_origins: Annotated[list[str], NoDecode] = []

    # Fast-VSS client and the /embed proxy (README "Embeddings").
    fastvss_batch_size: int = Field(32, ge=1)
    fastvss_timeout: float = Field(30.0, gt=0)
    fastvss_poll_interval: float = Field(0.5, gt=0)
    fastvss_idle_timeout: float = Field(120.0, gt=0)
    fastvss_job_deadline: float = Field(1800.0, gt=0)
    fastvss_project_map: Annotated[dict[int, str], NoDecode] = {}
    embed_max_files: int = Field(256, ge=1)
    embed_max_file_bytes: int = Field(20 * 1024**2, ge=1)
    embed_result_ttl: int = Field(3600, ge=1)
    embed_collector_lease: float = Field(60.0, gt=0)
    embed_require_token: bool = False

    # Pull (Tator → FiftyOne).
    listing_page_size: int = 5000
    media_page_size: int = 1000
    media_batch_size: int = 200
    download_concurrency: int = 8
    download_timeout: float = 60.0
    download_retries: int = 4
    media_cache_max_bytes: int = 50 * 1024**3
    class_attribute_names: Annotated[list[str], NoDecode] = [
        "Label", "label", "Class", "class", "Species", "species", "Category", "category"]
    score_attribute_names: Annotated[list[str], NoDecode] = [
        "score", "Score", "Confidence", "confidence", "Probability", "probability"]
    dot_crop_window: float = 0.05
    # Push (FiftyOne → Tator; README "Push").
    push_chunk_size: int = Field(500, ge=1, le=500)
    push_geometry_concurrency: int = Field(4, ge=1, le=32)
    push_delay: float = Field(0.0, ge=0)
    # Embedding job (README "Embeddings"): a dot's crop is a square of dot_crop_window times
    # the image's shorter side; a box's or line's crop is a square around it, its longer side
    # plus embed_crop_margin of it on each side; no crop is under embed_crop_min_size pixels.
    # Labels go to Fast-VSS in chunks of embed_chunk_labels.
    embed_crop_margin: float = Field(0.1, ge=0, le=10)
    embed_crop_min_size: int = Field(32, ge=1, le=4096)
    embed_chunk_labels: int = Field(1024, ge=1)
    embed_map_method: Literal["umap", "pca", "tsne"] = "umap"
    embed_after_pull: bool = True
    # App servers and their access path (README "App servers").
    app_mode: Literal["proxy", "direct"] = "proxy"
    app_start_timeout: float = 30.0
    app_idle_timeout: float = 3600.0
    access_code_ttl: float = 120.0
    access_cookie_ttl: float = 3600.0
    # Renewals of the App access cookie stop this long after the session began (README
    # "Security and reliability"): it bounds App access after a Tator token is revoked.
    access_session_max_age: float = Field(12 * 3600.0, gt=0)
    access_cookie_cross_site: bool = False
    job_queue: str = "fiftyone-sync"
    job_lock_ttl: float = 30.0
    job_lock_wait: float = 1800.0
    job_timeout: int = 6 * 3600
    job_record_ttl: int = 7 * 24 * 3600

    @field_validator("allowed_database_names", "class_attribute_names",
                     "score_attribute_names", "cors_origins", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        """Accepts a comma-separated list in the environment."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Samples record their cached files' paths, which must not depend on the working
        directory of the process that reads them (the App, a worker, a dataset deletion)."""
        return Path(os.path.abspath(value.expanduser()))

    @field_validator("fastvss_project_map", mode="before")
    @classmethod
    def _parse_project_map(cls, value: object) -> object:
        """Accepts JSON (``{"1": "name"}``) or ``1=name,2=name`` in the environment."""
        if not isinstance(value, str):
            return value
        if value.strip().startswith("{"):
            return json.loads(value)
        pairs = (part.split("=", 1) for part in value.split(",") if part.strip())
        return {key.strip(): name.strip() for key, name in pairs}

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
