"""The embedding job body: Fast-VSS vectors for every label's crop, then the map and index.

The job system runs :func:`embed_body` (kind ``embed``) in a process whose FiftyOne is bound
to the project's database, after each pull (see :mod:`.followup`) and on demand
(``POST /embeddings``, ``fiftyone-sync embed``). The steps:

1. find the labels with no vector, or one made from other geometry (:mod:`.store`);
2. in chunks of whole images (each image decoded once), cut their crops (:mod:`.crops`),
   send them to Fast-VSS keyed by label id, and store the vectors that came back by label id;
3. recompute each field's 2-D map and similarity index if its embedded labels changed
   (:mod:`.visualize`).

Fast-VSS being down, slow or wrong never fails the job: the result says how many labels got
a vector, which were skipped or failed and why, and the next run retries only those. A label
never gets another label's vector, a zero vector or a NaN (the client refuses them).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import enum
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import fiftyone as fo

from fiftyone_sync import naming
from fiftyone_sync.embeddings import store
from fiftyone_sync.embeddings.crops import CropRule, ImageCrops, cut_image_crops
from fiftyone_sync.embeddings.fastvss import (
    EmbedOutcome,
    FastVSSClient,
    FastVSSError,
    FastVSSTimeout,
    FastVSSUnavailable,
    fastvss_project,
)
from fiftyone_sync.embeddings.store import LabelField, LabelToEmbed
from fiftyone_sync.embeddings.visualize import MapOutcome, refresh_map
from fiftyone_sync.jobs.context import JobContext

logger = logging.getLogger(__name__)

MAX_REASONS = 20
"""The most distinct reasons a result lists per kind (skipped, failed); the rest are summed."""


class EmbedError(RuntimeError):
    """The embedding job cannot run at all (e.g. the dataset does not exist yet)."""


class FastVSSStatus(str, enum.Enum):
    """How Fast-VSS served this run, as the result reports it."""

    OK = "ok"
    PARTIAL = "partial"
    UNAVAILABLE = "unavailable"
    NOT_CONFIGURED = "not_configured"
    NOT_NEEDED = "not_needed"


@dataclasses.dataclass
class EmbedRequest:
    """What to embed.

    Attributes:
        version_id: the Tator version whose dataset is embedded.
        force: re-embed every label, current vectors included.
        fields: only these label fields (None: every box, dot and polyline field).
        recompute_map: recompute maps and indexes even if no embedded label changed.
    """

    version_id: int
    force: bool = False
    fields: list[str] | None = None
    recompute_map: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbedRequest:
        """Builds a request from a job's JSON parameters (unknown keys are an error)."""
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the job record keeps it)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class EmbedResult:
    """What the job did; :meth:`to_dict` is the job's result.

    Attributes:
        dataset: the dataset embedded.
        fastvss: how Fast-VSS served the run.
        fastvss_project: the Fast-VSS project used (None when none is configured).
        labels: labels in the fields looked at.
        current: labels whose vector was already current (not sent).
        embedded: labels that got a new vector.
        skipped: reason → count of labels whose crop could not be cut.
        failed: reason → count of labels Fast-VSS gave no usable vector for.
        stale_cleared: labels whose old vector (of other geometry) was removed, no new one
            having come.
        batches, failed_batches: Fast-VSS jobs sent, and those that failed as a whole.
        maps: the map step's outcome per field.
        duration: seconds.
    """

    dataset: str
    fastvss: FastVSSStatus = FastVSSStatus.NOT_NEEDED
    fastvss_project: str | None = None
    labels: int = 0
    current: int = 0
    embedded: int = 0
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    failed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    stale_cleared: int = 0
    batches: int = 0
    failed_batches: int = 0
    maps: list[MapOutcome] = dataclasses.field(default_factory=list)
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: counts at the top (the job log shows them), reasons below."""
        return {
            "dataset": self.dataset,
            "fastvss": self.fastvss.value,
            "fastvss_project": self.fastvss_project,
            "labels": self.labels,
            "already_embedded": self.current,
            "embedded": self.embedded,
            "skipped": sum(self.skipped.values()),
            "failed": sum(self.failed.values()),
            "stale_cleared": self.stale_cleared,
            "batches": self.batches,
            "failed_batches": self.failed_batches,
            "skipped_reasons": _top_reasons(self.skipped),
            "failed_reasons": _top_reasons(self.failed),
            "maps": {outcome.field: outcome.to_dict() for outcome in self.maps},
            "duration": round(self.duration, 3),
        }


def _top_reasons(counts: collections.Counter) -> dict[str, int]:
    """The most frequent reasons; the others summed under one entry."""
    top = dict(counts.most_common(MAX_REASONS))
    rest = sum(counts.values()) - sum(top.values())
    if rest:
        top[f"{len(counts) - len(top)} other reasons"] = rest
    return top


def embed_body(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """The job system's entry point for kind ``embed`` (``body(ctx, params) -> dict``)."""
    request = EmbedRequest.from_dict({**params, "version_id": ctx.version_id})
    return embed(ctx, request).to_dict()


