"""Benchmark of the embedding job body against the Fast-VSS emulator.

For each size (labels, ``--per-image`` boxes per 640x480 JPEG image) it measures, with a
private ``mongod`` and the emulator served by a child process (so neither's memory counts,
but both share the machine's cores):

- the floor: cutting the same crops alone (each image decoded once, PNG-encoded);
- the embedding job's cold run (crop, send, store; the map step reported apart), with the
  number of Fast-VSS batches and the peak RSS growth of this process while it ran;
- a no-op re-run (every vector current);
- the map step alone, forced: PCA, and UMAP (first call in the process includes numba's
  compilation), each with its similarity index.

The emulator answers at once (``--job-delay 0`` by default): the job's time is ours plus the
emulator's feature computation (a 16x16 thumbnail per crop), not a real ViT's.

Usage: ``.venv/bin/python bench/bench_embed.py --labels 1000 [--labels 10000]``. Writes a
markdown table to stdout and to ``bench/results/embed.md``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from PIL import Image

RESULTS = Path(__file__).parent / "results" / "embed.md"
FASTVSS_PROJECT = "bench"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 60.0) -> None:
    """Waits until something listens on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


class PeakRSS:
    """Samples this process's RSS in a thread; ``growth`` is the peak above the start (MB)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start_rss = self._process.memory_info().rss
        self.peak = self.start_rss
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> float:
        """Peak RSS growth in MB."""
        return (self.peak - self.start_rss) / 1024**2


def timed(step: Callable[[], Any]) -> tuple[Any, float, float]:
    """Runs ``step``; returns its value, seconds and peak RSS growth (MB)."""
    with PeakRSS() as memory:
        started = time.perf_counter()
        value = step()
        seconds = time.perf_counter() - started
    return value, seconds, memory.growth


def write_images(folder: Path, count: int) -> list[Path]:
    """Smooth random 640x480 JPEGs (upscaled noise): crops of them all look different."""
    rng = np.random.default_rng(7)
    paths = []
    for index in range(count):
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        path = folder / f"image_{index:05d}.jpg"
        Image.fromarray(small).resize((640, 480), Image.Resampling.BILINEAR).save(
            path, quality=90)
        paths.append(path)
    return paths


def build_dataset(fo: Any, name: str, paths: list[Path], per_image: int, labels: int) -> Any:
    """One sample per image with ``per_image`` boxes, ``labels`` boxes in all."""
    rng = np.random.default_rng(11)
    samples, left = [], labels
    for path in paths:
        detections = []
        for _ in range(min(per_image, left)):
            x, y = rng.uniform(0, 0.8, 2)
            w, h = rng.uniform(0.05, 0.2, 2)
            detections.append(fo.Detection(
                label="Copepod", bounding_box=[x, y, w, h], tator_elemental_id=str(uuid.uuid4()),
                tator_version=1, tator_id=int(rng.integers(1, 2**31)), tator_mark=0))
        left -= len(detections)
        samples.append(fo.Sample(filepath=str(path), boxes=fo.Detections(detections=detections)))
    dataset = fo.Dataset(name)
    dataset.add_samples(samples, progress=False)
    return dataset


def crop_floor(dataset: Any, settings: Any) -> int:
    """Cuts every box's crop the way the job does, and nothing else; returns the count."""
    from fiftyone_sync.embeddings.crops import (
        CropRule,
        CropTarget,
        GeometryKind,
        cut_image_crops,
    )

    rule = CropRule.from_settings(settings)

    filepaths, ids, boxes = dataset.values(["filepath", "boxes.detections.id",
                                            "boxes.detections.bounding_box"])
    count = 0
    for filepath, label_ids, geometries in zip(filepaths, ids, boxes, strict=True):
        targets = [CropTarget(i, GeometryKind.BOX, g)
                   for i, g in zip(label_ids, geometries, strict=True)]
        count += len(cut_image_crops(filepath, targets, rule).crops)
    return count


