"""Ready-made Tator projects: the standard test project, a plankton-camera demo, a project
built from a folder of labelled images (``DIR/<label>/<image>``), and the marine-camera demo
(such a folder plus the drawn video).

Everything here returns fixture dicts (:mod:`.fixtures`) so tests can tweak them before
loading. The plankton projects draw their own pictures and video (:mod:`.drawing`), so they
work without any outside data; the folder builders read images in place and never copy them.
The video's localizations are placed on the object as it is drawn on each frame (found in the
decoded frame, :func:`video_object`), so they follow it as it moves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import drawing
from .frames import video_frame
from .mediafiles import IMAGE_MIMES

LABELS = [*drawing.PLANKTON_KINDS, "Unknown"]
VIDEO_NAME = "index_clip.mp4"
VIDEO_FRAMES = 30
VIDEO_FPS = 10.0
VIDEO_LABEL = "Salp"
"""The Label of the video's drawn object."""
VIDEO_BOX_FRAMES = (0, 5, 10)
"""The video frames that carry a box (frame 5 also a dot; in the marine demo, frame 10 also
a line and a polygon)."""
OBJECT_MIN_RED_OVER_BLUE = 60
"""A pixel of the video's object: red exceeds blue by this much (the water is blue-black,
the index text and bars grey, the object orange)."""
BOX_MARGIN_PX = 2
"""Pixels added around the object's outline on each side of a video box."""


class DemoDataError(ValueError):
    """A folder that cannot become a project (missing, or no ``<label>/<image>`` files)."""


def token_for(username: str) -> str:
    """The fixed 40-hex token of a standard fixture user."""
    return hashlib.sha1(f"tator-emulator:{username}".encode()).hexdigest()


def standard_users(sso: bool = False) -> list[dict[str, Any]]:
    """alice, bob, carol, dave and erin (ids 1-5), fixed tokens, password ``<name>-pw``.

    With ``sso``, each also gets a bearer token ``bearer-<name>`` (and a bad bearer is a 401).
    """
    users = []
    for index, name in enumerate(("alice", "bob", "carol", "dave", "erin"), start=1):
        user = {"id": index, "username": name, "token": token_for(name),
                "first_name": name.title(), "last_name": "Tester",
                "email": f"{name}@example.com", "password": f"{name}-pw"}
        if sso:
            user["bearer_tokens"] = [f"bearer-{name}"]
        if name == "alice":
            user["org_admin"] = True
        users.append(user)
    return users


def attribute_types(labels: list[str]) -> list[dict[str, Any]]:
    """Label (enum), Confidence (float 0..1), Reviewed, Count, Notes and Observed."""
    return [
        {"name": "Label", "dtype": "enum", "choices": list(labels), "default": labels[-1],
         "order": 0},
        {"name": "Confidence", "dtype": "float", "minimum": 0, "maximum": 1, "default": 0.0,
         "order": 1},
        {"name": "Reviewed", "dtype": "bool", "default": False, "order": 2},
        {"name": "Count", "dtype": "int", "minimum": 0, "order": 3},
        {"name": "Notes", "dtype": "string", "order": 4},
        {"name": "Observed", "dtype": "datetime", "order": 5},
    ]


def _types(labels: list[str]) -> dict[str, Any]:
    media_attrs = [{"name": "Site", "dtype": "string", "order": 0},
                   {"name": "Depth", "dtype": "float", "minimum": 0, "order": 1}]
    return {
        "media_types": [
            {"id": 1, "name": "Images", "dtype": "image", "attribute_types": media_attrs},
            {"id": 2, "name": "Videos", "dtype": "video", "attribute_types": media_attrs},
        ],
        "localization_types": [
            {"id": n, "name": name, "dtype": dtype, "media_types": ["Images", "Videos"],
             "attribute_types": attribute_types(labels)}
            for n, (name, dtype) in enumerate(
                [("Boxes", "box"), ("Dots", "dot"), ("Lines", "line"), ("Polys", "poly")], 1)
        ],
    }


