"""JPEG XL originals (Immich accepts `image/jxl`), read through pillow-jxl-plugin: the same entry
points, allowlist and size limits as every other format, and a header check before its decoder runs,
which decodes every pixel while Pillow is still opening the file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pillow_jxl import JpegXLImagePlugin

from immichvr_depth.imaging import ImageFacts, make_thumbnail, prepare_model_input, probe
from immichvr_depth.imaging._decode import ALLOWED_FORMATS, jxl_size
from immichvr_depth.imaging._renditions import browser_photo
from immichvr_depth.platform.errors import InvalidImage
from tests.unit.imaging.test_imaging import ORIENTATION, decoded, encode, marked, red_corner

CONTAINER_SIGNATURE = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
SIDE_BITS = (9, 13, 18, 30)  # the U32 distributions of a side in the SizeHeader


def jxl(image: Image.Image, **params: Any) -> bytes:
    return encode(image, "JXL", **params)


def size_header(width: int, height: int) -> bytes:
    """A bare codestream's signature and SizeHeader declaring `width` x `height` (sides written in
    full, no fixed aspect ratio), then zeros: nothing a decoder could make an image of."""

    def side(value: int) -> list[tuple[int, int]]:
        selector = next(i for i, bits in enumerate(SIDE_BITS) if value - 1 < 1 << bits)
        return [(selector, 2), (value - 1, SIDE_BITS[selector])]

    fields = [(0, 1), *side(height), (0, 3), *side(width)]  # not "small"; ratio 0: the width follows
    value, position = 0, 0
    for field, bits in fields:
        value |= field << position
        position += bits
    return b"\xff\x0a" + value.to_bytes((position + 7) // 8, "little") + bytes(32)


def box(kind: bytes, content: bytes) -> bytes:
    return (8 + len(content)).to_bytes(4, "big") + kind + content


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("libjxl was asked to decode")

    monkeypatch.setattr(JpegXLImagePlugin, "Decoder", refuse)


# --- the four entry points ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params", [{}, {"lossless": True}, {"use_container": True}], ids=["lossy", "lossless", "container"]
)
def test_probe_reads_a_jpeg_xl(params: dict[str, Any]) -> None:
    assert probe(jxl(Image.new("RGB", (64, 48), (10, 200, 30)), **params)) == ImageFacts(
        format="JXL",
        mime_type="image/jxl",
        width=64,
        height=48,
        orientation=1,
        oriented_width=64,
        oriented_height=48,
    )


def test_a_jpeg_xl_goes_through_every_entry_point() -> None:
    source = jxl(marked(400, 300), quality=95)

    model_input = decoded(prepare_model_input(source, short_side=150).body)
    thumbnail = make_thumbnail(source, long_side=200)
    photo = browser_photo(source)

    assert (model_input.format, model_input.size) == ("JPEG", (200, 150))
    assert (thumbnail.width, thumbnail.height) == (200, 150)
    assert (photo.width, photo.height) == (400, 300)
    assert photo.body is not None  # browsers do not all show JPEG XL: always converted
    shown = decoded(photo.body)
    assert (shown.format, shown.mode, shown.size) == ("JPEG", "RGB", (400, 300))
    for image in (model_input, decoded(thumbnail.body), shown):
        assert red_corner(image) == "top-left"


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "I;16"])
def test_other_jpeg_xl_modes_become_rgb(mode: str) -> None:
    image = Image.new("RGBA", (60, 40), (200, 200, 200, 255)).convert(mode)
    if mode == "I;16":
        image = Image.fromarray(np.full((40, 60), 0xC800, np.uint16))

    photo = browser_photo(jxl(image, lossless=True))

    assert photo.body is not None
    shown = decoded(photo.body)
    assert (shown.mode, shown.size) == ("RGB", (60, 40))
    assert np.allclose(np.asarray(shown)[20, 30], (200, 200, 200), atol=4)


def test_the_exif_orientation_of_a_jpeg_xl_is_not_applied_twice() -> None:
    # libjxl applies the codestream's orientation itself, and the standard ranks it above an Exif
    # box's: this file's codestream says upright, its Exif says 6, and viewers show it upright.
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    source = jxl(marked(400, 300), exif=exif.tobytes())
    assert Image.open(io.BytesIO(source)).getexif().get(ORIENTATION) == 6

    facts = probe(source)
    photo = browser_photo(source)

    assert (facts.orientation, facts.oriented_width, facts.oriented_height) == (1, 400, 300)
    assert photo.body is not None
    assert (photo.width, photo.height) == (400, 300)
    assert red_corner(decoded(photo.body)) == "top-left"


def test_a_jpeg_recompressed_as_jpeg_xl_is_turned_by_its_jpegs_exif(tmp_path: Path) -> None:
    # A lossless recompression comes back as the very JPEG, stored pixels and EXIF orientation.
    original = tmp_path / "photo.jpg"
    original.write_bytes(encode(marked(400, 300), orientation=6, quality=95))
    with Image.open(original) as jpeg:
        source = jxl(jpeg, lossless_jpeg=True)

    facts = probe(source)
    photo = browser_photo(source)

    assert (facts.format, facts.orientation, facts.oriented_width, facts.oriented_height) == (
        "JXL",
        6,
        300,
        400,
    )
    assert prepare_model_input(source, short_side=150).oriented_size == (300, 400)
    assert photo.body is not None
    shown = decoded(photo.body)
    assert shown.size == (300, 400)
    assert red_corner(shown) == "top-right"
    assert not shown.getexif()
    assert red_corner(decoded(make_thumbnail(source, long_side=200).body)) == "top-right"


# --- the header read before decoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (1, 1),
        (8, 8),  # "small": both sides multiples of 8 up to 256
        (256, 16),
        (264, 256),  # just past "small"
        (513, 1),  # the U32 distributions of a side: 9 bits (77), 13, 18 (30: crafted below)
        (1, 8193),
        (120, 100),  # each fixed aspect ratio: 12:10, 4:3, 3:2, 16:9, 5:4, 2:1, 1:1
        (400, 300),
        (150, 100),
        (160, 90),
        (125, 100),
        (200, 100),
        (77, 77),
    ],
)
@pytest.mark.parametrize("container", [False, True])
def test_the_size_is_read_from_the_header_as_libjxl_reads_it(
    width: int, height: int, container: bool
) -> None:
    source = jxl(Image.new("L", (width, height), 90), use_container=container, effort=1)
    assert source.startswith(CONTAINER_SIGNATURE) or not container

    assert jxl_size(io.BytesIO(source)) == (width, height) == Image.open(io.BytesIO(source)).size


def test_a_codestream_split_over_parts_is_read_across_them() -> None:
    codestream = size_header(300_000, 50_000)
    source = (
        CONTAINER_SIGNATURE
        + box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ")
        + box(b"Exif", bytes(40))
        + box(b"jxlp", (0).to_bytes(4, "big") + codestream[:3])
        + box(b"jxlp", (1 | 1 << 31).to_bytes(4, "big") + codestream[3:])
    )

    assert jxl_size(io.BytesIO(source)) == (300_000, 50_000)


@pytest.mark.usefixtures("no_decoding")
@pytest.mark.parametrize(
    "source",
    [
        pytest.param(size_header(100_000, 100_000), id="codestream"),
        pytest.param(
            CONTAINER_SIGNATURE
            + box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ")
            + box(b"jxlc", size_header(100_000, 100_000)),
            id="container",
        ),
    ],
)
def test_a_jpeg_xl_decompression_bomb_is_refused_before_libjxl_decodes_it(source: bytes) -> None:
    # 10 gigapixels declared in a few bytes: decoded, it would take 30 GB.
    for call in (probe, lambda d: prepare_model_input(d, 16), make_thumbnail, browser_photo):
        with pytest.raises(InvalidImage, match="image too large: 10000000000 pixels exceeds the"):
            call(source)


@pytest.mark.parametrize(("side", "pixels"), [(40, 1600), (50, 2500)])
def test_the_pixel_limit_applies_to_a_real_jpeg_xl(
    monkeypatch: pytest.MonkeyPatch, side: int, pixels: int, request: pytest.FixtureRequest
) -> None:
    # 1600 is where Pillow only warns, 2500 (over twice the limit) where it raises.
    source = jxl(Image.new("RGB", (side, side)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    request.getfixturevalue("no_decoding")

    for call in (probe, lambda d: prepare_model_input(d, 16), make_thumbnail, browser_photo):
        with pytest.raises(InvalidImage, match=f"image too large: {pixels} pixels exceeds the 1000 limit"):
            call(source)


@pytest.mark.usefixtures("no_decoding")
@pytest.mark.parametrize(
    "source",
    [
        pytest.param(b"\xff\x0a", id="signature alone"),
        pytest.param(CONTAINER_SIGNATURE + bytes(20), id="container without a codestream"),
        pytest.param(CONTAINER_SIGNATURE + b"\x00\x00\x00\x04jxlc", id="box shorter than its header"),
    ],
)
def test_a_jpeg_xl_whose_header_cannot_be_read_is_invalid(source: bytes) -> None:
    with pytest.raises(InvalidImage, match="undecodable image: JPEG XL"):
        probe(source)


def test_jpeg_xl_is_in_the_allowlist() -> None:
    assert "JXL" in ALLOWED_FORMATS


# --- property: whatever the bytes, InvalidImage or an answer ------------------------------------------------

_SEEDS = [
    jxl(Image.effect_noise((32, 24), 40).convert("RGB"), **params)
    for params in ({}, {"lossless": True}, {"use_container": True})
]


@st.composite
def damaged_jxl(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=damaged_jxl())
def test_any_damaged_jpeg_xl_gives_an_answer_or_invalid_image(data: bytes) -> None:
    for call in (probe, lambda d: make_thumbnail(d, 16), browser_photo):
        message = "ok"
        try:
            call(data)
        except InvalidImage as error:
            message = error.message
        assert message
