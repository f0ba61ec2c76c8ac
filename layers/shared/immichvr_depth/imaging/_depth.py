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

# ISA-L deflate level (0 to 3) for stored depth maps, Sub filter (see _png.py). Measured with
# bench/pipeline.py --png-levels on a 6000x8000 map upscaled from a 1036x1381 answer (96 MB raw),
# CPU time of the whole encode, resampling included (116 ms of it), on the 2-vCPU Intel Xeon
# development machine, 2026-12-01: level 1 takes 398 ms for 37.2 MB, where zlib level 1 (used before
# ISA-L) took 1,140 ms for 38.0 MB. ISA-L level 2: 408 ms, 36.8 MB; level 3: 391 ms but 40.8 MB and
# level 0: 360 ms, 41.7 MB, both more than 5% above zlib's size. Without the filter every level is
# as fast and twice as large. (Pillow's own encoder: 1,606 ms for 40.5 MB at level 1.)
DEPTH_PNG_LEVEL: Final = 1
# Rows resampled and compressed at a time: ~256K samples keeps each band's buffers (1 MB as float32,
# 0.5 MB filtered) in a core's L2 cache from resampling through deflate, whatever the photo's size,
# while the per-band overhead stays negligible (~190 bands at 48 MP). Measured at 48 MP with the
# numpy enlargement below: 488 ms of CPU for the whole map, against 548 ms in 1M-sample bands.
_BAND_SAMPLES: Final = 1 << 18
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
    """Consecutive row bands of `depth` resized to `size`. Each band's filter weights are computed
    against the whole source image, so the bands join seamlessly."""
    width, height = size
    src_width, src_height = depth.size
    rows = max(1, _BAND_SAMPLES // width)
    if depth.size != size and width >= src_width and height >= src_height:
        yield from _upscaled_bands(np.asarray(depth, dtype=np.float32), size, rows)
        return
    scale_y = src_height / height
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        if depth.size == size:
            band = depth.crop((0, top, width, bottom))
        else:
            box = (0.0, top * scale_y, float(src_width), min(float(src_height), bottom * scale_y))
            band = depth.resize((width, bottom - top), Image.Resampling.BILINEAR, box=box)
        yield np.asarray(band, dtype=np.float32)


def _upscaled_bands(
    source: npt.NDArray[np.float32], size: tuple[int, int], rows: int
) -> Iterator[npt.NDArray[np.float32]]:
    """Bands of `source` enlarged to `size` (neither side shrinks): Pillow's BILINEAR, computed with
    numpy in float32. The usual case (a model-sized answer stretched to the photo), at about half the
    CPU of Pillow's resize, which evaluates three taps per sample in double precision (at 48 MP about
    95 ms against 180); the result differs from Pillow's by at most 1 in 65535 after rounding, on
    about 0.2% of the samples."""
    width, height = size
    x_first, x_second, x_weight = _bilinear_taps(source.shape[1], width)
    y_first, y_second, y_weight = _bilinear_taps(source.shape[0], height)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        first, last = int(y_first[top]), int(y_second[bottom - 1]) + 1
        block = source[first:last]
        # Across: every source row the band needs, widened to `width`.
        left = block[:, x_first]
        across = block[:, x_second]
        across -= left
        across *= x_weight
        across += left
        # Down: each output row between its two source rows.
        upper = np.take(across, y_first[top:bottom] - first, axis=0)
        band = np.take(across, y_second[top:bottom] - first, axis=0)
        band -= upper
        band *= y_weight[top:bottom, None]
        band += upper
        yield band


def _bilinear_taps(
    src: int, dst: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """For each of `dst` positions enlarged from `src`: the two source pixels it lies between and
    the second one's weight, as Pillow's BILINEAR filter gives them (pixel centres aligned; past the
    first or last centre, the edge pixel alone)."""
    centre = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    floor = np.floor(centre)
    weight = (centre - floor).astype(np.float32)
    first = floor.astype(np.intp)
    weight[(first < 0) | (first >= src - 1)] = 0
    first = np.clip(first, 0, src - 1)
    return first, np.minimum(first + 1, src - 1), weight
