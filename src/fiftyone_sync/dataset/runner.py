"""One pull run, step by step (the body behind :func:`fiftyone_sync.dataset.pull.pull`).

This module imports FiftyOne, so it is only loaded inside the job's process, after the
project's database was bound. Reading order: :meth:`PullRun.run`, then each step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import fiftyone as fo
import fiftyone.core.odm as foo
import requests
from bson import ObjectId
from tator.exceptions import ApiException

from fiftyone_sync.dataset import mapping, schema
from fiftyone_sync.dataset.frames import frame_url, has_video_files
from fiftyone_sync.dataset.media_cache import MediaCache, image_size
from fiftyone_sync.dataset.plan import Planner
from fiftyone_sync.dataset.prepared import LabelMaker
from fiftyone_sync.dataset.pull import (
    NO_DOWNLOAD_PERMISSION,
    PullError,
    PullPermissionError,
    PullRequest,
    PullResult,
    dataset_name,
    finish_image,
    image_file,
    skipped,
)
from fiftyone_sync.dataset.spool import Spool
from fiftyone_sync.dataset.sync_state import SyncState, utcnow
from fiftyone_sync.jobs.context import JobContext
from fiftyone_sync.tator import listing
from fiftyone_sync.tator.client import TatorClient
from fiftyone_sync.tator.downloads import (
    Downloader,
    DownloadFailure,
    DownloadPermissionError,
    DownloadTask,
)

logger = logging.getLogger(__name__)

Key = tuple[int, int]
"""A sample's identity: (media id, frame)."""


