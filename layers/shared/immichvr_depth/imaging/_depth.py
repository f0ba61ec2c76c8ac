"""The endpoint's depth answer, resampled to the photo's size and stored as a 16-bit PNG."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from immichvr_depth.imaging._decode import decoding, open_image
from immichvr_depth.imaging._png import encode_gray16
from immichvr_depth.platform.errors import InvalidImage

# zlib level for stored depth maps, measured with bench/pipeline.py --png-levels on a 6000x8000
# map upscaled from a 1036x1381 answer (96 MB raw): level 1 takes 2.1 s for 38 MB, level 3 2.9 s
# for 34 MB, level 6 (Pillow's default) 8.1 s for 30 MB. Lambda bills the seconds; S3 barely
# notices the megabytes. (Pillow's own encoder: 4.1 s for 40 MB at level 1.)
DEPTH_PNG_LEVEL: Final = 1
# Rows resampled and compressed at a time: ~1M samples keeps each band's float32 buffers at a few
# MB whatever the photo's size, while numpy's per-call overhead stays negligible (~50 bands at 48 MP).
_BAND_SAMPLES: Final = 1 << 20
_SCALE_8_TO_16: Final = 257


@dataclass(frozen=True)
class DepthPng:
    body: bytes
    width: int
    height: int
    sha256: str


def fit_depth_png(depth_png16: bytes, size: tuple[int, int]) -> DepthPng:
    """The depth answer (a greyscale PNG at the model's working resolution) resampled bilinearly to
    exactly `size` (w, h) and encoded as 16-bit PNG; the full-size map never exists uncompressed."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {width}x{height}")
    _check_pixels(width * height)
    depth = _open_depth(depth_png16)
    with decoding():
        body = encode_gray16(_bands(depth, size), width, height, DEPTH_PNG_LEVEL)
    return DepthPng(body=body, width=width, height=height, sha256=hashlib.sha256(body).hexdigest())


def _check_pixels(pixels: int) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and pixels > limit:
        raise InvalidImage(f"image too large: {pixels} pixels exceeds the {limit} limit")


def _open_depth(data: bytes) -> Image.Image:
    """The answer as a float image with 16-bit values: resampling in "F" costs less than in
    "I;16" in Pillow and rounds only once, at the end."""
    im, _ = open_image(data)
    with decoding(), im:
        im.load()
        if im.mode in {"I;16", "I;16L", "I;16B", "I;16N", "I"}:
            return im.convert("F")
        if im.mode == "L":  # an 8-bit answer: stretch to the 16-bit range the map promises
            return im.convert("F").point(lambda value: value * _SCALE_8_TO_16)
        if im.mode == "F":
            return im.copy()
    raise InvalidImage(f"depth map must be single-channel greyscale, got mode {im.mode}")


def _bands(depth: Image.Image, size: tuple[int, int]) -> Iterator[npt.NDArray[np.float32]]:
    """Consecutive row bands of `depth` resized to `size`. Pillow computes a band's filter
    weights against the whole source image, so the bands join seamlessly."""
    width, height = size
    src_width, src_height = depth.size
    rows = max(1, _BAND_SAMPLES // width)
    scale_y = src_height / height
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        if depth.size == size:
            band = depth.crop((0, top, width, bottom))
        else:
            box = (0.0, top * scale_y, float(src_width), min(float(src_height), bottom * scale_y))
            band = depth.resize((width, bottom - top), Image.Resampling.BILINEAR, box=box)
        yield np.asarray(band, dtype=np.float32)
