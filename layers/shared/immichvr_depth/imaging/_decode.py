"""Opening untrusted image bytes: format allowlist, size limits, EXIF orientation, error mapping."""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Final, cast

import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError, features

from immichvr_depth.platform.errors import InvalidImage

Source = BinaryIO | bytes


def _register_openers() -> None:
    """HEIC/HEIF through pillow-heif; AVIF natively (Pillow >= 11.3) or through an older pillow-heif."""
    pillow_heif.register_heif_opener()
    Image.init()
    register_avif = getattr(pillow_heif, "register_avif_opener", None)
    if not features.check("avif") and register_avif is not None:  # pragma: no cover - old Pillow only
        register_avif()


_register_openers()

# Formats a photo library holds. Naming them also keeps Pillow from trying every plugin it has
# (EPS would start Ghostscript on untrusted input). AVIF goes before HEIF: both are ISO-BMFF.
ALLOWED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "AVIF", "HEIF", "GIF", "TIFF", "BMP")

_MIME_BY_FORMAT: Final = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a JPEG with extra frames (phones' depth or HDR data): browsers see a JPEG
    "PNG": "image/png",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "HEIF": "image/heif",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}
_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})

# Exception types Pillow and its plugins raise on malformed input. Pillow's own code raises
# SyntaxError, struct.error or IndexError for broken headers, OSError for broken data,
# pillow-heif raises ValueError/RuntimeError. Our own bugs (AttributeError, NameError...) still surface.
_DECODE_ERRORS: Final = (
    OSError,  # includes UnidentifiedImageError and truncated data
    SyntaxError,
    ValueError,
    TypeError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
    ZeroDivisionError,
    OverflowError,
    RuntimeError,
    NotImplementedError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)
_PIXELS = re.compile(r"\((\d+) pixels\)")

# Values are the transposition that undoes each EXIF orientation (the same table as
# PIL.ImageOps.exif_transpose, which we avoid because it copies the full-size image).
_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ImageFacts:
    """What the header says. `orientation` is what is still to be applied to the decoded pixels:
    HEIF decoders apply the file's own rotation, so a HEIC reports 1 and its displayed size."""

    format: str
    mime_type: str
    width: int
    height: int
    orientation: int
    oriented_width: int
    oriented_height: int


def probe(source: Source) -> ImageFacts:
    """Format, size and orientation from the headers; no pixel is decoded."""
    im, facts = open_image(source)
    im.close()
    return facts


@contextmanager
def decoding() -> Iterator[None]:
    """Turn whatever a decoder raises on bad input into InvalidImage with a reason people can read."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; for us both are refusals.
            # (The filter is process-wide while it lasts; a Lambda runs one event at a time.)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except _DECODE_ERRORS as exc:
        raise InvalidImage(_reason(exc), cause=type(exc).__name__) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        found = _PIXELS.search(text)
        pixels = found.group(1) if found else "too many"
        return f"image too large: {pixels} pixels exceeds the {Image.MAX_IMAGE_PIXELS} limit"
    if isinstance(exc, UnidentifiedImageError):
        return f"not an image (or not one of {', '.join(ALLOWED_FORMATS)})"
    if "truncated" in text or isinstance(exc, EOFError):
        return "truncated image data"
    return f"undecodable image: {text or type(exc).__name__}"


class _Borrowed(io.BufferedIOBase):
    """A caller's stream lent to Pillow, which closes the file of an image it closes: closing this
    view leaves the caller's stream open."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._stream.read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


def as_stream(source: Source) -> BinaryIO:
    """A seekable stream over the source: Pillow needs to seek, and we peek at the ISO-BMFF brand."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source)
    if source.seekable():
        return cast(BinaryIO, _Borrowed(source))
    return io.BytesIO(source.read())


def open_image(source: Source) -> tuple[Image.Image, ImageFacts]:
    """Open lazily (headers only), refusing formats outside the allowlist and empty images.

    The caller closes the image and runs further Pillow calls inside `decoding()`."""
    stream = as_stream(source)
    stream.seek(0)  # Pillow reads an image from the start of a stream, whatever its position
    head = stream.read(12)
    stream.seek(0)
    if not head:
        raise InvalidImage("not an image: no data")
    with decoding():
        im = Image.open(stream, formats=ALLOWED_FORMATS)
    if im.width <= 0 or im.height <= 0:
        im.close()
        raise InvalidImage(f"zero-sized image: {im.width}x{im.height}")
    return im, _facts_of(im, brand=head[8:12])


def _facts_of(im: Image.Image, brand: bytes) -> ImageFacts:
    fmt = "JPEG" if im.format == "MPO" else (im.format or "")
    orientation = orientation_of(im)
    width, height = im.size
    oriented_w, oriented_h = (height, width) if orientation >= 5 else (width, height)
    return ImageFacts(
        format=fmt,
        mime_type=_mime_type(fmt, brand),
        width=width,
        height=height,
        orientation=orientation,
        oriented_width=oriented_w,
        oriented_height=oriented_h,
    )


def _mime_type(fmt: str, brand: bytes) -> str:
    if fmt == "HEIF" and brand in _HEIC_BRANDS:
        return "image/heic"
    return _MIME_BY_FORMAT.get(fmt) or Image.MIME.get(fmt, "application/octet-stream")


def orientation_of(im: Image.Image) -> int:
    """The EXIF orientation, 1 when absent, out of range or unreadable: a broken EXIF block
    is common in the wild and no reason to refuse the pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" and friends
            value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(im: Image.Image, orientation: int) -> Image.Image:
    """Rotate/flip so the pixels stand as the photographer saw them. Done after downscaling: cheap."""
    transpose = _TRANSPOSE.get(orientation)
    return im if transpose is None else im.transpose(transpose)
