"""Bytes in and out: decoding the request's image safely and encoding the 16-bit depth PNG."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping
from http import HTTPStatus

import numpy as np
import numpy.typing as npt
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

# Depth is smooth, so the fastest zlib level already compresses well and keeps encoding to milliseconds.
PNG_COMPRESS_LEVEL = 1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GRAYSCALE = 0
_PNG_FILTER_UP = 2


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
    as large or larger (it chooses a filter per row). Depth changes little from one row to the next,
    so the Up filter on every row does as well; zlib releases the GIL, so concurrent requests encode
    in parallel.
    """
    height, width = values.shape
    big_endian = values.astype(">u2").view(np.uint8).reshape(height, width * 2)
    rows = np.empty((height, width * 2 + 1), np.uint8)
    rows[:, 0] = _PNG_FILTER_UP
    rows[0, 1:] = big_endian[0]
    # uint8 arithmetic wraps modulo 256, which is exactly the PNG filter's byte arithmetic.
    np.subtract(big_endian[1:], big_endian[:-1], out=rows[1:, 1:])
    compressor = zlib.compressobj(PNG_COMPRESS_LEVEL)
    data = compressor.compress(rows.data) + compressor.flush()
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
