"""Photos made smaller: the depth endpoint's request and the viewer's preview."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image

from immichvr_depth.imaging._decode import Source, apply_orientation, decoding, open_image
from immichvr_depth.platform.errors import InvalidImage

# 95 keeps JPEG artefacts far below what a depth model reacts to. Measured on a 1381x1036 request
# (bench/pipeline.py --encodings): 189 kB in 6 ms, against 1.6 MB in 185 ms as PNG level 1.
MODEL_INPUT_QUALITY: Final = 95
THUMBNAIL_QUALITY: Final = 85
# Pillow's advice: reduce by an integer box first while the rest stays >= 3x; indistinguishable
# from a plain Lanczos pass and much cheaper for sources JPEG draft cannot shrink (PNG, HEIC).
_REDUCING_GAP: Final = 3.0
# Transparent pixels are shown on white by most viewers; their RGB values are often garbage.
_BACKGROUND: Final = (255, 255, 255)

_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_CONVERTIBLE_MODES: Final = frozenset({"1", "P", "CMYK", "YCbCr", "RGBX"})


@dataclass(frozen=True)
class ModelInput:
    """The body to send to the depth endpoint; `oriented_size` is the full-size photo's (w, h)."""

    body: bytes
    content_type: str
    oriented_size: tuple[int, int]


@dataclass(frozen=True)
class Thumbnail:
    body: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"
    quality: int = THUMBNAIL_QUALITY


def prepare_model_input(source: Source, short_side: int) -> ModelInput:
    """Decode just enough to get the short side down to `short_side`, upright, RGB, as JPEG."""
    _require_positive("short_side", short_side)
    im, facts = open_image(source)
    with decoding(), im:
        rgb = _decode_rgb(im, fit_short_side(im.size, short_side))
        body = _encode_jpeg(apply_orientation(rgb, facts.orientation), quality=MODEL_INPUT_QUALITY)
    return ModelInput(
        body=body,
        content_type="image/jpeg",
        oriented_size=(facts.oriented_width, facts.oriented_height),
    )


def make_thumbnail(source: Source, long_side: int = 1440) -> Thumbnail:
    """The viewer's preview: upright, long side <= `long_side`, progressive JPEG, no EXIF (no GPS
    leaks into a public preview) but the colour profile, so wide-gamut photos keep their colours."""
    _require_positive("long_side", long_side)
    im, facts = open_image(source)
    with decoding(), im:
        icc_profile = im.info.get("icc_profile")
        upright = apply_orientation(_decode_rgb(im, fit_long_side(im.size, long_side)), facts.orientation)
        body = _encode_jpeg(upright, quality=THUMBNAIL_QUALITY, progressive=True, icc_profile=icc_profile)
    return Thumbnail(body=body, width=upright.width, height=upright.height)


def fit_short_side(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """`size` scaled so its short side is `short_side`, aspect kept; never larger than `size`."""
    return _scaled(size, short_side / min(size))


def fit_long_side(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    return _scaled(size, long_side / max(size))


def _scaled(size: tuple[int, int], factor: float) -> tuple[int, int]:
    if factor >= 1:
        return size
    width, height = size
    return max(1, round(width * factor)), max(1, round(height * factor))


def _require_positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def _decode_rgb(im: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Pixels at exactly `target` (stored orientation), RGB. JPEG decodes at 1/2, 1/4 or 1/8 scale
    in the DCT domain (draft) whenever that still leaves at least `target`; other formats ignore it."""
    im.draft("RGB", target)
    im.load()
    pixels = _resizable(im)
    if pixels.size != target:
        pixels = pixels.resize(target, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
    return _as_rgb(pixels)


def _resizable(im: Image.Image) -> Image.Image:
    """One of L, RGB, RGBA: modes Pillow resamples properly (RGBA with premultiplied alpha)."""
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        return _to_eight_bit(im)
    if mode in _ALPHA_MODES or "transparency" in im.info:
        return im if mode == "RGBA" else im.convert("RGBA")
    if mode in {"L", "RGB"}:
        return im
    if mode in _CONVERTIBLE_MODES:
        return im.convert("RGB")
    raise InvalidImage(f"unsupported image mode {mode}")


def _to_eight_bit(im: Image.Image) -> Image.Image:
    """16-bit grey: keep the high byte. Pillow's own conversion clips at 255 (a white image)."""
    values = np.asarray(im)
    if im.mode == "I":  # 32-bit container, usually holding 16-bit samples
        values = np.clip(values, 0, 65535)
    return Image.fromarray((values >> 8).astype(np.uint8))


def _as_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGBA":
        flat = Image.new("RGB", im.size, _BACKGROUND)
        flat.paste(im, mask=im.getchannel("A"))
        return flat
    return im if im.mode == "RGB" else im.convert("RGB")


def _encode_jpeg(
    im: Image.Image, *, quality: int, progressive: bool = False, icc_profile: bytes | None = None
) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=quality, progressive=progressive, icc_profile=icc_profile)
    return buffer.getvalue()
