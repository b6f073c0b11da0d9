"""The pull job body: one Tator project version into one FiftyOne dataset, incrementally.

The job system calls :func:`pull` in a process whose FiftyOne is already bound to the
project's database. The steps, and what each may change:

1. check access (project, version, the user's permission) → nothing written;
2. list media and localizations completely (or fail) and plan against the sync state,
   making the changed localizations into label documents as they arrive → a temporary spool;
3. download what the cache lacks (images, and video frames via GetFrame) → cache only;
   images download from the start of step 2, and all downloads share one concurrency bound.
   When none of the needed files could be downloaded the pull fails here;
4. write: new samples in batches, label changes by id, removals; then the sync state,
   schemas, views and the dataset's info.

A failure in steps 1–3 leaves the dataset and the sync state untouched. A sync state
written by a newer release of the service is refused in step 1. See DESIGN.md
sections 5–6 and :mod:`.plan` for the rules.

The whole pull holds its project's media cache lock shared (:mod:`.media_lock`), so that a
dataset deletion never removes a cached file this pull has found but not yet referenced.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fiftyone_sync import naming
from fiftyone_sync.dataset import media_lock
from fiftyone_sync.dataset.media_cache import normalise_sized_image
from fiftyone_sync.jobs.context import JobContext
from fiftyone_sync.tator.client import TatorClient, timeouts

logger = logging.getLogger(__name__)

NO_DOWNLOAD_PERMISSION = "View Only"


class PullError(RuntimeError):
    """A pull that cannot proceed; the message says why in words a user understands."""


class PullPermissionError(PullError):
    """The user may not read or download this project's media."""


@dataclasses.dataclass
class PullRequest:
    """What to pull.

    Attributes:
        version_id: the Tator version (its id, not its number).
        media_ids, sections, type_ids: an optional scope; when all are None the scope stored
            with the dataset is reused (``reset_scope`` drops it).
        force: re-read and rewrite every element (local edits are still kept as conflicts).
        class_attribute, score_attribute: override the class/score attribute names; stored
            with the dataset and reused.
    """

    version_id: int
    media_ids: list[int] | None = None
    sections: list[int] | None = None
    type_ids: list[int] | None = None
    force: bool = False
    reset_scope: bool = False
    class_attribute: str | None = None
    score_attribute: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PullRequest":
        """Builds a request from a job's JSON arguments (unknown keys are an error)."""
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the job record keeps it)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class PullResult:
    """What a pull did; :meth:`to_dict` is the job's result."""

    dataset: str
    samples_created: int = 0
    samples_updated: int = 0
    samples_removed: int = 0
    labels_created: int = 0
    labels_updated: int = 0
    labels_unchanged: int = 0
    labels_removed: int = 0
    conflicts: list[str] = dataclasses.field(default_factory=list)
    conflict_count: int = 0
    clipped_boxes: int = 0
    skipped_media: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    invalid_items: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    invalid_count: int = 0
    attribute_errors: int = 0
    states: int | None = None
    downloads: int = 0
    download_bytes: int = 0
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Counts grouped the way the job record shows them."""
        return {
            "dataset": self.dataset,
            "samples": {"created": self.samples_created, "updated": self.samples_updated,
                        "removed": self.samples_removed},
            "labels": {"created": self.labels_created, "updated": self.labels_updated,
                       "unchanged": self.labels_unchanged, "removed": self.labels_removed},
            "conflicts": {"count": self.conflict_count, "elemental_ids": self.conflicts},
            "clipped_boxes": self.clipped_boxes,
            "skipped_media": self.skipped_media,
            "invalid_items": {"count": self.invalid_count, "items": self.invalid_items},
            "attribute_errors": self.attribute_errors,
            "states": self.states,
            "downloads": {"files": self.downloads, "bytes": self.download_bytes},
            "duration": round(self.duration, 3),
        }


@functools.lru_cache(maxsize=4)
def tator_client(host: str, read_timeout: float) -> TatorClient:
    """The process's one Tator client for ``host`` (built lazily, reused by every job).

    Args:
        host: Tator's URL (``FIFTYONE_SYNC_TATOR_URL``).
        read_timeout: seconds Tator may take to answer (``FIFTYONE_SYNC_TATOR_TIMEOUT``).
    """
    return TatorClient(host, timeouts(read_timeout))


def pull(ctx: JobContext, request: PullRequest | Mapping[str, Any]) -> PullResult:
    """Pulls one project version into its dataset (the job body).

    Args:
        ctx: the job's context (project, credential, settings, progress, cancellation).
        request: what to pull.

    Returns:
        the counts of what changed.

    Raises:
        PullError: with a readable reason (permission, unknown version, ...).
        fiftyone_sync.tator.listing.ListingError: when Tator could not be listed completely.
        fiftyone_sync.jobs.context.JobCancelled: when cancelled between steps.
    """
    if not isinstance(request, PullRequest):
        request = PullRequest.from_dict(request)
    # The runner imports FiftyOne, which binds its database on import: load it only here,
    # in the job's process, never in a parent that merely imports this module.
    from fiftyone_sync.dataset.runner import PullRun

    client = tator_client(ctx.settings.tator_url, ctx.settings.tator_timeout)
    with media_lock.held_by_job(ctx, exclusive=False):
        return PullRun(ctx, request, client).run()


def skipped(media: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """One entry of the result's skipped media list."""
    return {"media_id": int(media["id"]), "name": media.get("name"), "reason": reason}


def image_file(media: Mapping[str, Any]) -> str | None:
    """The path of a media's largest image file, or None if Tator lists none."""
    entries = [e for e in ((media.get("media_files") or {}).get("image") or [])
               if e.get("path")]
    if not entries:
        return None
    best = max(entries, key=lambda e: (e.get("resolution") or [0, 0])[0])
    return str(best["path"])


def dataset_name(ctx: JobContext, request: PullRequest) -> str:
    """The dataset of the request's version."""
    return naming.dataset_name(ctx.project_id, request.version_id)


def finish_image(path: Path) -> tuple[Path, tuple[int, int]]:
    """Download hook: normalise a fresh image download into the cache (see media_cache);
    returns the cached image's path and size."""
    return normalise_sized_image(path)
