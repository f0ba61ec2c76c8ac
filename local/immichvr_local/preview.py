"""Side-by-side previews a person can look at: the photo on the left, its depth map coloured on the right.

Depth maps are 16-bit greyscale, brighter where nearer, which shows as a near-black image in most
viewers. The right half maps them through Turbo (red near, blue far), contrast-stretched between the
map's 1st and 99th percentiles. Both halves have the depth map's size, scaled down to fit
`PREVIEW_MAX_SIDE` (never up), so a preview is exactly twice as wide as it is high times the map's
aspect: `preview_size(depth_size)`.
"""

from __future__ import annotations

import io
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

PREVIEW_MAX_SIDE: Final = 1440

# Turbo, Google's rainbow colormap for depth and disparity, by its published degree-5 polynomial fit
# (Anton Mikhailov and Ruofei Du, Apache-2.0): channel(x) = sum(c[k] * x**k), x in [0, 1].
_TURBO_COEFFICIENTS: Final = np.array(
    [
        [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
        [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
        [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ]
)


def _turbo_table() -> NDArray[np.uint8]:
    x = np.linspace(0.0, 1.0, 256)
    powers = np.stack([x**k for k in range(6)], axis=1)  # 256 x 6
    rgb = np.clip(powers @ _TURBO_COEFFICIENTS.T, 0.0, 1.0)  # 256 x 3
    table: NDArray[np.uint8] = np.round(rgb * 255).astype(np.uint8)
    return table


TURBO: Final = _turbo_table()


def fit(size: tuple[int, int], max_side: int = PREVIEW_MAX_SIDE) -> tuple[int, int]:
    """`size` scaled down (never up) so that its long side is at most `max_side`."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def preview_size(depth_size: tuple[int, int], max_side: int = PREVIEW_MAX_SIDE) -> tuple[int, int]:
    width, height = fit(depth_size, max_side)
    return 2 * width, height


def colorize(depth: Image.Image) -> Image.Image:
    """A depth map of any greyscale mode as an RGB Turbo image, red where the map is brightest (nearest)."""
    values = np.asarray(depth, dtype=np.float64)
    if values.ndim == 3:
        values = values[..., 0]
    low, high = np.percentile(
        values[:: max(1, values.shape[0] // 256), :: max(1, values.shape[1] // 256)], (1, 99)
    )
    if high <= low:
        high = low + 1.0
    indices = np.clip((values - low) / (high - low) * 255.0, 0, 255).astype(np.uint8)
    return Image.fromarray(TURBO[indices], "RGB")


def side_by_side(
    photo: Image.Image | None, depth: Image.Image, max_side: int = PREVIEW_MAX_SIDE
) -> Image.Image:
    """photo | coloured depth, each of the depth map's size fitted to `max_side`. The photo is turned
    upright by its EXIF orientation and stretched to the map's shape; without one the left half is grey."""
    half = fit(depth.size, max_side)
    canvas = Image.new("RGB", (2 * half[0], half[1]), (128, 128, 128))
    if photo is not None:
        upright = ImageOps.exif_transpose(photo).convert("RGB")
        canvas.paste(upright.resize(half, Image.Resampling.LANCZOS, reducing_gap=2.0), (0, 0))
    canvas.paste(colorize(depth).resize(half, Image.Resampling.BILINEAR), (half[0], 0))
    return canvas


def preview_png(photo: bytes | None, depth_png: bytes, max_side: int = PREVIEW_MAX_SIDE) -> bytes:
    """`side_by_side` from encoded files, as PNG bytes."""
    with Image.open(io.BytesIO(depth_png)) as depth:
        depth.load()
        if photo is None:
            combined = side_by_side(None, depth, max_side)
        else:
            with Image.open(io.BytesIO(photo)) as picture:
                combined = side_by_side(picture, depth, max_side)
    out = io.BytesIO()
    # Level 1: a quarter of the time of the default on a photo, for an eighth more bytes.
    combined.save(out, "PNG", compress_level=1)
    return out.getvalue()