def plankton_fixture(media_dir: Path | str, images: int = 3, sso: bool = False,
                     sections: bool = False) -> dict[str, Any]:
    """The standard test project ("Test Project", id 1) and a second project (id 2).

    Project 1: alice Creator, bob Can Edit, carol View Only, erin Can Transfer (the lowest
    role allowed to download media); versions Baseline (id 1) and
    Review (id 2); media types Images (1) and Videos (2); localization types Boxes (1),
    Dots (2), Lines (3), Polys (4) with the :func:`attribute_types`; ``images`` plankton
    images with one box per organism, a dot, a line and a poly on the first image; and a
    30-frame 10 fps video whose frames carry their index and a moving object, with boxes
    around the object on frames 0, 5 and 10 and a dot on it on frame 5
    (:func:`video_localizations`); one State (a track, type id 10, not otherwise emulated)
    on the video. With ``sections``, folders Stills (id 1, the images) and Clips (id 2, the
    video); their media then carry ``attributes.tator_user_sections`` as real Tator media
    always do.
    Project 2 ("Other Project"): dave Full Control only, one image and one box.
    Files are drawn into ``media_dir`` once and reused.
    """
    media_dir = Path(media_dir)
    media_dir.mkdir(parents=True, exist_ok=True)
    media, locs = _plankton_media(media_dir, images)
    video = demo_video(media_dir)
    media.append({"id": images + 1, "name": VIDEO_NAME, "type": "Videos", "path": str(video),
                  "attributes": {"Site": "Monterey", "Depth": 200.0}})
    locs += video_localizations(video)
    project = {"id": 1, "name": "Test Project", "summary": "Emulator test project",
               "creator": "alice",
               "members": {"bob": "Can Edit", "carol": "View Only", "erin": "Can Transfer"},
               "versions": [{"id": 1, "name": "Baseline", "number": 0, "description":
                             "Initial version"}, {"id": 2, "name": "Review", "number": 1}],
               **_types(LABELS), "media": media, "localizations": locs,
               "states": [{"media": [VIDEO_NAME], "version": "Baseline", "type": 10,
                           "attributes": {"Label": "Salp"}}]}
    if sections:
        project["sections"] = [
            {"id": 1, "name": "Stills", "media": [m["name"] for m in media[:-1]]},
            {"id": 2, "name": "Clips", "media": [VIDEO_NAME]}]
    return {"organization": 1, "users": standard_users(sso),
            "projects": [project, _other_project(media_dir, images + 2)]}


def _plankton_media(media_dir: Path, images: int) -> tuple[list[dict], list[dict]]:
    media, locs = [], []
    observed = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    for index in range(images):
        name = f"plankton_{index:03d}.png"
        organisms = drawing.plankton_image(media_dir / name, seed=index, count=3)
        media.append({"id": index + 1, "name": name, "type": "Images",
                      "path": str(media_dir / name), "attributes": {"Site": "Monterey"}})
        for number, organism in enumerate(organisms):
            x, y, w, h = organism.box
            locs.append({"media": name, "type": "Boxes", "version": "Baseline",
                         "x": x, "y": y, "width": w, "height": h, "attributes": {
                             "Label": organism.kind, "Confidence": round(0.5 + 0.15 * number, 2),
                             "Count": 1, "Notes": f"drawn {organism.kind.lower()}",
                             "Observed": (observed + dt.timedelta(minutes=index))
                             .isoformat().replace("+00:00", "Z")}})
        if index == 0:
            locs += _first_image_shapes(name, organisms)
    return media, locs


def _first_image_shapes(name: str, organisms: list[drawing.Organism]) -> list[dict]:
    first = organisms[0]
    x, y, w, h = first.box
    return [
        {"media": name, "type": "Dots", "version": "Baseline", "x": x + w / 2, "y": y + h / 2,
         "attributes": {"Label": first.kind, "Confidence": 0.9}},
        {"media": name, "type": "Lines", "version": "Baseline", "x": x, "y": y, "u": w,
         "v": h, "attributes": {"Label": first.kind, "Reviewed": True}},
        {"media": name, "type": "Polys", "version": "Baseline",
         "points": [[round(px, 4), round(py, 4)] for px, py in first.outline[::3]],
         "attributes": {"Label": first.kind}},
    ]


