"""A streaming encoder for greyscale PNG (16-bit for stored depth maps, 8-bit for browsers), fed
band by band.

Why not Pillow's encoder: it needs the whole 16-bit image in memory (96 MB at 48 MP, plus the
float image it is converted from), tries all five PNG filters on every row, which costs more than
it saves on depth maps, and deflates with zlib. Here each band is filtered with numpy and handed to
ISA-L's deflate (python-isal) on a second thread while the calling thread makes the next band, so
only the compressed output grows with the image. ISA-L writes an ordinary zlib stream, so the file
is a standard PNG that any decoder reads; it only searches for matches differently, several times
faster than zlib. Resampling, numpy and ISA-L all release the GIL, so where a second core is free
the deflate of one band runs beside the making of the next. (A 2 GB Lambda shows two vCPUs but gets
the CPU time of about 1.2: there the thread saves less than on an idle two-core machine; where no
core is free it costs nothing measurable.)
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from isal import isal_zlib

SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# After the bit depth: colour type 0 (grey), deflate, adaptive filtering, no interlace.
_IHDR_TAIL: Final = bytes([0, 0, 0, 0])
# PNG filter types written here (per row, as the row's first byte).
FILTER_NONE: Final = 0
FILTER_SUB: Final = 1
_MAX_SAMPLE: Final = 65535
_MAX_SAMPLE_8: Final = 255
# Filtered bands handed to the deflate thread and not yet compressed: enough to keep it busy while
# the next band is made, few enough that they stay a few MB whatever the image's size.
_IN_FLIGHT: Final = 2


class Compressor(Protocol):
    """What `zlib.compressobj` and `isal_zlib.compressobj` return."""

    def compress(self, data: memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


def isal_deflate(level: int) -> Compressor:
    """ISA-L's deflate at `level` (0 to 3) with a zlib header and a 32 KiB window."""
    return isal_zlib.compressobj(level)


def chunk(kind: bytes, data: bytes) -> tuple[bytes, bytes, bytes]:
    """A PNG chunk as three pieces to join: length and type, the data itself (not copied), CRC.
    (ISA-L's CRC-32 is the same function as zlib's, about ten times faster.)"""
    crc = isal_zlib.crc32(data, isal_zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind, data, struct.pack(">I", crc)


def encode_gray16(
    bands: Iterable[npt.NDArray[np.floating] | npt.NDArray[np.integer]],
    width: int,
    height: int,
    level: int,
    *,
    deflate: Callable[[int], Compressor] = isal_deflate,
    png_filter: int = FILTER_SUB,
) -> bytes:
    """A PNG of `height` rows taken from `bands` (2-D arrays `width` wide, values 0..65535;
    floats are rounded and clipped), each row filtered with `png_filter` (Sub or None) and the
    whole compressed by `deflate(level)` (ISA-L's unless a study asks for another)."""
    return _encode_gray(bands, width, height, level, 16, deflate, png_filter)


def encode_gray8(
    bands: Iterable[npt.NDArray[np.floating] | npt.NDArray[np.integer]],
    width: int,
    height: int,
    level: int,
    *,
    deflate: Callable[[int], Compressor] = isal_deflate,
    png_filter: int = FILTER_SUB,
) -> bytes:
    """`encode_gray16` for values 0..255, written as an 8-bit PNG: what browsers and WebGL take."""
    return _encode_gray(bands, width, height, level, 8, deflate, png_filter)


def _encode_gray(
    bands: Iterable[npt.NDArray[np.floating] | npt.NDArray[np.integer]],
    width: int,
    height: int,
    level: int,
    bit_depth: int,
    deflate: Callable[[int], Compressor],
    png_filter: int,
) -> bytes:
    if png_filter not in {FILTER_NONE, FILTER_SUB}:
        raise ValueError(f"PNG filter {png_filter} is not one this encoder writes")
    sample_bytes = to_big_endian16 if bit_depth == 16 else to_uint8
    bytes_per_sample = bit_depth // 8
    compressor = deflate(level)
    header = struct.pack(">IIB", width, height, bit_depth) + _IHDR_TAIL
    parts = [SIGNATURE, *chunk(b"IHDR", header)]

    def collect(compressed: Future[bytes]) -> None:
        if data := compressed.result():
            parts.extend(chunk(b"IDAT", data))

    rows = 0
    # One worker: the bands are compressed one after another, in order, by one compressor.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deflate") as deflating:
        pending: deque[Future[bytes]] = deque()
        for band in bands:
            if band.ndim != 2 or band.shape[1] != width:
                raise ValueError(f"band of shape {band.shape} does not fit a width of {width}")
            rows += band.shape[0]
            scanlines = filtered(sample_bytes(band), png_filter, bytes_per_sample)
            pending.append(deflating.submit(compressor.compress, scanlines.data))
            while len(pending) > _IN_FLIGHT:
                collect(pending.popleft())
        while pending:
            collect(pending.popleft())
    if rows != height:
        raise ValueError(f"bands held {rows} rows, the header promised {height}")
    parts.extend(chunk(b"IDAT", compressor.flush()))
    parts.extend(chunk(b"IEND", b""))
    return b"".join(parts)


def to_big_endian16(band: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    """PNG stores 16-bit samples big-endian; returned as bytes, two per sample, one row per row."""
    return _as_samples(band, np.dtype(">u2"), _MAX_SAMPLE)


def to_uint8(band: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    """8-bit samples, one byte each, one row per row."""
    return _as_samples(band, np.dtype(np.uint8), _MAX_SAMPLE_8)


def _as_samples(
    band: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    dtype: np.dtype[np.unsignedinteger],
    maximum: int,
) -> npt.NDArray[np.uint8]:
    samples = np.empty(band.shape, dtype=dtype)
    if np.issubdtype(band.dtype, np.floating):
        # +0.5 then truncation rounds half up; the clip stops out-of-range values wrapping around.
        rounded = band + 0.5
        samples[...] = np.clip(rounded, 0, maximum, out=rounded)
    else:
        samples[...] = np.clip(band, 0, maximum)
    return samples.view(np.uint8).reshape(band.shape[0], -1)


def filtered(
    rows: npt.NDArray[np.uint8], png_filter: int = FILTER_SUB, bytes_per_sample: int = 2
) -> npt.NDArray[np.uint8]:
    """The rows as PNG scanlines: the filter type byte, then the row filtered with it.

    Sub (type 1) stores each byte minus the byte one sample (`bytes_per_sample` bytes) to its left.
    On a smooth 16-bit depth map the low byte becomes the 16-bit slope (near constant) and the high
    byte mostly 0 or 255. Measured on upscaled depth maps it compresses as well as Up or Paeth, and
    much better than no filter, and is the cheapest to compute; one fixed filter also skips Pillow's
    per-row trial of all five. None (type 0) is here for the level study in bench/pipeline.py."""
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = png_filter
    if png_filter == FILTER_SUB:
        step = bytes_per_sample
        out[:, 1 : 1 + step] = rows[:, :step]
        np.subtract(rows[:, step:], rows[:, :-step], out=out[:, 1 + step :])  # uint8 wraps: mod 256
    else:
        out[:, 1:] = rows
    return out