def embed(ctx: JobContext, request: EmbedRequest | Mapping[str, Any]) -> EmbedResult:
    """Embeds the labels of one dataset that lack a current vector, then refreshes the maps.

    Args:
        ctx: the job's context (project, settings, progress, cancellation).
        request: what to embed.

    Returns:
        The counts and reasons of what was embedded, skipped and failed.

    Raises:
        EmbedError: the dataset does not exist (pull it first).
        fiftyone_sync.jobs.context.JobCancelled: cancelled between batches.
    """
    if not isinstance(request, EmbedRequest):
        request = EmbedRequest.from_dict(request)
    return _EmbedJob(ctx, request).run()


class _EmbedJob:
    """One run of the embedding job on one dataset."""

    def __init__(self, ctx: JobContext, request: EmbedRequest) -> None:
        self.ctx = ctx
        self.request = request
        self.settings = ctx.settings
        self.rule = CropRule.from_settings(ctx.settings)
        self.name = ctx.dataset_name or naming.dataset_name(ctx.project_id, request.version_id)
        self.result = EmbedResult(self.name)
        self.dimension: int | None = None
        self.done = 0
        self.total = 0

    def run(self) -> EmbedResult:
        """Scans, embeds and refreshes the maps; logs the start and the counts at the end."""
        started = time.monotonic()
        logger.info("Embedding job %s on dataset %s started", self.ctx.job_id, self.name)
        if not fo.dataset_exists(self.name):
            raise EmbedError(f"dataset {self.name} does not exist; pull the version first")
        dataset = fo.load_dataset(self.name)

        fields = store.label_fields(dataset, self.request.fields)
        pending = self._scan(dataset, fields)
        if not self.request.force:
            self.dimension = store.stored_dimension(dataset, store.label_fields(dataset))
        if pending:
            self._embed(dataset, pending)
        self._refresh_maps(dataset, fields)

        self.result.duration = time.monotonic() - started
        result = self.result
        logger.info("Embedding job %s on %s finished in %.1f s: %d labels, %d current, "
                    "%d embedded, %d skipped, %d failed (Fast-VSS %s)", self.ctx.job_id,
                    self.name, result.duration, result.labels, result.current, result.embedded,
                    sum(result.skipped.values()), sum(result.failed.values()),
                    result.fastvss.value)
        return result

    def _scan(self, dataset: fo.Dataset, fields: Sequence[LabelField]) -> list[LabelToEmbed]:
        """Declares the vector fields and lists the labels needing a vector."""
        pending: list[LabelToEmbed] = []
        for field in fields:
            store.declare_vector_fields(dataset, field)
            scan = store.scan_field(dataset, field, self.rule, self.request.force)
            self.result.labels += scan.total
            self.result.current += scan.current
            pending.extend(scan.pending)
            logger.info("Field %s: %d labels, %d with a current vector, %d to embed",
                        field.name, scan.total, scan.current, len(scan.pending))
        self.total = len(pending)
        return pending

    def _embed(self, dataset: fo.Dataset, pending: list[LabelToEmbed]) -> None:
        """Sends the pending labels' crops to Fast-VSS chunk by chunk and stores the vectors."""
        project = fastvss_project(self.settings, self.ctx.project_id)
        self.result.fastvss_project = project
        if project is None:
            reason = (f"no Fast-VSS project is configured for Tator project "
                      f"{self.ctx.project_id} (setting fastvss_project_map)")
            logger.warning("Embedding job %s: %s", self.ctx.job_id, reason)
            self._give_up(dataset, pending, reason, FastVSSStatus.NOT_CONFIGURED)
            return

        with FastVSSClient.from_settings(self.settings) as client:
            problem = _unreachable(client)
            if problem is not None:
                self._give_up(dataset, pending, problem, FastVSSStatus.UNAVAILABLE)
                return
            self._embed_chunks(dataset, pending, client, project)

    def _embed_chunks(self, dataset: fo.Dataset, pending: list[LabelToEmbed],
                      client: FastVSSClient, project: str) -> None:
        """The chunk loop; stops early (failing the rest) if Fast-VSS goes away.

        The next chunk's crops are cut in a background thread while Fast-VSS works on the
        current one (Pillow releases the GIL while decoding and encoding), so the job takes
        about the longer of cropping and embedding, not their sum.
        """
        chunks = list(_chunks(pending, self.settings.embed_chunk_labels))
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="crops") as cutter:
            upcoming = cutter.submit(_cut_chunk, chunks[0], self.rule)
            for number, chunk in enumerate(chunks):
                self.ctx.check_cancelled()
                cut = upcoming.result()
                if number + 1 < len(chunks):
                    upcoming = cutter.submit(_cut_chunk, chunks[number + 1], self.rule)
                outcome = self._embed_chunk(dataset, chunk, cut, client, project)
                if outcome.vectors or not outcome.failed_batches:
                    continue
                problem = _unreachable(client)
                if problem is None:
                    continue
                self.result.fastvss = FastVSSStatus.UNAVAILABLE
                rest = [label for later in chunks[number + 1:] for label in later]
                if rest:
                    upcoming.cancel()
                    self._give_up(dataset, rest, problem, FastVSSStatus.UNAVAILABLE)
                break

        result = self.result
        if result.fastvss is FastVSSStatus.UNAVAILABLE and result.embedded:
            result.fastvss = FastVSSStatus.PARTIAL
        elif result.fastvss is not FastVSSStatus.UNAVAILABLE:
            result.fastvss = FastVSSStatus.PARTIAL if result.failed else FastVSSStatus.OK

    def _embed_chunk(self, dataset: fo.Dataset, chunk: list[LabelToEmbed], cut: ImageCrops,
                     client: FastVSSClient, project: str) -> EmbedOutcome:
        """Embeds and stores one chunk of whole images whose crops are cut."""
        self.ctx.progress("cropping", self.done + len(chunk), self.total)
        base = self.done + len(cut.skipped)

        def on_round(outcome: EmbedOutcome) -> None:
            done = base + len(outcome.vectors) + len(outcome.failures)
            self.ctx.progress("embedding", done, self.total)
            self.ctx.check_cancelled()

        outcome = client.embed(project, list(cut.crops.items()), dimension=self.dimension,
                               on_round=on_round)
        self.dimension = self.dimension or outcome.dimension
        self.result.batches += outcome.batches
        self.result.failed_batches += outcome.failed_batches
        self.result.skipped.update(cut.skipped.values())
        self.result.failed.update(outcome.failures.values())
        self._store(dataset, chunk, outcome.vectors)
        self.done += len(chunk)
        return outcome

    def _store(self, dataset: fo.Dataset, chunk: list[LabelToEmbed],
               vectors: Mapping[str, Sequence[float]]) -> None:
        """Writes the chunk's vectors by label id; clears stale vectors left without one."""
        self.ctx.progress("storing", self.done, self.total)
        by_field: dict[LabelField, list[LabelToEmbed]] = collections.defaultdict(list)
        for label in chunk:
            by_field[label.field].append(label)

        for field, labels in by_field.items():
            got = [(label, vectors[label.target.key]) for label in labels
                   if label.target.key in vectors]
            stale = [label for label in labels
                     if label.stale and label.target.key not in vectors]
            store.write_vectors(dataset, field, got)
            store.clear_vectors(dataset, field, stale)
            self.result.embedded += len(got)
            self.result.stale_cleared += len(stale)
        self.ctx.progress("storing", self.done + len(chunk), self.total)

    def _give_up(self, dataset: fo.Dataset, labels: list[LabelToEmbed], reason: str,
                 status: FastVSSStatus) -> None:
        """Fails labels without sending them (Fast-VSS unusable); clears their stale vectors."""
        self.result.fastvss = status
        self.result.failed.update({reason: len(labels)})
        self._store(dataset, labels, {})
        self.done += len(labels)

    def _refresh_maps(self, dataset: fo.Dataset, fields: Sequence[LabelField]) -> None:
        """Recomputes each field's map and similarity index if its embedded labels changed."""
        for number, field in enumerate(fields):
            self.ctx.check_cancelled()
            self.ctx.progress("map", number, len(fields))
            outcome = refresh_map(dataset, field, self.settings.embed_map_method,
                                  force=self.request.recompute_map)
            self.result.maps.append(outcome)
            logger.info("Map of %s: %s (%d labels)", field.name, outcome.status.value,
                        outcome.labels)
        self.ctx.progress("map", len(fields), len(fields))