def demo_video(media_dir: Path) -> Path:
    """The drawn video (30 frames at 10 fps, frame i shows i) in ``media_dir``, drawn once."""
    video = Path(media_dir) / VIDEO_NAME
    if not video.exists():
        drawing.index_video(video, VIDEO_FRAMES, VIDEO_FPS)
    return video


def video_object(video: Path, frame: int) -> drawing.Organism:
    """Where the drawn object is on ``frame`` of ``video``, found in the decoded frame.

    Returns:
        Its normalized box (the outline's bounding box plus :data:`BOX_MARGIN_PX` on each
        side, clipped to the frame) and outline, top-left origin, as for drawn images.

    Raises:
        ValueError: the frame shows no object.
    """
    rgb = video_frame(video, frame).astype(np.int16)
    height, width = rgb.shape[:2]
    mask = ((rgb[..., 0] - rgb[..., 2]) > OBJECT_MIN_RED_OVER_BLUE).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        raise ValueError(f"frame {frame} of {video} shows no object")
    outline = max(contours, key=cv2.contourArea)
    left, top, w, h = cv2.boundingRect(outline)
    x0, y0 = max(left - BOX_MARGIN_PX, 0), max(top - BOX_MARGIN_PX, 0)
    x1 = min(left + w + BOX_MARGIN_PX, width)
    y1 = min(top + h + BOX_MARGIN_PX, height)
    points = cv2.approxPolyDP(outline, 1.0, True).reshape(-1, 2)
    return drawing.Organism(
        VIDEO_LABEL, (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height),
        [(round(float(px) / width, 4), round(float(py) / height, 4)) for px, py in points])


def video_localizations(video: Path, shapes: bool = False) -> list[dict]:
    """Boxes on frames 0, 5 and 10 around the drawn object, and a dot on it on frame 5.

    Args:
        video: the drawn video (:func:`demo_video`).
        shapes: also a line along the object and a polygon around it on frame 10.
    """
    locs = []
    for frame in VIDEO_BOX_FRAMES:
        x, y, w, h = video_object(video, frame).box
        locs.append({"media": VIDEO_NAME, "type": "Boxes", "version": "Baseline",
                     "frame": frame, "x": x, "y": y, "width": w, "height": h,
                     "attributes": {"Label": VIDEO_LABEL, "Confidence": 0.7, "Count": frame}})
    x, y, w, h = video_object(video, 5).box
    locs.append({"media": VIDEO_NAME, "type": "Dots", "version": "Baseline", "frame": 5,
                 "x": x + w / 2, "y": y + h / 2, "attributes": {"Label": VIDEO_LABEL}})
    if shapes:
        outline = video_object(video, 10).outline
        (x0, y0), (x1, y1) = sorted(_farthest_pair(outline))
        locs += [
            {"media": VIDEO_NAME, "type": "Lines", "version": "Baseline", "frame": 10,
             "x": x0, "y": y0, "u": x1 - x0, "v": y1 - y0,
             "attributes": {"Label": VIDEO_LABEL, "Notes": "length"}},
            {"media": VIDEO_NAME, "type": "Polys", "version": "Baseline", "frame": 10,
             "points": [list(point) for point in outline],
             "attributes": {"Label": VIDEO_LABEL}},
        ]
    return locs


