"""The Lambda side's image handling, read as its specification."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps, JpegImagePlugin, features

from immichvr_depth.imaging import (
    DepthPng,
    ImageFacts,
    ModelInput,
    Thumbnail,
    fit_depth_png,
    make_thumbnail,
    prepare_model_input,
    probe,
)
from immichvr_depth.platform.errors import InvalidImage

RED = (255, 0, 0)
WHITE = (255, 255, 255)
ORIENTATION = 0x0112


# --- helpers ---------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str = "JPEG", orientation: int | None = None, **params: Any) -> bytes:
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        params["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def marked(width: int, height: int) -> Image.Image:
    """White with a red block in the stored top-left corner: shows where orientation moved it."""
    image = Image.new("RGB", (width, height), WHITE)
    image.paste(RED, (0, 0, width // 4, height // 4))
    return image


def red_corner(image: Image.Image) -> str:
    rgb = image.convert("RGB")
    w, h = rgb.size
    corners = {
        "top-left": (w // 16, h // 16),
        "top-right": (w - 1 - w // 16, h // 16),
        "bottom-left": (w // 16, h - 1 - h // 16),
        "bottom-right": (w - 1 - w // 16, h - 1 - h // 16),
    }
    red = [name for name, xy in corners.items() if _is_red(rgb.getpixel(xy))]
    assert len(red) == 1, red
    return red[0]


def _is_red(pixel: Any) -> bool:
    r, g, b = pixel
    return bool(r > 200 and g < 60 and b < 60)


def decoded(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def png16(values: np.ndarray) -> bytes:
    return encode(Image.fromarray(values.astype(np.uint16)), "PNG")


def zero_width_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    return encode(marked(400, 300), quality=90)


# --- probe -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected_format", "mime_type"),
    [
        ("JPEG", "JPEG", "image/jpeg"),
        ("PNG", "PNG", "image/png"),
        ("WEBP", "WEBP", "image/webp"),
        ("HEIF", "HEIF", "image/heic"),
        pytest.param(
            "AVIF",
            "AVIF",
            "image/avif",
            marks=pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF"),
        ),
    ],
)
def test_probe_reads_format_and_size_from_the_header(fmt: str, expected_format: str, mime_type: str) -> None:
    facts = probe(encode(Image.new("RGB", (64, 48), (10, 200, 30)), fmt))

    assert facts == ImageFacts(
        format=expected_format,
        mime_type=mime_type,
        width=64,
        height=48,
        orientation=1,
        oriented_width=64,
        oriented_height=48,
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_probe_gives_the_oriented_size_for_each_exif_orientation(orientation: int) -> None:
    facts = probe(encode(Image.new("RGB", (64, 48)), orientation=orientation))

    assert (facts.width, facts.height, facts.orientation) == (64, 48, orientation)
    swapped = orientation in {5, 6, 7, 8}
    assert (facts.oriented_width, facts.oriented_height) == ((48, 64) if swapped else (64, 48))


def test_probe_of_a_rotated_heic_reports_the_size_the_decoder_shows() -> None:
    # libheif applies the file's rotation itself, so nothing is left for us to apply.
    facts = probe(encode(Image.new("RGB", (64, 48)), "HEIF", orientation=6))

    assert (facts.orientation, facts.oriented_width, facts.oriented_height) == (1, 48, 64)
    assert (facts.width, facts.height) == (48, 64)


def test_probe_decodes_no_pixels(monkeypatch: pytest.MonkeyPatch, photo_jpeg: bytes) -> None:
    def no_load(self: Image.Image) -> None:
        raise AssertionError("probe decoded pixels")

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", no_load)

    assert probe(photo_jpeg).width == 400


def test_probe_reads_a_stream_from_its_start_and_leaves_it_open(photo_jpeg: bytes) -> None:
    stream = io.BytesIO(photo_jpeg)
    stream.seek(100)

    assert probe(stream).width == 400
    assert not stream.closed
    assert make_thumbnail(stream, 100).width == 100


def test_probe_reports_an_out_of_range_orientation_as_upright() -> None:
    assert probe(encode(Image.new("RGB", (64, 48)), orientation=9)).orientation == 1


# --- prepare_model_input ------------------------------------------------------------------------------


def test_model_input_has_the_requested_short_side_and_keeps_the_aspect(photo_jpeg: bytes) -> None:
    model_input = prepare_model_input(photo_jpeg, short_side=150)

    assert isinstance(model_input, ModelInput)
    assert model_input.content_type == "image/jpeg"
    assert model_input.oriented_size == (400, 300)
    body = decoded(model_input.body)
    assert (body.format, body.mode, body.size) == ("JPEG", "RGB", (200, 150))


def test_model_input_is_never_upscaled(photo_jpeg: bytes) -> None:
    assert decoded(prepare_model_input(photo_jpeg, short_side=1000).body).size == (400, 300)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_model_input_stands_upright(orientation: int) -> None:
    source = encode(marked(400, 300), orientation=orientation, quality=95)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(source)))  # Pillow's reading as the oracle

    model_input = prepare_model_input(source, short_side=150)

    body = decoded(model_input.body)
    assert body.size == ((150, 200) if orientation >= 5 else (200, 150))
    assert model_input.oriented_size == expected.size
    assert red_corner(body) == red_corner(expected)


def test_orientation_6_turns_the_stored_top_left_to_the_top_right() -> None:
    body = decoded(prepare_model_input(encode(marked(400, 300), orientation=6), short_side=150).body)

    assert body.size == (150, 200)
    assert red_corner(body) == "top-right"


def test_model_input_decodes_a_large_jpeg_in_draft_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    drafted: list[tuple[int, int]] = []
    original_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> Any:
        result = original_draft(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    source = encode(Image.new("RGB", (2400, 1600), (90, 120, 150)), quality=80)

    assert decoded(prepare_model_input(source, short_side=200).body).size == (300, 200)
    assert drafted == [(300, 200)]  # decoded at 1/8 scale, not at 2400x1600


def test_model_input_rejects_a_non_positive_short_side(photo_jpeg: bytes) -> None:
    with pytest.raises(ValueError, match="short_side"):
        prepare_model_input(photo_jpeg, short_side=0)


# --- fit_depth_png -------------------------------------------------------------------------------------


def depth_ramp(width: int, height: int) -> np.ndarray:
    """A left-to-right ramp over the whole 16-bit range."""
    return np.tile(np.linspace(0, 65535, width), (height, 1))


def test_depth_png_is_16_bit_at_exactly_the_requested_size() -> None:
    depth = fit_depth_png(png16(depth_ramp(70, 52)), (401, 299))

    assert isinstance(depth, DepthPng)
    assert (depth.width, depth.height) == (401, 299)
    image = decoded(depth.body)
    assert (image.format, image.size) == ("PNG", (401, 299))
    assert image.mode in {"I;16", "I"}
    values = np.asarray(image)
    assert values.min() <= 50
    assert values.max() >= 65535 - 50
    assert depth.sha256 == hashlib.sha256(depth.body).hexdigest()


def test_depth_png_upscales_bilinearly_like_pillow() -> None:
    rng = np.random.default_rng(3)
    answer = rng.integers(0, 65536, size=(40, 30), dtype=np.uint16)

    # 900 rows: several bands, so their seams are checked too.
    values = np.asarray(decoded(fit_depth_png(png16(answer), (2000, 900)).body)).astype(np.int64)

    reference = Image.fromarray(answer).convert("F").resize((2000, 900), Image.Resampling.BILINEAR)
    expected = np.clip(np.asarray(reference) + 0.5, 0, 65535).astype(np.int64)
    assert np.abs(values - expected).max() <= 1


def test_depth_png_at_the_answer_size_keeps_every_value() -> None:
    answer = np.random.default_rng(4).integers(0, 65536, size=(37, 53), dtype=np.uint16)

    values = np.asarray(decoded(fit_depth_png(png16(answer), (53, 37)).body))

    np.testing.assert_array_equal(values, answer)


def test_depth_png_can_also_shrink() -> None:
    depth = fit_depth_png(png16(depth_ramp(200, 100)), (50, 20))

    assert decoded(depth.body).size == (50, 20)


def test_an_8_bit_depth_answer_is_stretched_to_16_bits() -> None:
    answer = encode(Image.fromarray(np.tile(np.linspace(0, 255, 64), (16, 1)).astype(np.uint8)), "PNG")

    values = np.asarray(decoded(fit_depth_png(answer, (64, 16)).body))

    assert (values.min(), values.max()) == (0, 65535)


def test_a_colour_depth_answer_is_refused() -> None:
    with pytest.raises(InvalidImage, match="single-channel"):
        fit_depth_png(encode(Image.new("RGB", (8, 8)), "PNG"), (16, 16))


def test_depth_png_refuses_a_size_beyond_the_pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    with pytest.raises(InvalidImage, match="image too large: 1600 pixels exceeds the 1000 limit"):
        fit_depth_png(png16(depth_ramp(8, 8)), (40, 40))


# --- make_thumbnail -------------------------------------------------------------------------------------


def test_thumbnail_fits_the_long_side_as_a_progressive_rgb_jpeg(photo_jpeg: bytes) -> None:
    thumbnail = make_thumbnail(photo_jpeg, long_side=100)

    assert isinstance(thumbnail, Thumbnail)
    assert (thumbnail.width, thumbnail.height, thumbnail.content_type) == (100, 75, "image/jpeg")
    image = decoded(thumbnail.body)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (100, 75))
    assert image.info.get("progressive") == 1


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_thumbnail_stands_upright_and_drops_the_exif(orientation: int) -> None:
    source = encode(marked(400, 300), orientation=orientation, quality=95)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(source)))

    thumbnail = make_thumbnail(source, long_side=200)

    image = decoded(thumbnail.body)
    assert image.size == (thumbnail.width, thumbnail.height)
    assert image.size == ((150, 200) if orientation >= 5 else (200, 150))
    assert red_corner(image) == red_corner(expected)
    assert image.getexif().get(ORIENTATION) is None


def test_thumbnail_is_never_upscaled_and_keeps_the_colour_profile() -> None:
    profile = b"\x00" * 128  # Pillow stores the bytes as given; enough to see them carried over
    source = encode(Image.new("RGB", (120, 80), (1, 2, 3)), icc_profile=profile)

    thumbnail = make_thumbnail(source)

    assert (thumbnail.width, thumbnail.height) == (120, 80)
    assert decoded(thumbnail.body).info.get("icc_profile") == profile


def test_thumbnail_of_a_heic() -> None:
    thumbnail = make_thumbnail(encode(marked(400, 300), "HEIF", orientation=6), long_side=200)

    assert (thumbnail.width, thumbnail.height) == (150, 200)
    assert red_corner(decoded(thumbnail.body)) == "top-right"


# --- awkward and bad inputs ------------------------------------------------------------------------------


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (60, 40), RED), Image.new("RGB", (60, 40), (0, 0, 255))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit_grey() -> bytes:
    return png16(np.full((40, 60), 0x8000))


def with_alpha(mode: str) -> bytes:
    image = Image.new("RGBA", (60, 40), (0, 0, 0, 0))  # fully transparent black
    return encode(image.convert(mode), "PNG")


@pytest.mark.parametrize(
    ("name", "source", "expected_pixel"),
    [
        ("CMYK JPEG", lambda: encode(Image.new("CMYK", (60, 40), (0, 255, 255, 0))), RED),
        ("palette PNG", lambda: encode(Image.new("RGB", (60, 40), RED).convert("P"), "PNG"), RED),
        ("greyscale JPEG", lambda: encode(Image.new("L", (60, 40), 128)), (128, 128, 128)),
        ("bilevel PNG", lambda: encode(Image.new("1", (60, 40), 1), "PNG"), WHITE),
        ("RGBA PNG", lambda: with_alpha("RGBA"), WHITE),
        ("LA PNG", lambda: with_alpha("LA"), WHITE),
        ("palette PNG with transparency", lambda: with_alpha("P"), WHITE),
        ("16-bit grey PNG", sixteen_bit_grey, (128, 128, 128)),
        ("animated GIF", lambda: animated("GIF"), RED),
        ("animated WebP", lambda: animated("WEBP"), RED),
    ],
)
def test_unusual_modes_become_rgb(name: str, source: Any, expected_pixel: tuple[int, int, int]) -> None:
    data = source()

    for body in (prepare_model_input(data, short_side=20).body, make_thumbnail(data, 30).body):
        image = decoded(body)
        assert image.mode == "RGB", name
        centre = np.asarray(image)[image.height // 2, image.width // 2]
        assert np.allclose(centre, expected_pixel, atol=12), name


def test_an_animation_reports_its_first_frame() -> None:
    assert probe(animated("GIF")).format == "GIF"


BAD_INPUTS = {
    "random bytes": (bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8)), "not an image"),
    "empty": (b"", "not an image"),
    "text": (b"hello, this is not a picture", "not an image"),
    "zero-sized PNG": (zero_width_png(), "not an image"),  # Pillow refuses a 0 in the header
    "float TIFF": (encode(Image.new("F", (8, 8), 0.5), "TIFF"), "unsupported image mode F"),
    "EPS": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_inputs_raise_invalid_image(name: str) -> None:
    data, reason = BAD_INPUTS[name]

    for call in (probe, lambda d: prepare_model_input(d, 64), make_thumbnail):
        if name == "float TIFF" and call is probe:
            continue  # a header is all probe reads, and this one is fine
        with pytest.raises(InvalidImage, match=reason) as raised:
            call(data)
        assert raised.value.message


def test_a_truncated_jpeg_is_invalid_once_pixels_are_needed() -> None:
    source = encode(Image.effect_noise((300, 200), 60).convert("RGB"), quality=90)
    truncated = source[: len(source) // 2]

    assert probe(truncated).width == 300  # headers are intact
    with pytest.raises(InvalidImage, match="truncated image data"):
        prepare_model_input(truncated, 64)
    with pytest.raises(InvalidImage, match="truncated image data"):
        make_thumbnail(truncated)


@pytest.mark.parametrize(("side", "pixels"), [(40, 1600), (50, 2500)])
def test_a_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch, side: int, pixels: int) -> None:
    # 1600 is where Pillow only warns, 2500 (over twice the limit) where it raises.
    source = encode(Image.new("RGB", (side, side)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    for call in (probe, lambda d: prepare_model_input(d, 16), make_thumbnail):
        with pytest.raises(InvalidImage, match=f"image too large: {pixels} pixels exceeds the 1000 limit"):
            call(source)


def test_a_depth_answer_that_is_not_an_image_is_invalid() -> None:
    with pytest.raises(InvalidImage, match="not an image"):
        fit_depth_png(b"\x00" * 100, (10, 10))


# --- property: whatever the bytes, InvalidImage or an answer ------------------------------------------------

_VALID = [
    encode(Image.effect_noise((32, 24), 40).convert("RGB"), fmt)
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "HEIF")
] + [png16(depth_ramp(16, 12))]


@st.composite
def damaged_images(draw: st.DrawFn) -> bytes:
    """A valid small image with a few bytes overwritten and perhaps cut short: reaches far deeper
    into each decoder than random bytes, which fail at the signature."""
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=512), damaged_images()))
def test_any_bytes_give_an_answer_or_invalid_image(data: bytes) -> None:
    for call in (
        probe,
        lambda d: prepare_model_input(d, 16),
        lambda d: make_thumbnail(d, 16),
        lambda d: fit_depth_png(d, (20, 10)),
    ):
        message = "ok"
        try:
            call(data)
        except InvalidImage as error:
            message = error.message
        assert message  # a reason a person can read, never an empty one
