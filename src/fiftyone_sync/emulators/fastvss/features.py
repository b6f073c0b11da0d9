"""Image features of the Fast-VSS emulator: a small colour thumbnail as a vector.

Real Fast-VSS answers with a ViT CLS token (768 floats for base models). The emulator answers
with the same length, computed from the pixels, so similar crops get similar vectors and a
test can compute the expected vector of any crop locally with :func:`image_vector`.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

THUMBNAIL_SIDE = 16
"""The thumbnail is 16 x 16 RGB pixels: 768 values, the length of a ViT-base vector."""

DIMENSION = THUMBNAIL_SIDE * THUMBNAIL_SIDE * 3


class NotAnImage(ValueError):
    """The bytes are not an image Pillow can decode."""


def image_vector(data: bytes) -> list[float]:
    """The emulator's embedding of an encoded image: deterministic, unit length, never zero.

    The image is converted to RGB, resized to a 16 x 16 thumbnail (bilinear), scaled so every
    channel value lies in (0, 1] (black maps to 1/256, so no image yields a zero vector) and
    L2-normalised. Images of one uniform grey level therefore share a vector.

    Args:
        data: the encoded image (PNG, JPEG, ...).

    Returns:
        768 floats.

    Raises:
        NotAnImage: when Pillow cannot decode ``data``.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            thumbnail = image.convert("RGB").resize(
                (THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"cannot identify image: {exc}") from exc

    pixels = (np.asarray(thumbnail, dtype=np.float64).reshape(-1) + 1.0) / 256.0
    return (pixels / np.linalg.norm(pixels)).tolist()
