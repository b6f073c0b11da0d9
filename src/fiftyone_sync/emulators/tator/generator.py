"""Large synthetic Tator projects for benchmarks and pagination tests.

:func:`generate_project` makes N image media (plus optional videos) with M box localizations
each, labels drawn from a class distribution. It stays fast (10,000 media with 100,000
localizations in a few seconds) by sharing a handful of real PNG files between all media
records (each media still has its own object keys, md5 and size of its shared file) and by
inserting localization rows directly instead of validating each one as an API create.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from pathlib import Path

from . import demo, drawing
from .models import Localization, Media, Project, utcnow
from .store import Store

logger = logging.getLogger(__name__)

SHARED_IMAGES = 4
DEFAULT_CLASSES = {"Copepod": 0.5, "Salp": 0.2, "Larvacean": 0.15, "Diatom": 0.1,
                   "Ctenophore": 0.05}


def generate_project(
    media_count: int,
    locs_per_media: int,
    media_dir: Path | str,
    classes: dict[str, float] | None = None,
    videos: int = 0,
    seed: int = 0,
    store: Store | None = None,
    name: str = "Synthetic Project",
) -> tuple[Store, Project]:
    """Adds a synthetic project (with the standard users if the store has none).

    Args:
        media_count: image media to create.
        locs_per_media: boxes per media (on frame 0; spread over frames for videos).
        media_dir: where the few shared image files (and the video) are written.
        classes: Label → relative weight.
        videos: extra video media sharing one generated clip.
        seed: makes the geometry and labels reproducible.
        store: store to extend; a new one by default.
        name: project name.

    Returns:
        The store and the new project (creator alice, bob Can Edit, carol View Only).
    """
    started = time.monotonic()
    classes = classes or DEFAULT_CLASSES
    store = store or Store()
    if not store.users:
        for user in demo.standard_users():
            store.add_user(user["username"], user["token"], password=user["password"])
    project, version, kinds = _scaffold(store, name, list(classes))
    files = _shared_files(Path(media_dir))
    media = [_image_media(store, project, kinds["Images"], i, files) for i in range(media_count)]
    media += [_video_media(store, project, kinds["Videos"], i, Path(media_dir))
              for i in range(videos)]
    _add_boxes(store, project, version, kinds["Boxes"], media, locs_per_media, classes, seed)
    logger.info("generated %d media and %d localizations in %.1f s", len(media),
                len(media) * locs_per_media, time.monotonic() - started)
    return store, project


def _scaffold(store: Store, name: str, labels: list[str]) -> tuple[Project, int, dict]:
    project = store.add_project(name, creator="alice")
    store.add_membership(project.id, "bob", "Can Edit")
    store.add_membership(project.id, "carol", "View Only")
    version = store.add_version(project.id, "Baseline", 0)
    images = store.add_media_type(project.id, "Images", "image")
    videos = store.add_media_type(project.id, "Videos", "video")
    boxes = store.add_localization_type(project.id, "Boxes", "box", [images.id, videos.id],
                                        demo.attribute_types([*labels, "Unknown"]))
    kinds = {"Images": images.id, "Videos": videos.id, "Boxes": boxes.id}
    return project, version.id, kinds


def _shared_files(media_dir: Path) -> list[Path]:
    media_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(SHARED_IMAGES):
        path = media_dir / f"shared_{index}.png"
        drawing.plankton_image(path, seed=1000 + index)
        files.append(path)
    return files


def _image_media(store: Store, project: Project, media_type: int, index: int,
                 files: list[Path]) -> Media:
    return store.add_media(project.id, media_type, f"img_{index:06d}.png",
                           files[index % len(files)])


def _video_media(store: Store, project: Project, media_type: int, index: int,
                 media_dir: Path) -> Media:
    clip = media_dir / demo.VIDEO_NAME
    if not clip.exists():
        drawing.index_video(clip, demo.VIDEO_FRAMES, demo.VIDEO_FPS)
    return store.add_media(project.id, media_type, f"clip_{index:04d}.mp4", clip)


def _add_boxes(store: Store, project: Project, version: int, box_type: int,
               media: list[Media], per_media: int, classes: dict[str, float],
               seed: int) -> None:
    rng = random.Random(seed)
    labels, weights = list(classes), list(classes.values())
    now = utcnow()
    with store.lock:
        for item in media:
            frames = item.num_frames or 1
            chosen = rng.choices(labels, weights, k=per_media)
            for number, label in enumerate(chosen):
                w, h = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
                row = Localization(
                    id=store.next_id("localization"), project=project.id, type=box_type,
                    media=item.id, version=version, frame=number % frames,
                    x=rng.uniform(0, 1 - w), y=rng.uniform(0, 1 - h), width=w, height=h,
                    attributes={"Label": label, "Reviewed": False,
                                "Confidence": round(rng.random(), 3)},
                    elemental_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    mark=0, created_by=1, modified_by=1, user=1, created_datetime=now,
                    modified_datetime=now)
                store.insert_row(row)