def _farthest_pair(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """The two points of ``points`` farthest apart (the object's length, for a line)."""
    pairs = ((a, b) for i, a in enumerate(points) for b in points[i + 1:])
    return max(pairs, key=lambda pair: math.dist(*pair))


def _other_project(media_dir: Path, media_id: int) -> dict[str, Any]:
    name = "other_000.png"
    organisms = drawing.plankton_image(media_dir / name, seed=99, count=1)
    x, y, w, h = organisms[0].box
    return {
        "id": 2, "name": "Other Project", "members": {"dave": "Full Control"},
        "versions": [{"id": 3, "name": "Baseline", "number": 0}],
        "media_types": [{"id": 3, "name": "Images", "dtype": "image"}],
        "localization_types": [{"id": 5, "name": "Boxes", "dtype": "box",
                                "media_types": ["Images"],
                                "attribute_types": attribute_types(LABELS)}],
        "media": [{"id": media_id, "name": name, "type": "Images",
                   "path": str(media_dir / name)}],
        "localizations": [{"media": name, "type": "Boxes", "user": "dave", "x": x, "y": y,
                           "width": w, "height": h,
                           "attributes": {"Label": organisms[0].kind}}],
    }


def folder_images(data_dir: Path | str) -> dict[str, list[Path]]:
    """The images of a folder laid out ``DIR/<label>/<image>``: label -> image paths, sorted.

    Hidden entries, files directly in ``DIR`` (a NOTICE, say), files that are not images and
    labels without images are left out.

    Raises:
        DemoDataError: ``data_dir`` is not a folder, or holds no such images.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DemoDataError(f"{data_dir} is not a folder")
    found = {}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.is_file()
                        and p.suffix.lower() in IMAGE_MIMES and not p.name.startswith("."))
        if images and not folder.name.startswith("."):
            found[folder.name] = images
    if not found:
        raise DemoDataError(f"{data_dir} holds no images laid out DIR/<label>/<image> "
                            f"({', '.join(sorted(IMAGE_MIMES))})")
    return found


def folder_fixture(data_dir: Path | str, project_name: str = "Image Folder",
                   margin: float = 0.02, extra_labels: Sequence[str] = ()) -> dict[str, Any]:
    """A project from ``DIR/<label>/<image>``: one box per image covering the object.

    The images are object crops, so each box covers the image minus ``margin`` on each side.
    The Label enum's choices are the folder names (then ``extra_labels`` and ``Unknown``).
    Users are :func:`standard_users`.

    Raises:
        DemoDataError: see :func:`folder_images`.
    """
    by_label = folder_images(data_dir)
    media, locs = [], []
    for label, paths in by_label.items():
        for path in paths:
            name = f"{label}/{path.name}"
            media.append({"name": name, "type": "Images", "path": str(path.resolve())})
            locs.append({"media": name, "type": "Boxes", "version": "Baseline",
                         "x": margin, "y": margin, "width": 1 - 2 * margin,
                         "height": 1 - 2 * margin,
                         "attributes": {"Label": label, "Confidence": 1.0}})
    choices = [*by_label, *(x for x in extra_labels if x not in by_label), "Unknown"]
    project = {"id": 1, "name": project_name, "creator": "alice",
               "members": {"bob": "Can Edit", "carol": "View Only"},
               "versions": [{"id": 1, "name": "Baseline", "number": 0}],
               **_types(choices), "media": media, "localizations": locs}
    return {"organization": 1, "users": standard_users(), "projects": [project]}


def marine_fixture(data_dir: Path | str, media_dir: Path | str) -> dict[str, Any]:
    """The demo's project on real images: :func:`folder_fixture` of ``data_dir`` (one box per
    image, labelled with its folder's name) plus the drawn video, drawn once into
    ``media_dir``, with boxes, a dot, a line and a polygon on its moving object.

    Raises:
        DemoDataError: see :func:`folder_images`.
    """
    fixture = folder_fixture(data_dir, project_name="Marine Camera", extra_labels=[VIDEO_LABEL])
    project = fixture["projects"][0]
    media_dir = Path(media_dir)
    media_dir.mkdir(parents=True, exist_ok=True)
    video = demo_video(media_dir)
    project["media"].append({"name": VIDEO_NAME, "type": "Videos", "path": str(video)})
    project["localizations"] += video_localizations(video, shapes=True)
    return fixture