def bench_size(fo: Any, settings: Any, labels: int, per_image: int, workdir: Path) -> dict:
    """Every measurement for one size."""
    from fiftyone_sync.embeddings.job import EmbedRequest, embed
    from fiftyone_sync.embeddings.store import label_fields
    from fiftyone_sync.embeddings.visualize import refresh_map
    from fiftyone_sync.jobs.context import JobContext
    from fiftyone_sync.tator.client import Credential

    folder = workdir / f"images_{labels}"
    folder.mkdir()
    paths = write_images(folder, -(-labels // per_image))
    dataset = build_dataset(fo, f"bench-{labels}-{uuid.uuid4().hex[:6]}", paths, per_image,
                            labels)
    ctx = JobContext(job_id="bench", project_id=1, database_name="bench", settings=settings,
                     credential=Credential("Token", "bench"), version_id=1,
                     dataset_name=dataset.name)

    cropped, crop_s, crop_mb = timed(lambda: crop_floor(dataset, settings))
    result, job_s, job_mb = timed(lambda: embed(ctx, EmbedRequest(version_id=1)))
    assert result.embedded == labels == cropped, result.to_dict()
    again, noop_s, _ = timed(lambda: embed(ctx, EmbedRequest(version_id=1)))
    assert again.embedded == 0

    field = label_fields(dataset)[0]
    pca, pca_s, _ = timed(lambda: refresh_map(dataset, field, "pca", force=True))
    umap, umap_s, umap_mb = timed(lambda: refresh_map(dataset, field, "umap", force=True))
    map_in_job = sum(outcome.seconds for outcome in result.maps)
    row = {
        "labels": labels, "images": len(paths), "crop_floor_s": crop_s, "crop_floor_mb": crop_mb,
        "job_s": job_s, "job_without_map_s": job_s - map_in_job, "job_mb": job_mb,
        "map_in_job": f"{result.maps[0].method} {map_in_job:.2f}",
        "batches": result.batches, "failed_batches": result.failed_batches,
        "noop_s": noop_s, "pca_s": pca_s, "umap_s": umap_s, "umap_mb": umap_mb,
        "methods": f"{pca.method}/{umap.method}",
    }
    fo.delete_dataset(dataset.name)
    return row


COLUMNS = [
    ("labels", "labels", "{}"), ("images", "images", "{}"),
    ("crop_floor_s", "crops alone (s)", "{:.2f}"), ("crop_floor_mb", "crops alone +MB", "{:.0f}"),
    ("job_s", "job cold (s)", "{:.2f}"), ("job_without_map_s", "job w/o map (s)", "{:.2f}"),
    ("job_mb", "job +MB", "{:.0f}"), ("map_in_job", "map in job (s)", "{}"),
    ("batches", "batches", "{}"), ("failed_batches", "failed", "{}"),
    ("noop_s", "no-op re-run (s)", "{:.2f}"), ("pca_s", "map+index PCA (s)", "{:.2f}"),
    ("umap_s", "map+index UMAP (s)", "{:.2f}"), ("umap_mb", "UMAP +MB", "{:.0f}"),
]


def table(rows: list[dict]) -> str:
    """The markdown table of the results."""
    lines = ["| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(fmt.format(row[key]) for key, _, fmt in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    """Starts the stores and the emulator, runs every size, writes the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=int, action="append")
    parser.add_argument("--per-image", type=int, default=5)
    parser.add_argument("--job-delay", type=float, default=0.0)
    args = parser.parse_args()
    sizes = args.labels or [10_000]

    from fiftyone_sync.settings import Settings
    from fiftyone_sync.stores import embedded

    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        workdir = Path(tmp)
        store_settings = Settings(data_dir=workdir / "stores")
        mongo = embedded.ensure_mongod(store_settings)
        port = free_port()
        emulator = subprocess.Popen(
            [str(Path(sys.executable).with_name("fiftyone-sync")), "emulate", "fastvss",
             "--port", str(port), "--projects", FASTVSS_PROJECT,
             "--job-delay", str(args.job_delay)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            os.environ.update({"FIFTYONE_DATABASE_URI": mongo, "FIFTYONE_DO_NOT_TRACK": "true",
                               "FIFTYONE_DATABASE_NAME": f"bench_{uuid.uuid4().hex[:6]}",
                               "FIFTYONE_DATABASE_VALIDATION": "false"})
            import fiftyone as fo

            settings = Settings(data_dir=workdir / "data",
                                fastvss_api_url=f"http://127.0.0.1:{port}",
                                fastvss_project_map={1: FASTVSS_PROJECT},
                                fastvss_poll_interval=0.05, embed_map_method="pca")
            rows = [bench_size(fo, settings, size, args.per_image, workdir) for size in sizes]
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
            embedded.stop_mongod(store_settings)

    header = (f"Embedding job, {args.per_image} boxes per 640x480 JPEG, Fast-VSS emulator "
              f"(job delay {args.job_delay:g} s, batch 32, 4 jobs in flight), "
              f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end), "
              f"{time.strftime('%Y-%m-%d')}. The UMAP time of the first size includes numba's "
              f"compilation.\n\n")
    text = header + table(rows) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
