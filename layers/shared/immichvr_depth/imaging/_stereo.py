"""Stereo pairs made from a photo and its depth map: depth-image-based rendering, numpy only.

Each eye's view is the photo with every pixel moved sideways by its disparity, which follows the
stored depth (near = 1, inverse-depth-like, used as given: no per-image renormalisation):
``shift = (depth - convergence) * divergence / 100 * width`` between the two eyes, half of it per
eye, as nunif's iw3 computes it. The left eye's view moves near things right, the right eye's moves
them left (thygate's depthmap script does the same, and a real pair shows it: the nearer a point,
the further right it sits in the left eye's picture). Convergence is the depth that does not move,
the screen plane: at 0 the farthest depth stays put and everything nearer comes out of the screen;
at 1 the nearest stays and the rest recedes behind it.

- Warping forwards, several pixels can land on one column; the nearest must win. In the left eye's
  view two sources a < b meet only if a moved further right than b, which (the shift growing with
  depth) means a is the nearer: so the leftmost source of each column wins, a plain minimum per
  column (``np.minimum.at``), no sort. The right eye is the same problem mirrored.
- The columns no source lands on are the background uncovered beside a near object. Each such run
  takes the pixel of whichever of its two neighbours is farther: what lies behind an object's edge
  is background, and copying the object's own pixels there would smear it into a ghost. A run at
  the image's border (what moved in from outside) takes the one neighbour it has.
- Depth maps are softer than photos at object edges (the model's answer is enlarged to the photo),
  so an object's rim carries background depth and would be left behind as a torn fringe. A small
  maximum filter along the rows first widens near regions by about 0.1% of the width, so the rim
  moves with its object.
- Shifts are rounded to whole pixels: simple, exact for the argument above, and half a pixel of
  parallax is no visible error at photo sizes.
- The anaglyph is plain red-cyan: red from the left view, green and blue from the right.

Everything runs in bands of rows (a row's pixels move only within the row), so the intermediates
stay a few MB whatever the photo; the stereo image is written once, into one preallocated RGBX
buffer that Pillow encodes as JPEG without copying it.
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from immichvr_depth.imaging._decode import apply_orientation, decoding, open_image
from immichvr_depth.imaging._depth import _open_depth
from immichvr_depth.platform.errors import InvalidImage


class StereoLayout(StrEnum):
    SBS = "sbs"  # full side-by-side: left | right, twice the photo's width
    HALF_SBS = "half-sbs"  # each eye squeezed to half width: the photo's width and height
    TB = "tb"  # full top-bottom: left over right, twice the photo's height
    ANAGLYPH = "anaglyph"  # red-cyan, left eye red: the photo's size


DIVERGENCE_RANGE: Final = (0.0, 10.0)  # percent of the width: the total shift between the eyes
CONVERGENCE_RANGE: Final = (0.0, 1.0)  # 0: screen plane at the farthest depth, 1: at the nearest
DEFAULT_DIVERGENCE: Final = 2.0
DEFAULT_CONVERGENCE: Final = 0.5
# The steps parameters are rounded to: each distinct pair is a derivative cached in S3, so a
# client sliding a control must not make thousands of them. 0.1% of the width is about 4 px at
# 4000 px, at the edge of what one sees; 0.05 of convergence is as fine as anyone tunes it.
_DIVERGENCE_STEP: Final = 0.1
_CONVERGENCE_STEP: Final = 0.05
_DIVERGENCE_UNIT: Final = "percent of the width"
_CONVERGENCE_UNIT: Final = "0: the screen plane at the farthest depth, 1: at the nearest"

STEREO_JPEG_QUALITY: Final = 90
# Samples per band (32 rows at 8000 px): the band's intermediates (1 MB each as int32) stay a few
# MB, mostly in cache from one step to the next, and the per-band overhead is still negligible.
# Measured on a 12 MP SBS pair: 0.61 s of CPU in bands of 256K samples, 0.73 s in 1M, 0.94 s in
# 4M; 64K as fast as 256K.
_BAND_SAMPLES: Final = 1 << 18
# The near-region widening, as a fraction of the width (see the module docstring): about the
# width of one pixel of the model's answer once enlarged to the photo (answers are ~1000-1400 px
# wide), at least 1 px.
_EDGE_DILATION: Final = 0.001
_MAX_SAMPLE: Final = 65535.0

_Pixels = TypeVar("_Pixels", bound=np.generic)


@dataclass(frozen=True)
class StereoParams:
    layout: StereoLayout
    divergence: float
    convergence: float

    @classmethod
    def of(cls, layout: StereoLayout | str, divergence: float, convergence: float) -> StereoParams:
        """Checked against DIVERGENCE_RANGE and CONVERGENCE_RANGE (bounds included; ValueError naming
        the range otherwise), then rounded: divergence to 0.1, convergence to 0.05."""
        divergence = _checked("divergence", divergence, DIVERGENCE_RANGE, _DIVERGENCE_UNIT)
        convergence = _checked("convergence", convergence, CONVERGENCE_RANGE, _CONVERGENCE_UNIT)
        return cls(
            layout=StereoLayout(layout),
            divergence=_rounded(divergence, _DIVERGENCE_STEP, 1),
            convergence=_rounded(convergence, _CONVERGENCE_STEP, 2),
        )

    def token(self) -> str:
        """A short stable string naming these parameters, for an S3 key: e.g. ``sbs-d2.0-c0.50``."""
        return f"{self.layout.value}-d{self.divergence:.1f}-c{self.convergence:.2f}"


def _checked(name: str, value: float, bounds: tuple[float, float], unit: str) -> float:
    low, high = bounds
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ValueError(f"{name} must be between {low:g} and {high:g} ({unit}), got {value!r}")
    return float(value)


def _rounded(value: float, step: float, digits: int) -> float:
    """`value` to the nearest multiple of `step`, halves up (round() goes to even); rounding to
    `digits` then drops the product's float noise (11 * 0.05 is 0.55000000000000004)."""
    return round(math.floor(value / step + 0.5) * step, digits)