def _unreachable(client: FastVSSClient) -> str | None:
    """Why Fast-VSS cannot be used right now, or None when it answers."""
    try:
        client.health()
    except (FastVSSUnavailable, FastVSSTimeout) as exc:
        logger.error("Fast-VSS is unavailable: %s", exc)
        return f"Fast-VSS unavailable: {exc}"
    except FastVSSError as exc:
        logger.warning("Fast-VSS answered its health check with an error: %s", exc)
    return None


def _cut_chunk(chunk: list[LabelToEmbed], rule: CropRule) -> ImageCrops:
    """Cuts a chunk's crops, decoding each image once (runs in the cutter thread)."""
    by_image: dict[str, list[LabelToEmbed]] = collections.defaultdict(list)
    for label in chunk:
        by_image[label.filepath].append(label)

    cut = ImageCrops()
    for filepath, labels in by_image.items():
        image = cut_image_crops(filepath, [label.target for label in labels], rule)
        cut.crops.update(image.crops)
        cut.skipped.update(image.skipped)
    for key, reason in cut.skipped.items():
        logger.debug("Label %s not embedded: %s", key, reason)
    return cut


def _chunks(labels: list[LabelToEmbed], size: int) -> Iterator[list[LabelToEmbed]]:
    """Groups labels by image, then yields runs of whole images of at least ``size`` labels."""
    by_image: dict[str, list[LabelToEmbed]] = collections.defaultdict(list)
    for label in labels:
        by_image[label.filepath].append(label)

    chunk: list[LabelToEmbed] = []
    for image_labels in by_image.values():
        chunk.extend(image_labels)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
