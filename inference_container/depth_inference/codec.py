"""Bytes in and out: decoding the request's image safely and encoding the 16-bit depth PNG."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping
from http import HTTPStatus

import numpy as np
import numpy.typing as npt
from isal import isal_zlib
from PIL import Image, ImageOps, UnidentifiedImageError

from depth_inference.errors import InvalidInput

try:
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - the container and the project both install it
    HEIF_SUPPORTED = False
else:
    register_heif_opener()
    HEIF_SUPPORTED = True

_FORMAT_BY_CONTENT_TYPE = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    **({"image/heic": "HEIF", "image/heif": "HEIF"} if HEIF_SUPPORTED else {}),
}
# Only these decoders may ever see a request body: Pillow can open many more formats, some through
# external programs, and none of them is needed here.
_ALLOWED_FORMATS = sorted(set(_FORMAT_BY_CONTENT_TYPE.values()))

SUPPORTED_CONTENT_TYPES = tuple(_FORMAT_BY_CONTENT_TYPE)

# ISA-L deflate level (0 to 3) of the answer's PNG, Sub filter. Measured with bench/pipeline.py
# --png-levels on a 1036x1381 answer (2.9 MB raw), 2026-12-01: level 1 takes 7 ms for 2.03 MB, where
# zlib level 1 (used before ISA-L) took 47 ms for 2.08 MB; level 2 is 1% smaller and no faster, level
# 0 37% larger. The Up filter this encoder used before compresses these maps within 1% of Sub.
PNG_COMPRESS_LEVEL = 1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GRAYSCALE = 0
_PNG_FILTER_SUB = 1


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in _FORMAT_BY_CONTENT_TYPE:
        raise InvalidInput(
            f"content type {media_type or '(none)'!r} is not supported; send one of "
            f"{', '.join(SUPPORTED_CONTENT_TYPES)}",
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        )


def decode_rgb(data: bytes) -> npt.NDArray[np.uint8]:
    """The image as an upright (EXIF orientation applied) H x W x 3 uint8 array."""
    if not data:
        raise InvalidInput("the request body is empty; send the image bytes")
    try:
        with Image.open(io.BytesIO(data), formats=_ALLOWED_FORMATS) as image:
            _check_pixels(image.width, image.height)
            image.load()
            upright = ImageOps.exif_transpose(image)
            # A copy Torch can own: arrays over Pillow's buffer are read-only.
            return np.array(upright.convert("RGB"))
    except Image.DecompressionBombError as exc:
        raise InvalidInput(str(exc), HTTPStatus.REQUEST_ENTITY_TOO_LARGE) from None
    except UnidentifiedImageError:
        raise InvalidInput(
            f"the request body is not an image in a supported format ({', '.join(_ALLOWED_FORMATS)})"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated or corrupt data through these; the message says what it found.
        raise InvalidInput(f"the image could not be decoded: {exc}") from None


def _check_pixels(width: int, height: int) -> None:
    # Pillow only raises above twice its limit and merely warns in between; either way it is a bomb here.
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise InvalidInput(
            f"the image has {width * height} pixels ({width}x{height}), more than the limit of {limit}",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )


def encode_png16(values: npt.NDArray[np.uint16], text: Mapping[str, str] | None = None) -> bytes:
    """A 16-bit grayscale PNG of an H x W uint16 array, with `text` as tEXt chunks (keyword: value).

    The text carries the answer's provenance inside the file (model, input size, depth range): an
    asynchronous endpoint stores only the body in S3, without the response's headers. The chunks come
    before the image data, so a reader finds them without decoding a pixel.

    Written here rather than by Pillow, which took 1.5 to 4 times as long on depth-like maps for a file
    as large or larger (it chooses a filter per row) and deflates with zlib. The recipe is the Lambda
    layer's (immichvr_depth/imaging/_png.py, which this container cannot import): the Sub filter on
    every row, then ISA-L's deflate, which writes a standard zlib stream several times faster than zlib
    and releases the GIL, so concurrent requests encode in parallel.
    """
    height, width = values.shape
    big_endian = values.astype(">u2").view(np.uint8).reshape(height, width * 2)
    rows = np.empty((height, width * 2 + 1), np.uint8)
    rows[:, 0] = _PNG_FILTER_SUB
    rows[:, 1:3] = big_endian[:, :2]
    # Each byte minus the byte one sample (2 bytes) to its left; uint8 arithmetic wraps modulo 256,
    # which is exactly the PNG filter's byte arithmetic.
    np.subtract(big_endian[:, 2:], big_endian[:, :-2], out=rows[:, 3:])
    data = isal_zlib.compress(rows.data, PNG_COMPRESS_LEVEL)
    header = struct.pack(">IIBBBBB", width, height, 16, _PNG_GRAYSCALE, 0, 0, 0)
    texts = b"".join(_text_chunk(keyword, value) for keyword, value in (text or {}).items())
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + texts + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _text_chunk(keyword: str, value: str) -> bytes:
    # PNG keywords are 1 to 79 Latin-1 characters without NUL; the text is Latin-1 too (a character
    # outside it, say in a local model directory's name, becomes "?").
    if not 1 <= len(keyword) <= 79 or "\0" in keyword or "\0" in value:
        raise ValueError(f"{keyword!r} cannot be a PNG text keyword with that value")
    return _chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + value.encode("latin-1", errors="replace"))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