def stereo_filename(stem: str, layout: StereoLayout) -> str:
    """The file name VR players (DeoVR, SKYBOX, Pigasus) read the layout from."""
    suffix = {
        StereoLayout.SBS: "_LRF_Full_SBS",
        StereoLayout.HALF_SBS: "_3dh",
        StereoLayout.TB: "_TB",
        StereoLayout.ANAGLYPH: "_anaglyph",
    }[StereoLayout(layout)]
    return f"{stem}{suffix}.jpg"


# --- the two views ------------------------------------------------------------------------------


def eye_views(
    rgb: npt.NDArray[np.uint8], depth: npt.NDArray[np.floating], divergence: float, convergence: float
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The (left, right) views, H x W x 3 uint8, of `rgb` (H x W x 3 uint8) seen with `depth`
    (H x W, 0 = farthest, 1 = nearest; values outside are clipped, NaN is far). `divergence` in
    percent of the width (>= 0), `convergence` the depth of the screen plane. Every output pixel is
    a pixel of the same row of `rgb`."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}")
    if depth.shape != rgb.shape[:2]:
        raise ValueError(f"depth of shape {depth.shape} does not fit an image of {rgb.shape[:2]}")
    _check_shift(divergence, convergence)
    left, right = np.empty_like(rgb), np.empty_like(rgb)
    height, width = depth.shape
    for top, bottom in _bands(height, width):
        pixels = rgb[top:bottom]
        near = np.nan_to_num(np.clip(depth[top:bottom], 0, 1), nan=0.0).astype(np.float32, copy=False)
        sources = _eye_sources(near, divergence, convergence)
        left[top:bottom] = _gather(pixels, sources[0])
        right[top:bottom] = _gather(pixels, sources[1])
    return left, right


def _check_shift(divergence: float, convergence: float) -> None:
    # A negative divergence would swap the eyes, and with them which source of a column is nearest.
    if not (math.isfinite(divergence) and divergence >= 0):
        raise ValueError(f"divergence must be a finite number >= 0, got {divergence!r}")
    if not math.isfinite(convergence):
        raise ValueError(f"convergence must be finite, got {convergence!r}")


