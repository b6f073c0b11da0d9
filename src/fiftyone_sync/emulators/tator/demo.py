"""Ready-made Tator projects: the standard test project, a plankton-camera demo, and a project
built from a folder of labelled images (``DIR/<label>/<image>``).

Everything here returns fixture dicts (:mod:`.fixtures`) so tests can tweak them before
loading. The plankton projects draw their own pictures and video (:mod:`.drawing`), so they
work without any outside data; the folder builder reads images in place and never copies them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from . import drawing
from .mediafiles import IMAGE_MIMES

LABELS = [*drawing.PLANKTON_KINDS, "Unknown"]
VIDEO_NAME = "index_clip.mp4"
VIDEO_FRAMES = 30
VIDEO_FPS = 10.0


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
    30-frame 10 fps video whose frames carry their index, with boxes on frames 0, 5 and 10;
    one State (a track, type id 10, not otherwise emulated) on the video. With ``sections``,
    folders Stills (id 1, the images) and Clips (id 2, the video); their media then carry
    ``attributes.tator_user_sections`` as real Tator media always do.
    Project 2 ("Other Project"): dave Full Control only, one image and one box.
    Files are drawn into ``media_dir`` once and reused.
    """
    media_dir = Path(media_dir)
    media_dir.mkdir(parents=True, exist_ok=True)
    media, locs = _plankton_media(media_dir, images)
    video = media_dir / VIDEO_NAME
    if not video.exists():
        drawing.index_video(video, VIDEO_FRAMES, VIDEO_FPS)
    media.append({"id": images + 1, "name": VIDEO_NAME, "type": "Videos", "path": str(video),
                  "attributes": {"Site": "Monterey", "Depth": 200.0}})
    locs += _video_localizations()
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


def _video_localizations() -> list[dict]:
    locs = []
    for frame in (0, 5, 10):
        locs.append({"media": VIDEO_NAME, "type": "Boxes", "version": "Baseline",
                     "frame": frame, "x": 0.25, "y": 0.1, "width": 0.5, "height": 0.3,
                     "attributes": {"Label": "Salp", "Confidence": 0.7, "Count": frame}})
    locs.append({"media": VIDEO_NAME, "type": "Dots", "version": "Baseline", "frame": 5,
                 "x": 0.5, "y": 0.25, "attributes": {"Label": "Salp"}})
    return locs


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


def folder_fixture(data_dir: Path | str, project_name: str = "Image Folder",
                   margin: float = 0.02) -> dict[str, Any]:
    """A project from ``DIR/<label>/<image>``: one box per image covering the object.

    The images are object crops, so each box covers the image minus ``margin`` on each side.
    The Label enum's choices are the folder names. Users are :func:`standard_users`.
    """
    data_dir = Path(data_dir)
    labels = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
    media, locs = [], []
    for label in labels:
        for path in sorted((data_dir / label).iterdir()):
            if path.suffix.lower() not in IMAGE_MIMES:
                continue
            name = f"{label}/{path.name}"
            media.append({"name": name, "type": "Images", "path": str(path.resolve())})
            locs.append({"media": name, "type": "Boxes", "version": "Baseline",
                         "x": margin, "y": margin, "width": 1 - 2 * margin,
                         "height": 1 - 2 * margin,
                         "attributes": {"Label": label, "Confidence": 1.0}})
    project = {"id": 1, "name": project_name, "creator": "alice",
               "members": {"bob": "Can Edit", "carol": "View Only"},
               "versions": [{"id": 1, "name": "Baseline", "number": 0}],
               **_types([*labels, "Unknown"]), "media": media, "localizations": locs}
    return {"organization": 1, "users": standard_users(), "projects": [project]}
