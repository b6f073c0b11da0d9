"""Pictures and videos the emulator makes itself, so fixtures need no outside data.

``plankton_image`` draws a plankton-camera-like frame (dark water, translucent organisms of a
few kinds) and returns where each organism is; ``index_video`` writes a short MP4 whose frames
carry their own index as a row of black/white bars (and as text), so a test can decode any
frame it fetched and check it is the one it asked for (:func:`read_frame_index`).
"""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

INDEX_BITS = 10
PLANKTON_KINDS = ("Copepod", "Salp", "Larvacean", "Diatom", "Ctenophore")


class VideoWriteError(RuntimeError):
    """OpenCV could not write a video file."""


@dataclasses.dataclass(frozen=True)
class Organism:
    """One drawn organism: its kind and normalized box ``(x, y, w, h)``, top-left origin."""

    kind: str
    box: tuple[float, float, float, float]
    outline: list[tuple[float, float]]


def plankton_image(path: Path, seed: int, size: tuple[int, int] = (640, 480),
                   count: int = 3) -> list[Organism]:
    """Draws a plankton-camera frame to ``path`` (PNG/JPEG by suffix); returns its organisms.

    The drawing depends only on ``seed``; an existing file is left as it is (same picture).
    """
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, (8, 18 + rng.randint(0, 10), 38))
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(60):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        draw.point((x, y), fill=(120, 140, 160, 120))
    organisms = []
    for index in range(count):
        kind = PLANKTON_KINDS[(seed + index) % len(PLANKTON_KINDS)]
        cx = rng.uniform(0.2, 0.8) * width
        cy = rng.uniform(0.2, 0.8) * height
        scale = rng.uniform(0.07, 0.14) * min(width, height)
        outline = _draw_organism(draw, kind, cx, cy, scale, rng)
        organisms.append(_organism(kind, outline, width, height))
    if not Path(path).exists():
        image.filter(ImageFilter.GaussianBlur(0.6)).save(path)
    return organisms


def _draw_organism(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, scale: float,
                   rng: random.Random) -> list[tuple[float, float]]:
    angle = rng.uniform(0, math.pi)
    stretch = {"Copepod": (1.0, 0.45), "Salp": (1.6, 0.7), "Larvacean": (0.6, 0.35),
               "Diatom": (0.9, 0.9), "Ctenophore": (0.8, 1.1)}[kind]
    outline = []
    for step in range(24):
        t = 2 * math.pi * step / 24
        wobble = 1 + 0.12 * math.sin(3 * t + angle)
        px, py = stretch[0] * scale * math.cos(t) * wobble, stretch[1] * scale * math.sin(t)
        outline.append((cx + px * math.cos(angle) - py * math.sin(angle),
                        cy + px * math.sin(angle) + py * math.cos(angle)))
    color = {"Copepod": (230, 170, 90), "Salp": (150, 210, 230), "Larvacean": (200, 230, 150),
             "Diatom": (210, 200, 120), "Ctenophore": (220, 150, 220)}[kind]
    draw.polygon(outline, fill=(*color, 140), outline=(*color, 255))
    if kind == "Larvacean":
        tail = (cx + 2.2 * scale * math.cos(angle), cy + 2.2 * scale * math.sin(angle))
        draw.line([(cx, cy), tail], fill=(*color, 220), width=3)
        outline.append(tail)
    if kind == "Copepod":
        for side in (-1, 1):
            tip = (cx + side * 1.4 * scale * math.cos(angle + 0.6),
                   cy + side * 1.4 * scale * math.sin(angle + 0.6))
            draw.line([(cx, cy), tip], fill=(*color, 200), width=2)
    return outline


def _organism(kind: str, outline: list[tuple[float, float]], width: int,
              height: int) -> Organism:
    xs = [min(max(x / width, 0.0), 1.0) for x, _ in outline]
    ys = [min(max(y / height, 0.0), 1.0) for _, y in outline]
    box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    return Organism(kind, box, list(zip(xs, ys, strict=True)))


def index_video(path: Path, num_frames: int = 30, fps: float = 10.0,
                size: tuple[int, int] = (320, 240)) -> Path:
    """Writes an MP4 (OpenCV ``mp4v``) whose frame ``i`` shows ``i`` as bars and text."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise VideoWriteError(f"OpenCV cannot write {path}")
    try:
        for index in range(num_frames):
            writer.write(_index_frame(index, width, height))
    finally:
        writer.release()
    return path


def _index_frame(index: int, width: int, height: int) -> np.ndarray:
    frame = np.full((height, width, 3), (40, 24, 10), dtype=np.uint8)
    angle = 2 * math.pi * index / 30
    center = (int(width / 2 + width / 4 * math.cos(angle)), int(height / 4 + 20))
    cv2.ellipse(frame, center, (24, 12), math.degrees(angle), 0, 360, (90, 170, 230), -1)
    cv2.putText(frame, str(index), (8, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.2,
                (255, 255, 255), 2)
    bar = width // INDEX_BITS
    for bit in range(INDEX_BITS):
        value = 255 if (index >> bit) & 1 else 0
        frame[height * 2 // 3:, bit * bar:(bit + 1) * bar] = value
    return frame


def read_frame_index(rgb: np.ndarray) -> int:
    """Decodes the index an :func:`index_video` frame carries (from a decoded RGB array)."""
    height, width = rgb.shape[:2]
    bar = width // INDEX_BITS
    row = rgb[height * 5 // 6]
    index = 0
    for bit in range(INDEX_BITS):
        sample = row[bit * bar + bar // 4:(bit + 1) * bar - bar // 4].mean()
        if sample > 127:
            index |= 1 << bit
    return index
