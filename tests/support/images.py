"""Photo-like test images made on the fly (no binary fixtures in the repository)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112


def photo(width: int, height: int, *, seed: int = 0) -> Image.Image:
    """Smooth gradients with noise and a bright block in the top-left corner, so orientation shows."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 255 * xs / max(width - 1, 1)
    green = 255 * ys / max(height - 1, 1)
    blue = 128 + 60 * np.sin(xs / 37.0) * np.cos(ys / 23.0)
    pixels = np.stack([red, green, blue], axis=-1) + rng.normal(0, 6, (height, width, 3))
    pixels[: height // 5, : width // 5] = 255
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def jpeg_bytes(width: int, height: int, *, orientation: int = 1, quality: int = 90, seed: int = 0) -> bytes:
    image = photo(width, height, seed=seed)
    exif = Image.Exif()
    if orientation != 1:
        exif[EXIF_ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def depth_png16(width: int, height: int) -> bytes:
    """A 16-bit grayscale PNG shaped like a depth map (brighter towards the bottom)."""
    ramp = np.linspace(0, 65535, height, dtype=np.float64)[:, None].repeat(width, axis=1)
    out = io.BytesIO()
    Image.fromarray(ramp.astype(np.uint16)).save(out, "PNG")
    return out.getvalue()
