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
from typing import IO, BinaryIO, Final, cast

import pillow_heif
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError, features

from immichvr_depth.platform.errors import InvalidImage

Source = BinaryIO | bytes
_JXL: Final = "JXL"  # the format pillow-jxl-plugin registers


def _register_openers() -> bool:
    """HEIC/HEIF through pillow-heif; AVIF natively (Pillow >= 11.3) or through an older pillow-heif;
    JPEG XL through pillow-jxl-plugin where it is installed (Pillow has no JPEG XL decoder of its
    own). True when JPEG XL is there."""
    pillow_heif.register_heif_opener()
    Image.init()
    register_avif = getattr(pillow_heif, "register_avif_opener", None)
    if not features.check("avif") and register_avif is not None:  # pragma: no cover - old Pillow only
        register_avif()
    try:
        import pillow_jxl  # noqa: F401  (registers "JXL" with Pillow as it is imported)
    except ImportError:  # pragma: no cover - a layer built without it
        return False
    _guard_jxl_opener()
    return True


def _guard_jxl_opener() -> None:
    """The plugin decodes every pixel while Pillow opens the file, before Pillow compares the size
    with its limit: a few bytes declaring 100000x100000 would allocate 30 GB. The size is read from
    the codestream's header first, so the plugin only ever decodes what the limit allows."""
    factory, accept = Image.OPEN[_JXL]

    def checked_factory(fp: IO[bytes], filename: str | bytes) -> ImageFile.ImageFile:
        _refuse_oversized(jxl_size(fp))
        fp.seek(0)
        return factory(fp, filename)

    Image.register_open(_JXL, checked_factory, accept)


def _refuse_oversized(size: tuple[int, int]) -> None:
    """Pillow's own refusal (it raises past twice the limit and warns past it; `decoding()` makes
    both refusals), for a decoder that would allocate before Pillow checks."""
    pixels = size[0] * size[1]
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and pixels > limit:
        raise Image.DecompressionBombError(f"Image size ({pixels} pixels) exceeds limit of {limit} pixels")


_HAS_JXL: Final = _register_openers()

# Formats a photo library holds. Naming them also keeps Pillow from trying every plugin it has
# (EPS would start Ghostscript on untrusted input). AVIF goes before HEIF: both are ISO-BMFF.
# A format Pillow has no opener for must not be named: Pillow raises KeyError for it.
ALLOWED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "AVIF", "HEIF", "GIF", "TIFF", "BMP") + (
    (_JXL,) if _HAS_JXL else ()
)

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
    _JXL: "image/jxl",
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


# JPEG XL's SizeHeader (ISO/IEC 18181-1, the first field after the codestream's signature).
_JXL_CODESTREAM: Final = b"\xff\x0a"
_JXL_HEAD_BYTES: Final = 16  # the signature and the longest SizeHeader (68 bits), with room
_JXL_SIZE_BITS: Final = (9, 13, 18, 30)  # U32 distributions of a side that is not a multiple of 8
_JXL_RATIOS: Final = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
_JXL_MAX_BOXES: Final = 64  # metadata boxes may precede the codestream's; a real file has a few


def jxl_size(fp: IO[bytes]) -> tuple[int, int]:
    """The (width, height) a JPEG XL file declares, before orientation, from the headers alone:
    a bare codestream, or its first jxlc/jxlp box in the ISO BMFF container (ISO/IEC 18181-2).
    ValueError where no such header can be read (then libjxl could not decode the file either)."""
    bits = _LsbBits(_jxl_codestream_head(fp))
    if bits.read(16) != int.from_bytes(_JXL_CODESTREAM, "little"):
        raise ValueError("JPEG XL file without a codestream")
    small = bits.read(1)
    height = _jxl_side(bits, small)
    ratio = bits.read(3)
    if ratio == 0:
        width = _jxl_side(bits, small)
    else:
        numerator, denominator = _JXL_RATIOS[ratio]
        width = height * numerator // denominator
    return width, height


def _jxl_side(bits: _LsbBits, small: int) -> int:
    if small:
        return (bits.read(5) + 1) * 8
    return bits.read(_JXL_SIZE_BITS[bits.read(2)]) + 1


def _jxl_codestream_head(fp: IO[bytes]) -> bytes:
    """The codestream's first bytes, from wherever the file keeps them."""
    fp.seek(0)
    start = fp.read(_JXL_HEAD_BYTES)
    if start.startswith(_JXL_CODESTREAM):
        return start
    fp.seek(0)
    head = b""
    for _ in range(_JXL_MAX_BOXES):
        box_start = fp.tell()
        box = fp.read(8)
        if len(box) < 8:
            break
        size, kind = struct.unpack(">I4s", box)
        if size == 1:  # a 64-bit size follows the type
            large = fp.read(8)
            if len(large) < 8:
                break
            (size,) = struct.unpack(">Q", large)
        if kind in {b"jxlc", b"jxlp"}:
            if kind == b"jxlp":
                fp.read(4)  # the part's index; a codestream may be split over several parts
            available = _JXL_HEAD_BYTES if size == 0 else box_start + size - fp.tell()
            head += fp.read(max(0, min(_JXL_HEAD_BYTES - len(head), available)))
            if kind == b"jxlc" or len(head) >= _JXL_HEAD_BYTES:
                return head
        if size == 0:  # the box runs to the end of the file
            break
        if size < fp.tell() - box_start:
            raise ValueError("JPEG XL box with a size shorter than its header")
        fp.seek(box_start + size)
    return head


class _LsbBits:
    """JPEG XL's bit order: each field's least significant bit first, from each byte's lowest bit."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "little")
        self._available = 8 * len(data)
        self._position = 0

    def read(self, count: int) -> int:
        if self._position + count > self._available:
            raise ValueError("JPEG XL header cut short")
        value = (self._value >> self._position) & ((1 << count) - 1)
        self._position += count
        return value


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
    orientation = 1 if _decoder_oriented(im) else orientation_of(im)
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


def _decoder_oriented(im: Image.Image) -> bool:
    """libjxl turns the pixels by the codestream's orientation, which the JPEG XL standard puts above
    an Exif box's: what is left to apply is nothing, whatever the Exif says. A recompressed JPEG
    comes back as that JPEG instead (the plugin's `jpeg`), stored pixels and the JPEG's own EXIF."""
    return im.format == _JXL and not getattr(im, "jpeg", False)


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