class PullRun:
    """The state of one pull while it runs.

    Args:
        ctx: the job context.
        request: what to pull.
        client: the process's Tator client.
    """

    def __init__(self, ctx: JobContext, request: PullRequest, client: TatorClient) -> None:
        self.ctx = ctx
        self.request = request
        self.settings = ctx.settings
        self.project = ctx.project_id
        self.version = int(request.version_id)
        self.name = dataset_name(ctx, request)
        self.client = client
        self.api = client.api(ctx.credential)
        self.result = PullResult(dataset=self.name)
        self.cache = MediaCache(self.settings.media_dir, self.project)
        self.state = SyncState(foo.get_db_conn())
        self.held_media: set[int] = set()
        self.files: dict[Key, str] = {}
        self.sizes: dict[str, tuple[int, int]] = {}
        self.download_failures: list[DownloadFailure] = []
        self._slots = threading.Semaphore(max(1, self.settings.download_concurrency))
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._progress = [0, 0]
        self._listed = {"media": 0, "localizations": 0}

    def run(self) -> PullResult:
        """Runs every step; see the module docstring of :mod:`.pull`.

        Independent reads overlap: the localization listing starts right after the access
        check, the sync state loads while the media are listed, and images download while
        the localizations are planned. Nothing is written before all of them succeeded.
        """
        started = time.monotonic()
        self._timed("access", self._check_access)
        self._load_state()
        pages = listing.Prefetch(listing.iter_localization_pages(
            self.client.api(self.ctx.credential), self.project, self.version,
            self.settings.listing_page_size, media_ids=self.scope.get("media_ids"),
            progress=lambda n: self._listing_progress("localizations", n)))
        try:
            self._prepare()
            with Spool() as spool:
                self._sync(spool, pages)
        finally:
            pages.close()
        self.result.duration = time.monotonic() - started
        logger.info("Pulled %s in %.2f s: %s", self.name, self.result.duration,
                    self.result.to_dict()["labels"])
        return self.result

    def _prepare(self) -> None:
        """Types, media and the sync state's records."""
        with ThreadPoolExecutor(1, "pull-state") as background:
            state = background.submit(self._timed, "sync state", self._load_elements)
            try:
                self._timed("types", self._load_types)
                self._timed("media listing", self._list_media)
            finally:
                wait([state])
            state.result()
        if self.exists and self.state_doc.get("writing"):
            self._repair()

    def _sync(self, spool: Spool, pages: Iterable[list[dict[str, Any]]]) -> None:
        """Plans, downloads (images in the background) and writes."""
        with ThreadPoolExecutor(1, "pull-images") as background:
            images = background.submit(self._timed, "image downloads", self._download_images)
            try:
                self._timed("localization listing", self._list_localizations, spool, pages)
                self._timed("sample plan", self._plan_samples)
                self._timed("frame downloads", self._download, self.tasks, "frames")
            except BaseException:
                self._abort.set()
                wait([images])
                raise
            images.result()
        self._check_downloads()
        self._timed("writes", self._write, spool)

    def _check_downloads(self) -> None:
        """Fails the pull when downloads were needed and not a single one succeeded.

        A few files that fail for good are skipped and listed (their media are held: their
        labels stay as they are). When every transfer failed, Tator's storage is down or too
        slow for ``download_timeout``, and a run that wrote nothing new is a failure.
        """
        if not self.download_failures or self.result.downloads:
            return
        first = self.download_failures[0]
        raise PullError(
            f"no media file could be downloaded from Tator ({len(self.download_failures)} "
            f"downloads failed, e.g. {first.reason}); nothing was written. Check that Tator "
            "serves media files, or raise the download timeout, and pull again")

    def _listing_progress(self, kind: str, count: int) -> None:
        """One ``listing`` progress for media and localizations listed side by side."""
        with self._lock:
            self._listed[kind] = count
            self.ctx.progress("listing", sum(self._listed.values()), None)

    def _timed(self, phase: str, step: Any, *args: Any) -> None:
        started = time.monotonic()
        step(*args)
        logger.info("Pull %s: %s took %.2f s", self.name, phase, time.monotonic() - started)

    # Step 1: access -------------------------------------------------------------------

    def _get(self, what: str, fn: Any, *args: Any) -> dict[str, Any]:
        try:
            return dict(fn(*args))
        except requests.RequestException as exc:
            raise PullError(f"reading {what} failed: Tator did not answer "
                            f"({type(exc).__name__})") from exc
        except ApiException as exc:
            if exc.status == 400 and "token" in str(exc.body).lower():
                raise PullPermissionError(f"Tator rejected the token: {exc.body}") from exc
            if exc.status in (403, 404):
                raise PullError(f"{what} is not visible to this user (Tator answered "
                                f"{exc.status})") from exc
            raise PullError(f"reading {what} failed: Tator answered {exc.status}") from exc

    def _check_access(self) -> None:
        self.project_doc = self._get(f"project {self.project}", self.api.get_project,
                                     self.project)
        self.version_doc = self._get(f"version {self.version}", self.api.get_version,
                                     self.version)
        if int(self.version_doc.get("project") or self.project) != self.project:
            raise PullError(f"version {self.version} belongs to project "
                            f"{self.version_doc.get('project')}, not {self.project}")
        permission = self.project_doc.get("permission")
        if permission == NO_DOWNLOAD_PERMISSION:
            raise PullPermissionError(
                f"your role in project {self.project_doc.get('name')!r} is "
                f"'{permission}': pulling media into FiftyOne needs the 'Can Transfer' "
                "permission (or higher). Ask a project admin to raise your role.")

    # Step 2: state, types, listings ---------------------------------------------------

    def _load_state(self) -> None:
        self.state_doc = self.state.dataset(self.name) or {}
        exists = fo.dataset_exists(self.name)
        if exists and not self.state_doc:
            raise PullError(f"dataset {self.name} exists but has no sync state; delete the "
                            "dataset (or restore its sync state) before pulling again")
        if self.state_doc and not exists:
            logger.warning("Dataset %s was deleted; starting its sync state afresh", self.name)
            self.state.drop(self.name)
            self.state_doc = {}
        self.exists = exists
        self.scope = self._scope()

    def _load_elements(self) -> None:
        """The sync state's records (read while the media are listed)."""
        self.elements = self.state.elements(self.name)
        self.media_state = self.state.media(self.name)

    def _repair(self) -> None:
        """Adopts labels an interrupted pull wrote before it could record them."""
        from fiftyone_sync.dataset.repair import adopt_orphans

        dataset = fo.load_dataset(self.name)
        infos = list(self._stored_types().values())
        adopted = adopt_orphans(dataset._sample_collection, infos, self.elements)
        self.state.write(self.name, adopted)
        self.elements.update({state.elemental_id: state for state in adopted})
        logger.warning("The last pull of %s was interrupted while writing; adopted %d labels "
                       "it had written", self.name, len(adopted))

    def _scope(self) -> dict[str, Any]:
        req = self.request
        given = {"media_ids": req.media_ids, "sections": req.sections,
                 "type_ids": req.type_ids, "class_attribute": req.class_attribute,
                 "score_attribute": req.score_attribute}
        stored = dict(self.state_doc.get("scope") or {})
        if req.reset_scope:
            return given
        return {key: value if value is not None else stored.get(key)
                for key, value in given.items()}

    def _load_types(self) -> None:
        media_types, loc_types = listing.list_types(self.api, self.project)
        self.media_dtypes = {int(t["id"]): t.get("dtype") for t in media_types}
        previous = self._stored_types()
        self.previous_infos = previous
        used = {info.field for info in previous.values()}
        used |= {name for name, *_ in schema._SAMPLE_FIELDS}
        used |= {"id", "filepath", "tags", "metadata", "created_at", "last_modified_at"}
        wanted = set(self.scope.get("type_ids") or []) or None
        self.infos: dict[int, mapping.TypeInfo] = {}
        for loc_type in sorted(loc_types, key=lambda t: int(t["id"])):
            type_id = int(loc_type["id"])
            if wanted is not None and type_id not in wanted:
                continue
            field = previous[type_id].field if type_id in previous else \
                self._new_field(str(loc_type["name"]), used)
            used.add(field)
            self.infos[type_id] = mapping.type_info(
                loc_type, field, self._candidates("class"), self._candidates("score"))

    def _candidates(self, kind: str) -> list[str]:
        chosen = self.scope.get(f"{kind}_attribute")
        names = list(getattr(self.settings, f"{kind}_attribute_names"))
        return [chosen, *names] if chosen else names

    def _stored_types(self) -> dict[int, mapping.TypeInfo]:
        if not fo.dataset_exists(self.name):
            return {}
        info = fo.load_dataset(self.name).info.get("tator") or {}
        return {int(k): mapping.TypeInfo.from_dict(v)
                for k, v in (info.get("types") or {}).items()}

    @staticmethod
    def _new_field(type_name: str, used: set[str]) -> str:
        from fiftyone_sync.dataset.attributes import sanitize_name

        base = sanitize_name(type_name).lower()
        if base in used or base.startswith("_"):
            base = f"tator_{base.strip('_')}"
        field, counter = base, 2
        while field in used:
            field = f"{base}_{counter}"
            counter += 1
        return field

    def _list_media(self) -> None:
        self._listing_progress("media", 0)
        size = self.settings.media_page_size
        if self.scope.get("media_ids"):
            found = listing.list_media_by_id(self.api, self.project, self.scope["media_ids"],
                                             self.settings.media_batch_size)
        elif self.scope.get("sections"):
            found = []
            for section in self.scope["sections"]:
                found += listing.list_media(self.api, self.project, size, section=section)
        else:
            found = listing.list_media(self.api, self.project, size)
        self.media: dict[int, dict[str, Any]] = {}
        for media in found:
            dtype = self.media_dtypes.get(int(media.get("type") or 0))
            if dtype not in ("image", "video"):
                self._skip(media, f"media dtype {dtype!r} is not supported")
                continue
            media["dtype"] = dtype
            self.media[int(media["id"])] = media
        self._listing_progress("media", len(self.media))
        self.ctx.check_cancelled()

    def _skip(self, media: dict[str, Any], reason: str) -> None:
        self.held_media.add(int(media["id"]))
        if len(self.result.skipped_media) < 1000:
            self.result.skipped_media.append(skipped(media, reason))
        logger.warning("Skipping media %s: %s", media.get("id"), reason)

    def _list_localizations(self, spool: Spool, pages: Iterable[list[dict[str, Any]]]
                            ) -> None:
        maker = LabelMaker(self.settings.tator_url, self.project, self.version, self.infos)
        self.planner = Planner(self.media, self.infos, self.elements, maker,
                               self.request.force)
        for page in pages:
            self.planner.add_page(page, spool)
            self.ctx.check_cancelled()
        self.result.attribute_errors += maker.attribute_errors
        self.result.states = listing.count_states(self.api, self.project, self.version)

    # Step 3: samples and downloads ----------------------------------------------------

    def _download_images(self) -> None:
        """Fetches every image the cache lacks; runs while the localizations are listed.

        Every image media gets a sample whatever its localizations, so this needs only the
        media listing. It writes to the cache only; a failed listing stops it (``_abort``).
        """
        tasks = []
        for media_id, media in sorted(self.media.items()):
            if media["dtype"] != "image":
                continue
            if image_file(media) is None:
                self._skip(media, "Tator holds no image file for this media (empty "
                                  "media_files)")
                continue
            found = self.cache.find_image(media_id, media.get("md5"))
            if found is not None:
                self.files[(media_id, 0)] = str(found)
                continue
            tasks.append(DownloadTask(media_id, self.cache.image_download_path(
                media_id, media.get("md5")), path=image_file(media), finish=self._finish_image))
        self._download(tasks, "images")

    def _plan_samples(self) -> None:
        """Which samples exist, which must be created, and which frames must be fetched."""
        self.existing: dict[Key, dict[str, Any]] = {}
        if fo.dataset_exists(self.name):
            dataset = fo.load_dataset(self.name)
            ids, media_ids, frames, paths = dataset.values(
                ["id", "tator_media_id", "frame", "filepath"])
            for sid, mid, frame, path in zip(ids, media_ids, frames, paths, strict=True):
                self.existing[(int(mid), int(frame or 0))] = {"id": ObjectId(sid),
                                                              "filepath": path}
        self.needed = self.planner.frames_needed()
        videos = {key[0] for key in self.needed if self.media[key[0]]["dtype"] == "video"}
        for media_id in sorted(videos):
            if not has_video_files(self.media[media_id]):
                self._skip(self.media[media_id], "Tator holds no video file for this media "
                                                 "(empty media_files), so its frames cannot "
                                                 "be fetched")
        self.tasks: list[DownloadTask] = []
        for key in sorted(self.needed):
            if key[0] not in videos or key[0] in self.held_media:
                continue
            media = self.media[key[0]]
            target = self.cache.frame_path(key[0], media.get("md5"), key[1])
            if target.exists():
                self.files[key] = str(target)
                continue
            self.tasks.append(DownloadTask(key[0], target, url=frame_url(
                self.settings.tator_url, key[0], key[1]), finish=self._note_size))

    def _finish_image(self, path: Path) -> None:
        """Download hook (in a download thread): normalise the image, note its size."""
        final, size = finish_image(path)
        self.sizes[str(final)] = size

    def _note_size(self, path: Path) -> None:
        """Download hook: reads a fresh file's size now, in the download thread, so the
        write step does not open every new file again on the pull's critical path."""
        self.sizes[str(path)] = image_size(path)

    def _download(self, tasks: list[DownloadTask], what: str) -> None:
        """Fetches ``tasks``; the images and the frames share the pull's one bound."""
        api = self.client.api(self.ctx.credential)
        downloader = Downloader(api, self.settings.tator_url, self.ctx.credential,
                                self.project, self.settings.download_concurrency,
                                self.settings.download_timeout, self.settings.download_retries,
                                slots=self._slots)

        def on_done(done: int, total: int) -> None:
            with self._lock:
                self._progress[0] += 1
                self.ctx.progress("downloading", *self._progress)
            if self._abort.is_set():
                raise PullError(f"downloading {what} stopped because the pull failed")
            self.ctx.check_cancelled()

        with self._lock:
            self._progress[1] += len(tasks)
            self.ctx.progress("downloading", *self._progress)
        try:
            report = downloader.run(tasks, on_done)
        except DownloadPermissionError as exc:
            raise PullPermissionError(str(exc)) from exc
        with self._lock:
            self._record_downloads(report)

    def _record_downloads(self, report: Any) -> None:
        self.result.downloads += len(report.done)
        self.result.download_bytes += report.bytes
        self.download_failures += report.failed
        for failure in report.failed:
            if failure.media_id not in self.held_media:
                self._skip(self.media[failure.media_id], f"download failed: {failure.reason}")
        for task in report.done:
            media = self.media[task.media_id]
            if media["dtype"] == "image":
                found = self.cache.find_image(task.media_id, media.get("md5"))
                self.files[(task.media_id, 0)] = str(found)
            else:
                frame = int(task.dest.stem.split("_")[1])
                self.files[(task.media_id, frame)] = str(task.dest)

    # Step 4: writes -------------------------------------------------------------------

    def _write(self, spool: Spool) -> None:
        from fiftyone_sync.dataset.write_step import WriteStep

        WriteStep(self, spool).apply()
        self.cache.touch(self.files.values())
        if self.result.download_bytes:
            self.cache.evict(self.settings.media_cache_max_bytes,
                             keep={Path(p) for p in self.files.values()})

    def sample_fields(self, media: dict[str, Any], frame: int) -> dict[str, Any]:
        """The sample-level fields of one media frame."""
        return {
            "tator_media_id": int(media["id"]),
            "tator_media_name": media.get("name"),
            "tator_media_type": media["dtype"],
            "frame": frame,
            "tator_media_attributes": dict(media.get("attributes") or {}),
            "tator_url": mapping.deep_link(self.settings.tator_url, self.project,
                                           int(media["id"]), frame, self.version),
        }

    def file_fields(self, key: Key) -> dict[str, Any]:
        """``filepath`` and image metadata of a sample whose file is cached."""
        path = self.files[key]
        width, height = self.sizes.get(path) or image_size(Path(path))
        media = self.media[key[0]]
        if media["dtype"] == "image" and (width, height) != (media.get("width"),
                                                             media.get("height")):
            logger.warning("Media %s is %sx%s in Tator but its file is %sx%s", key[0],
                           media.get("width"), media.get("height"), width, height)
        return {"filepath": path,
                "metadata": {"_cls": "ImageMetadata", "width": width, "height": height}}

    def finish_state(self, dataset: fo.Dataset) -> None:
        """Records the dataset document of the sync state after the writes."""
        high_water = dataset.max("last_modified_at") if len(dataset) else None
        self.state.save_dataset(self.name, scope=self.scope, last_pull=utcnow(),
                                high_water=high_water, project=self.project,
                                version=self.version, writing=False)
