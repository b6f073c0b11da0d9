"""Video frames as still images: which frames a pull needs and how each one is fetched.

A video becomes one image sample per frame that carries localizations; each such frame is
fetched once into the media cache as a PNG. Frames come from Tator's ``GetFrame`` endpoint
rather than from decoding a downloaded video locally: Tator's own frame numbering (0-based,
bounded by the media's ``num_frames``) is then the source of truth even when a container's
frame count is wrong or variable (field case F3), and older videos whose segment index lacks
``frame_start`` need no special path (F4). A frame at or past ``num_frames`` is an invalid
item, reported and not fetched. GetFrame answers at the streaming resolution; the sample's
metadata holds the cached PNG's own size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode


class FrameError(ValueError):
    """A frame number Tator's media cannot have."""


def check_frame(media: Mapping[str, Any], frame: int) -> None:
    """Raises :class:`FrameError` unless ``0 <= frame < num_frames``."""
    frames = media.get("num_frames")
    if frame < 0 or (frames is not None and frame >= int(frames)):
        raise FrameError(f"frame {frame} is outside media {media['id']}'s "
                         f"0..{(frames or 0) - 1}")


def frame_url(host: str, media_id: int, frame: int) -> str:
    """The ``GetFrame`` URL of one frame (Tator answers PNG by default)."""
    query = urlencode({"frames": frame})
    return f"{host.rstrip('/')}/rest/GetFrame/{int(media_id)}?{query}"


def has_video_files(media: Mapping[str, Any]) -> bool:
    """Whether Tator holds a decodable file for the video (else GetFrame cannot work)."""
    files = media.get("media_files") or {}
    return bool(files.get("streaming") or files.get("archival"))
