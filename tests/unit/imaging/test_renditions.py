"""What a browser is sent, read as its specification: a version's photo as a JPEG at exactly the size
of the version's depth map, upright, and the depth map itself in 8 bits."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps, JpegImagePlugin, features

from immichvr_depth.imaging import prepare_model_input, probe
from immichvr_depth.imaging._renditions import BrowserPhoto, browser_photo, depth_png8
from immichvr_depth.platform.errors import InvalidImage
from tests.unit.imaging.test_imaging import RED, WHITE, decoded, encode, marked, png16, red_corner

GREEN = (0, 255, 0)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def converted(photo: BrowserPhoto) -> Image.Image:
    """The converted JPEG, checked to be one: RGB, progressive, at the size the answer gives."""
    assert photo.body is not None, "expected a conversion"
    assert photo.content_type == "image/jpeg"
    image = decoded(photo.body)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (photo.width, photo.height))
    assert image.info.get("progressive") == 1
    return image


def centre(image: Image.Image) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(image.convert("RGB"))[image.height // 2, image.width // 2])


def with_gps_and_comment(image: Image.Image, orientation: int, fmt: str = "JPEG", **params: Any) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Camera"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes(), **params)
    return buffer.getvalue()


def cmyk_profile(lab_of: Callable[[int, int, int, int], tuple[float, float, float]]) -> bytes:
    """A minimal ICC v2 printer profile: CMYK to Lab through a lut8 with two grid points per ink,
    `lab_of(c, m, y, k)` (each 0 or 1) the colour printed at each corner."""
    identity = bytes(range(256))
    clut = b"".join(
        bytes([round(lightness * 2.55), round(a + 128), round(b + 128)])
        for lightness, a, b in itertools.starmap(lab_of, itertools.product((0, 1), repeat=4))
    )
    unit_matrix = struct.pack(">9i", 65536, 0, 0, 0, 65536, 0, 0, 0, 65536)
    d50 = struct.pack(">3i", round(0.9642 * 65536), 65536, round(0.8249 * 65536))
    text = b"test CMYK\0"
    tags = [
        (
            b"A2B0",
            b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + unit_matrix + identity * 4 + clut + identity * 3,
        ),
        (b"wtpt", b"XYZ " + bytes(4) + d50),
        (b"desc", b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 3 + 67)),
    ]
    table, data = b"", b""
    start = 128 + 4 + 12 * len(tags)
    for signature, body in tags:
        data += bytes(-(start + len(data)) % 4)
        table += signature + struct.pack(">II", start + len(data), len(body))
        data += body
    header = struct.pack(">I4sI4s4s4s", start + len(data), b"lcms", 0x02100000, b"prtr", b"CMYK", b"Lab ")
    header += bytes(12) + b"acsp" + bytes(24) + bytes(4) + d50 + bytes(4 + 16 + 28)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


# --- browser_photo: served as stored -------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: encode(marked(400, 300), quality=90), id="baseline"),
        pytest.param(lambda: encode(marked(400, 300), progressive=True), id="progressive"),
        pytest.param(lambda: encode(marked(400, 300), orientation=1), id="orientation 1"),
        pytest.param(lambda: encode(marked(400, 300).convert("L")), id="greyscale"),
        pytest.param(lambda: with_gps_and_comment(marked(400, 300), orientation=1), id="with GPS"),
        pytest.param(
            lambda: encode(marked(400, 300), "MPO", save_all=True, append_images=[marked(400, 300)]),
            id="MPO",
        ),
    ],
)
def test_an_upright_8_bit_jpeg_is_served_as_stored(source: Callable[[], bytes]) -> None:
    assert browser_photo(source()) == BrowserPhoto(body=None, width=400, height=300)


def test_serving_as_stored_decodes_no_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load(self: Image.Image) -> None:
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", no_load)

    assert browser_photo(encode(marked(400, 300))).body is None


# --- browser_photo: converted --------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(2, 9))
def test_an_exif_rotated_jpeg_becomes_an_upright_jpeg_of_the_oriented_size(orientation: int) -> None:
    source = encode(marked(400, 300), orientation=orientation, quality=95)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(source)))

    photo = browser_photo(source)

    image = converted(photo)
    assert image.size == expected.size == ((300, 400) if orientation >= 5 else (400, 300))
    assert red_corner(image) == red_corner(expected)
    assert image.getexif().get(ExifTags.Base.Orientation) is None


def test_orientation_6_turns_the_stored_top_left_to_the_top_right_at_full_size() -> None:
    photo = browser_photo(encode(marked(4000, 3000), orientation=6, quality=95))

    assert (photo.width, photo.height) == (3000, 4000)  # no draft, no downscale
    assert red_corner(converted(photo)) == "top-right"


def sixteen_bit_rgb_png(width: int, height: int) -> bytes:
    """48-bit RGB, which Pillow reads but does not write: every sample 0xFF00 (red)."""
    row = b"\x00" + b"\xff\x00\x00\x00\x00\x00" * width

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def transparent(mode: str) -> bytes:
    return encode(Image.new("RGBA", (60, 40), (0, 0, 0, 0)).convert(mode), "PNG")


CONVERTED: dict[str, tuple[Callable[[], bytes], tuple[int, int]]] = {
    "HEIC": (lambda: encode(marked(400, 300), "HEIF", orientation=6), (300, 400)),
    "WebP": (lambda: encode(Image.new("RGB", (60, 40), RED), "WEBP", lossless=True), (60, 40)),
    "16-bit grey PNG": (lambda: png16(np.full((40, 60), 0x8000)), (60, 40)),
    "16-bit RGB PNG": (lambda: sixteen_bit_rgb_png(60, 40), (60, 40)),
    "RGBA PNG": (lambda: transparent("RGBA"), (60, 40)),
    "LA PNG": (lambda: transparent("LA"), (60, 40)),
    "palette PNG with transparency": (lambda: transparent("P"), (60, 40)),
    "CMYK JPEG": (lambda: encode(Image.new("CMYK", (60, 40), (0, 255, 255, 0)), quality=95), (60, 40)),
    "CMYK TIFF": (lambda: encode(Image.new("CMYK", (60, 40), (0, 255, 255, 0)), "TIFF"), (60, 40)),
    "TIFF": (lambda: encode(Image.new("RGB", (60, 40), RED), "TIFF"), (60, 40)),
    "GIF": (lambda: encode(Image.new("RGB", (60, 40), RED), "GIF", comment=b"where: home"), (60, 40)),
    "BMP": (lambda: encode(Image.new("RGB", (60, 40), RED), "BMP"), (60, 40)),
    "PNG rotated by EXIF": (lambda: encode(marked(60, 40), "PNG", orientation=8), (40, 60)),
}
CENTRE = {
    "HEIC": WHITE,
    "16-bit grey PNG": (128, 128, 128),
    "RGBA PNG": WHITE,
    "LA PNG": WHITE,
    "palette PNG with transparency": WHITE,
    "PNG rotated by EXIF": WHITE,
}


@pytest.mark.parametrize("name", list(CONVERTED))
def test_other_photos_become_an_rgb_jpeg_of_the_depth_maps_size(name: str) -> None:
    make, oriented = CONVERTED[name]
    source = make()

    photo = browser_photo(source)

    image = converted(photo)
    assert image.size == oriented
    # The depth map of a version is fitted to this size: it must be the photo's pixel for pixel.
    assert image.size == prepare_model_input(source, short_side=16).oriented_size
    assert image.size == (probe(source).oriented_width, probe(source).oriented_height)
    assert np.allclose(centre(image), CENTRE.get(name, RED), atol=12), centre(image)
    assert "comment" not in image.info
    assert not image.getexif()


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_an_avif_becomes_an_rgb_jpeg() -> None:
    image = converted(browser_photo(encode(Image.new("RGB", (64, 48), RED), "AVIF", quality=90)))

    assert image.size == (64, 48)
    assert np.allclose(centre(image), RED, atol=16)


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF", "WEBP", "PNG"])
def test_a_converted_photo_carries_no_exif_no_gps_and_no_comment(fmt: str) -> None:
    params = {"comment": b"GPS 48.85 N"} if fmt == "JPEG" else {}
    source = with_gps_and_comment(marked(120, 80), orientation=6, fmt=fmt, **params)
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the source has it

    photo = browser_photo(source)

    image = converted(photo)
    assert photo.body is not None
    assert not image.getexif()
    assert b"Exif\x00\x00" not in photo.body
    assert b"GPS" not in photo.body
    assert "comment" not in image.info


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_converted_photo_keeps_its_colour_profile(fmt: str) -> None:
    source = encode(marked(120, 80), fmt, orientation=6, icc_profile=SRGB)

    image = converted(browser_photo(source))

    assert image.info.get("icc_profile") == SRGB


def test_a_cmyk_photo_is_converted_through_its_own_profile() -> None:
    def lab_of(c: int, m: int, y: int, k: int) -> tuple[float, float, float]:
        # Magenta and yellow print green on this press, so the profile's hand shows.
        if k:
            return (0, 0, 0)
        if (c, m, y) == (0, 1, 1):
            return (60, -60, 50)
        return (100, 0, 0) if (c, m, y) == (0, 0, 0) else (30, 0, 0)

    source = encode(
        Image.new("CMYK", (60, 40), (0, 255, 255, 0)), quality=95, icc_profile=cmyk_profile(lab_of)
    )

    image = converted(browser_photo(source))

    r, g, b = centre(image)
    assert g > 120 > r, (r, g, b)  # green, where Pillow's plain conversion gives red
    assert image.info.get("icc_profile") is None  # sRGB now: the CMYK profile would describe nothing


def test_a_cmyk_photo_with_a_broken_profile_gets_pillows_conversion() -> None:
    source = encode(Image.new("CMYK", (60, 40), (0, 255, 255, 0)), quality=95, icc_profile=b"\x00" * 128)

    image = converted(browser_photo(source))

    assert np.allclose(centre(image), RED, atol=12)
    assert image.info.get("icc_profile") is None


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (b"\x00" * 100, "not an image"),
        (b"", "not an image"),
        (encode(Image.effect_noise((300, 200), 60).convert("RGB"), orientation=6)[:3000], "truncated"),
    ],
)
def test_what_cannot_be_shown_raises_invalid_image(source: bytes, reason: str) -> None:
    with pytest.raises(InvalidImage, match=reason):
        browser_photo(source)


def test_a_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    source = encode(Image.new("RGB", (40, 40)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    with pytest.raises(InvalidImage, match="image too large: 1600 pixels exceeds the 1000 limit"):
        browser_photo(source)


def test_a_stream_is_read_from_its_start() -> None:
    stream = io.BytesIO(encode(marked(400, 300), orientation=3))
    stream.seek(50)

    assert (browser_photo(stream).width, stream.closed) == (400, False)


# --- depth_png8 ----------------------------------------------------------------------------------------


def depth_values(width: int, height: int) -> np.ndarray:
    values = np.random.default_rng(7).integers(0, 65536, (height, width), dtype=np.uint16)
    values[0, :4] = [0, 65535, 128, 129]  # the ends, and the two sides of the first rounding step
    return values


def test_depth_png8_is_the_16_bit_map_in_8_bits() -> None:
    # An odd width whose bands (262144 // 1001 = 261 rows) do not divide the height: a short last band.
    values = depth_values(1001, 600)

    png8 = depth_png8(png16(values))

    image = decoded(png8)
    assert (image.format, image.mode, image.size) == ("PNG", "L", (1001, 600))
    eight = np.asarray(image).astype(np.int64)
    np.testing.assert_array_equal(eight, np.round(values / 257).astype(np.int64))
    assert np.abs(eight - (values >> 8)).max() <= 1
    assert eight[0, :4].tolist() == [0, 255, 0, 1]


def test_depth_png8_of_an_8_bit_map_gives_it_back() -> None:
    values = np.random.default_rng(8).integers(0, 256, (37, 53), dtype=np.uint8)

    np.testing.assert_array_equal(
        np.asarray(decoded(depth_png8(encode(Image.fromarray(values), "PNG")))), values
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"garbage, not a PNG at all", "not an image"),
        (b"", "not an image"),
        (encode(Image.new("RGB", (8, 8)), "PNG"), "single-channel"),
    ],
)
def test_depth_png8_of_what_is_not_a_depth_map_raises_invalid_image(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImage, match=reason):
        depth_png8(data)


def test_depth_png8_keeps_to_the_pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    source = png16(depth_values(50, 50))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    with pytest.raises(InvalidImage, match="image too large"):
        depth_png8(source)
