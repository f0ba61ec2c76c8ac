"""What a browser is sent: a version's photo as a JPEG it displays, and the depth map in 8 bits.

The depth map of a version has exactly the oriented size of that version's source (`fit_depth_png` is
given `prepare_model_input`'s `oriented_size`), so the photo here is that source at full size and
upright: pixel for pixel over its depth map. Nothing is resampled.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from immichvr_depth.imaging._decode import ImageFacts, Source, apply_orientation, decoding, open_image
from immichvr_depth.imaging._depth import _SCALE_8_TO_16, DEPTH_PNG_LEVEL, _bands, _open_depth
from immichvr_depth.imaging._photo import _decode_rgb, _encode_jpeg
from immichvr_depth.imaging._png import encode_gray8

BROWSER_JPEG_QUALITY: Final = 90
# Progressive, as the thumbnail: a browser paints a coarse photo early, which matters at these sizes.
# Measured on a 48 MP EXIF-rotated JPEG (development machine, 2026-12-01): 1.4 s of CPU for 8.7 MB,
# against 0.65 s for 9.8 MB baseline; the peak is 420 MB RSS either way (the decoded photo and its
# rotated copy). Paid once: the caller keeps what it makes.

# Modes a browser shows from an 8-bit JPEG as it is; a four-channel (CMYK or YCCK) JPEG is
# drawn with wrong or inverted colours by some browsers, so it is converted.
_SHOWN_AS_STORED: Final = frozenset({"RGB", "L"})


@dataclass(frozen=True)
class BrowserPhoto:
    """`body` None: the stored bytes are already what a browser should get; serve them as stored.
    `width` x `height` is the photo as shown, the size of its version's depth map either way."""

    body: bytes | None
    width: int
    height: int
    content_type: str = "image/jpeg"


def browser_photo(source: Source, size: tuple[int, int] | None = None) -> BrowserPhoto:
    """The photo upright (EXIF orientation applied) as a JPEG, at its full oriented size or at `size`
    (upright width and height, e.g. a preview tier's): the source itself when it already is one a
    browser shows as it stands at that size, else a progressive RGB JPEG (quality 90, its colour
    profile kept, no EXIF: no GPS in a derivative)."""
    im, facts = open_image(source)
    oriented = (facts.oriented_width, facts.oriented_height)
    target = size or oriented
    # The size to decode to, in the stored orientation (a quarter turn swaps the sides).
    stored_target = target if facts.oriented_width == facts.width else (target[1], target[0])
    with decoding(), im:
        if target == oriented and _shown_as_stored(im, facts):
            return BrowserPhoto(body=None, width=facts.oriented_width, height=facts.oriented_height)
        icc_profile = im.info.get("icc_profile")
        if im.mode == "CMYK":
            im.load()
            rgb = _cmyk_to_srgb(im, icc_profile)
            icc_profile = None  # a CMYK profile does not describe RGB pixels; these are sRGB now
            if rgb.size != stored_target:
                rgb = rgb.resize(stored_target, Image.Resampling.LANCZOS)
        else:
            rgb = _decode_rgb(im, stored_target)
        _release(im, kept=rgb)
        upright = apply_orientation(rgb, facts.orientation)
        _release(rgb, kept=upright)
        # Pillow copies an image's comment (a JPEG's or a GIF's) into the JPEG it writes.
        upright.info.pop("comment", None)
        body = _encode_jpeg(upright, quality=BROWSER_JPEG_QUALITY, progressive=True, icc_profile=icc_profile)
    return BrowserPhoto(body=body, width=upright.width, height=upright.height)


def _shown_as_stored(im: Image.Image, facts: ImageFacts) -> bool:
    """An 8-bit RGB or grey JPEG with nothing to turn (an MPO counts: browsers show its first frame,
    the one every other reading here decodes). Pillow opens no other bit depth of JPEG."""
    return facts.format == "JPEG" and facts.orientation == 1 and im.mode in _SHOWN_AS_STORED


def _cmyk_to_srgb(im: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Through the file's own CMYK profile where LittleCMS can use it (press profiles differ far
    more than RGB ones, and Pillow's plain conversion knows none of them), else Pillow's conversion."""
    converted = _through_profile(im, icc_profile) if icc_profile else None
    return converted if converted is not None else im.convert("RGB")


def _through_profile(im: Image.Image, icc_profile: bytes) -> Image.Image | None:
    try:
        from PIL import ImageCms
    except ImportError:  # pragma: no cover - Pillow built without LittleCMS
        return None
    try:
        return ImageCms.profileToProfile(
            im,
            ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)),
            ImageCms.createProfile("sRGB"),
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile, or not a CMYK one: the plain conversion still gives a photo


def _release(done: Image.Image, kept: Image.Image) -> None:
    """Free `done`'s pixels now where the next step made a new image of them: at 48 MP each full
    copy is 144 MB, and without this the source, its conversion and its rotation would all be held
    until the encode ends."""
    if kept is not done:
        done.close()


def depth_png8(depth_png16: bytes) -> bytes:
    """The 16-bit depth map as an 8-bit greyscale PNG (near bright, as stored), each value
    round(v / 257), so 0 stays 0 and 65535 becomes 255. Encoded band by band."""
    depth = _open_depth(depth_png16)
    with decoding(), depth:
        return encode_gray8(_eight_bit_bands(depth), depth.width, depth.height, DEPTH_PNG_LEVEL)


def _eight_bit_bands(depth: Image.Image) -> Iterator[npt.NDArray[np.float32]]:
    # The encoder rounds half up; v / 257 never falls on a half, so that is round(v / 257).
    for band in _bands(depth, depth.size):
        yield band / np.float32(_SCALE_8_TO_16)
