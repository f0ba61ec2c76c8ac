"""A 16-bit greyscale PNG reader built from zlib and numpy alone: the check, independent of Pillow,
that what our encoders write is a standard PNG whose image data is an ordinary zlib stream."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BYTES_PER_SAMPLE = 2


@dataclass(frozen=True)
class Png:
    values: np.ndarray  # H x W uint16
    chunks: list[bytes]  # chunk types in file order
    idat: bytes  # the compressed stream, IDAT chunks joined
    filters: set[int]  # the filter types the rows use


def read_gray16(png: bytes) -> Png:
    """Every chunk's CRC checked, the IDAT stream inflated by zlib (which checks its Adler-32 and
    that it ends where the data ends), the row filters undone."""
    assert png[:8] == SIGNATURE
    position, kinds, header, idat = 8, [], b"", []
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        data = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + data) == crc, f"bad CRC in {kind!r}"
        kinds.append(kind)
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            idat.append(data)
        position += 12 + length
    assert kinds[0] == b"IHDR"
    assert kinds[-1] == b"IEND"
    width, height, *rest = struct.unpack(">IIBBBBB", header)
    assert rest == [16, 0, 0, 0, 0]  # 16-bit grey, deflate, adaptive filtering, no interlace
    stream = b"".join(idat)
    inflater = zlib.decompressobj()
    raw = inflater.decompress(stream)
    assert inflater.eof
    assert not inflater.unused_data
    stride = width * _BYTES_PER_SAMPLE
    assert len(raw) == height * (stride + 1)
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), np.uint8)
    previous = np.zeros(stride, np.uint8)
    for y in range(height):
        kind, line = int(rows[y, 0]), rows[y, 1:].copy()
        if kind == 1:  # Sub: each byte plus the reconstructed byte one sample to the left
            for phase in range(_BYTES_PER_SAMPLE):
                line[phase::_BYTES_PER_SAMPLE] = np.cumsum(line[phase::_BYTES_PER_SAMPLE], dtype=np.uint8)
        elif kind == 2:  # Up: plus the byte above
            line += previous
        else:
            assert kind == 0, f"filter type {kind} is not one our encoders write"
        image[y] = previous = line
    values = image.view(">u2").astype(np.uint16)
    return Png(values=values, chunks=kinds, idat=stream, filters={int(f) for f in rows[:, 0]})


def depth_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A float map shaped like a stored depth map: a model-sized answer (a slope, a few objects at
    their own depth, the model's fine texture) upscaled bilinearly, as fit_depth_png does."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    small_w, small_h = max(2, width // 5), max(2, height // 5)
    y = np.linspace(0, 1, small_h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, small_w, dtype=np.float32)[None, :]
    answer = Image.fromarray((0.2 + 0.6 * y + 0.05 * np.sin(5 * x)) * np.ones_like(x), "F")
    draw = ImageDraw.Draw(answer)
    for _ in range(8):
        x0, y0 = int(rng.integers(0, small_w)), int(rng.integers(0, small_h))
        side = int(rng.integers(small_w // 10 + 1, small_w // 3 + 2))
        draw.ellipse((x0, y0, x0 + side, y0 + side), fill=float(rng.random()))
    values = np.asarray(answer) + rng.normal(0, 0.001, (small_h, small_w)).astype(np.float32)
    scaled = Image.fromarray(values * 65535, "F").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(scaled)