def _bands(height: int, width: int) -> Iterator[tuple[int, int]]:
    rows = max(1, _BAND_SAMPLES // width)
    for top in range(0, height, rows):
        yield top, min(height, top + rows)


def _eye_sources(
    depth: npt.NDArray[np.float32], divergence: float, convergence: float
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """For each pixel of the left and of the right view of a band, the column of the band's row it
    shows. `depth` lies in [0, 1]."""
    width = depth.shape[1]
    near = _widened(depth, max(1, round(width * _EDGE_DILATION)))
    per_eye = divergence / 100 * width / 2
    shift = np.rint((near - np.float32(convergence)) * np.float32(per_eye)).astype(np.int32)
    left = _forward_warp(shift, near)
    # The right eye moves near things left: the left eye's problem in a mirror.
    mirrored = _forward_warp(shift[:, ::-1], near[:, ::-1])[:, ::-1]
    right = np.subtract(width - 1, mirrored, dtype=np.int32)
    return left, right


def _widened(depth: npt.NDArray[np.float32], radius: int) -> npt.NDArray[np.float32]:
    """The maximum over each pixel's row neighbourhood of `radius` pixels either side: windows
    doubled in log2(2 * radius + 1) passes rather than one pass per pixel of the window."""
    rows, width = depth.shape
    window = 2 * radius + 1
    padded = np.zeros((rows, width + 2 * radius), dtype=np.float32)  # 0 = farthest: never wins
    padded[:, radius : radius + width] = depth
    spans, span = padded, 1  # spans[:, i]: the maximum of padded[:, i : i + span]
    while 2 * span <= window:
        spans = np.maximum(spans[:, :-span], spans[:, span:])
        span *= 2
    # Two windows of `span` overlapping within one of `window` cover it exactly.
    return np.maximum(spans[:, :width], spans[:, window - span : window - span + width])


def _forward_warp(shift: npt.NDArray[np.int32], depth: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    """Each source pixel moved right by `shift` (larger for nearer pixels): for every target pixel
    the source column it shows, the nearest of those landing there, or for holes the farther of
    the two nearest filled neighbours' sources."""
    rows, width = shift.shape
    columns = np.arange(width, dtype=np.int32)
    target = shift + columns
    offscreen = (target < 0) | (target >= width)
    target += (np.arange(rows, dtype=np.int32) * width)[:, None]
    target[offscreen] = rows * width  # one spare slot collects what leaves the image
    # Among sources meeting on a column the leftmost moved furthest, so it is the nearest.
    source = np.full(rows * width + 1, width, dtype=np.int32)
    np.minimum.at(source, target.ravel(), np.broadcast_to(columns, (rows, width)).ravel())
    return _filled(source[:-1].reshape(rows, width), depth)


def _filled(source: npt.NDArray[np.int32], depth: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    """`source` (`width` where nothing landed) with each run of holes given the source of its
    farther filled neighbour on the row (the one there is at the image's border)."""
    width = source.shape[1]
    flat_source = source.ravel()
    holes = np.flatnonzero(flat_source == width)  # a few percent of the pixels
    if holes.size == 0:
        return source
    column = holes % width
    # A run goes on while the next hole is the next pixel of the same row; the pixels either side
    # of a run are filled (or off the image), by definition.
    starts = np.ones(holes.size, dtype=np.bool_)
    starts[1:] = (np.diff(holes) != 1) | (column[1:] == 0)
    ends = np.append(starts[1:], True)
    row_start = holes[starts] - column[starts]
    before, after = column[starts] - 1, column[ends] + 1
    has_before, has_after = before >= 0, after < width
    flat_depth = depth.ravel()  # a copy for the mirrored eye's view, once

    def shown(at: npt.NDArray[np.intp], exists: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
        """The source column the run's row shows at column `at` (0 where there is none)."""
        return np.where(exists, np.take(flat_source, row_start + np.where(exists, at, 0)), 0)

    source_before, source_after = shown(before, has_before), shown(after, has_after)
    infinity = np.float32(np.inf)  # the side off the image is never the farther one
    depth_before = np.where(has_before, np.take(flat_depth, row_start + source_before), infinity)
    depth_after = np.where(has_after, np.take(flat_depth, row_start + source_after), infinity)
    fill = np.where(depth_before <= depth_after, source_before, source_after)
    # A row nothing landed on cannot happen (shifts stay under 5% of the width); if it did, the
    # photo's own pixels are the least wrong answer.
    lost = ~(has_before | has_after)
    run = np.cumsum(starts) - 1  # each hole's run
    filled = source.copy()
    filled.ravel()[holes] = np.where(lost[run], column, fill[run])
    return filled


def _gather(pixels: npt.NDArray[_Pixels], source: npt.NDArray[np.int32]) -> npt.NDArray[_Pixels]:
    """Row by row, the pixels at the `source` columns (colour channels, if any, follow)."""
    rows, width = source.shape
    flat = source + (np.arange(rows, dtype=np.int32) * width)[:, None]
    gathered: npt.NDArray[_Pixels] = np.take(pixels.reshape(rows * width, -1), flat, axis=0)
    return gathered.reshape(pixels.shape)


# --- the stereo image ---------------------------------------------------------------------------

# Pixels handled as RGBX words: one 4-byte gather per pixel instead of three, and the layout
# Pillow keeps RGB images in, so an RGBX buffer becomes an image without a copy.
_WORD: Final = np.dtype("<u4")
_RED: Final = np.uint32(0x000000FF)  # little-endian RGBX: red is the low byte
# Half-SBS's squeeze to half width. Bicubic rather than Lanczos: on bench/pipeline.py's synthetic
# photo the two differ by 0.13 levels on average (5 at the 99.9th percentile), far under the JPEG's
# own error, while Lanczos takes 1.3 s of CPU for both eyes at 48 MP, bicubic 0.7 s.
_SQUEEZE_FILTER: Final = Image.Resampling.BICUBIC


def render_stereo(photo_jpeg: bytes, depth_png16: bytes, params: StereoParams) -> bytes:
    """The stereo image, a JPEG in `params.layout`, of a photo (upright as shown: an EXIF
    orientation is applied) and its 16-bit near-bright depth map of the same size. InvalidImage
    when either does not decode or their sizes differ."""
    im, facts = open_image(photo_jpeg)
    with im, _open_depth(depth_png16) as depth:
        size = (facts.oriented_width, facts.oriented_height)
        if depth.size != size:
            raise InvalidImage(
                f"depth map is {depth.size[0]}x{depth.size[1]}, the photo {size[0]}x{size[1]}: "
                "they must be the same size"
            )
        with decoding():
            icc_profile = im.info.get("icc_profile")
            photo = _upright_rgb(im, facts.orientation)
        with photo:
            stereo = _compose(photo, depth, params)
    # Photo and depth map are released by now: the encoder's peak comes on top of the output alone.
    return _encode(stereo, params.layout, icc_profile)


def _upright_rgb(im: Image.Image, orientation: int) -> Image.Image:
    im.load()
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    return apply_orientation(rgb, orientation)


def _output_shape(layout: StereoLayout, width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of the stereo image."""
    if layout is StereoLayout.SBS:
        return height, 2 * width
    if layout is StereoLayout.TB:
        return 2 * height, width
    return height, width


def _compose(photo: Image.Image, depth: Image.Image, params: StereoParams) -> npt.NDArray[np.uint8]:
    """The stereo image as rows x columns x 4 (RGBX) bytes, made band by band."""
    width, height = photo.size
    out = np.empty((*_output_shape(params.layout, width, height), 4), dtype=np.uint8)
    words = out.view(_WORD)[:, :, 0]
    for top, bottom in _bands(height, width):
        box = (0, top, width, bottom)
        pixels = np.frombuffer(photo.crop(box).tobytes("raw", "RGBX"), dtype=_WORD).reshape(-1, width)
        near = np.asarray(depth.crop(box), dtype=np.float32) * np.float32(1 / _MAX_SAMPLE)
        left_source, right_source = _eye_sources(near, params.divergence, params.convergence)
        _place(words, params.layout, top, _gather(pixels, left_source), _gather(pixels, right_source))
    return out


def _place(
    words: npt.NDArray[np.uint32],
    layout: StereoLayout,
    top: int,
    left: npt.NDArray[np.uint32],
    right: npt.NDArray[np.uint32],
) -> None:
    """A band of both views written where `layout` puts them."""
    rows, width = left.shape
    bottom = top + rows
    if layout is StereoLayout.SBS:
        words[top:bottom, :width] = left
        words[top:bottom, width:] = right
    elif layout is StereoLayout.TB:
        height = words.shape[0] // 2
        words[top:bottom] = left
        words[height + top : height + bottom] = right
    elif layout is StereoLayout.HALF_SBS:
        half = width // 2  # an odd width gives the right eye the extra column
        words[top:bottom, :half] = _squeezed(left, half)
        words[top:bottom, half:] = _squeezed(right, width - half)
    else:  # anaglyph: red from the left eye, green and blue from the right
        words[top:bottom] = (left & _RED) | (right & ~_RED)


def _squeezed(band: npt.NDArray[np.uint32], width: int) -> npt.NDArray[np.uint32]:
    """The band resized to `width` columns, rows kept. Resizing only across, each row on its own, so
    band by band gives the same pixels as the whole image at once."""
    rows = band.shape[0]
    image = Image.frombuffer("RGBX", (band.shape[1], rows), np.ascontiguousarray(band), "raw", "RGBX", 0, 1)
    resized = image.resize((width, rows), _SQUEEZE_FILTER)
    return np.frombuffer(resized.tobytes(), dtype=_WORD).reshape(rows, width)


def _encode(stereo: npt.NDArray[np.uint8], layout: StereoLayout, icc_profile: bytes | None) -> bytes:
    rows, columns = stereo.shape[:2]
    image = Image.frombuffer("RGBX", (columns, rows), stereo, "raw", "RGBX", 0, 1)
    # An anaglyph carries its depth in the colours' difference at every pixel: 4:2:0 chroma
    # subsampling would blur it into colour fringes, so it keeps full-resolution chroma.
    subsampling = 0 if layout is StereoLayout.ANAGLYPH else -1
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=STEREO_JPEG_QUALITY, subsampling=subsampling, icc_profile=icc_profile)
    return buffer.getvalue()
