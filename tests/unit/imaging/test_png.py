"""The streaming greyscale PNG encoder: a standard PNG, read back bit-exactly by Pillow and (16-bit)
by a plain zlib inflate, whatever the shape and the band split; ISA-L's deflate keeps its size near
zlib's. The 8-bit encoder is the same machinery with one byte a sample."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image

from immichvr_depth.imaging import fit_depth_png
from immichvr_depth.imaging._depth import DEPTH_PNG_LEVEL
from immichvr_depth.imaging._png import FILTER_NONE, FILTER_SUB, Compressor, encode_gray8, encode_gray16
from tests.unit.imaging.png_reader import depth_like, read_gray16

SHAPES = [(1, 1), (1, 7), (7, 1), (2, 2), (37, 53), (300, 401)]


def zlib_deflate(level: int) -> Compressor:
    """zlib as the encoder called it before ISA-L: what "today's size" means."""
    return zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 9)


def split(values: np.ndarray, how: str) -> Iterator[np.ndarray]:
    height = values.shape[0]
    if how == "one band":
        yield values
    elif how == "row by row":
        yield from (values[y : y + 1] for y in range(height))
    else:  # uneven: 1 row, 3 rows, then bands of 17, the last one short
        edges = sorted({0, *[e for e in (1, 4) if e < height], *range(4, height, 17), height})
        yield from (values[top:bottom] for top, bottom in pairwise(edges))


def samples(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).integers(0, 65536, shape, dtype=np.uint16)
    values.flat[0], values.flat[-1] = 0, 65535
    return values


def pillow_values(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert (image.format, image.mode) == ("PNG", "I;16")
        return np.asarray(image)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("how", ["one band", "row by row", "uneven bands"])
@pytest.mark.parametrize("png_filter", [FILTER_SUB, FILTER_NONE])
def test_round_trips_bit_exactly_through_pillow_and_a_plain_inflate(
    shape: tuple[int, int], how: str, png_filter: int
) -> None:
    values = samples(shape)
    height, width = shape

    png = encode_gray16(split(values, how), width, height, DEPTH_PNG_LEVEL, png_filter=png_filter)

    np.testing.assert_array_equal(pillow_values(png), values)
    read = read_gray16(png)
    np.testing.assert_array_equal(read.values, values)
    assert read.filters == {png_filter}
    assert read.chunks[0] == b"IHDR"
    assert set(read.chunks[1:-1]) == {b"IDAT"}


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_every_isal_level_writes_a_standard_stream(level: int) -> None:
    values = np.round(depth_like(211, 150)).astype(np.uint16)

    png = encode_gray16(split(values, "uneven bands"), 211, 150, level)

    np.testing.assert_array_equal(read_gray16(png).values, values)
    np.testing.assert_array_equal(pillow_values(png), values)


def test_the_same_bands_always_give_the_same_file() -> None:
    # ISA-L, unlike zlib, may cut its blocks differently when the same rows come in other bands,
    # so the file (not the image) depends on the split; for a given split it is fixed.
    depth = depth_like(90, 640, seed=1)

    files = {encode_gray16(split(depth, "uneven bands"), 90, 640, DEPTH_PNG_LEVEL) for _ in range(3)}

    assert len(files) == 1


def test_float_bands_are_rounded_half_up_and_clipped() -> None:
    band = np.array([[-3.0, 0.49, 0.5, 1.5, 1234.4, 65534.5, 65535.4, 70000.0]], np.float32)

    png = encode_gray16([band], 8, 1, DEPTH_PNG_LEVEL)

    expected = [0, 0, 1, 2, 1234, 65535, 65535, 65535]
    assert read_gray16(png).values.tolist() == [expected]
    assert pillow_values(png).tolist() == [expected]


def test_an_integer_band_out_of_range_is_clipped_not_wrapped() -> None:
    band = np.array([[-1, 0, 65535, 65536, 1 << 20]], np.int64)

    assert read_gray16(encode_gray16([band], 5, 1, DEPTH_PNG_LEVEL)).values.tolist() == [
        [0, 0, 65535, 65535, 65535]
    ]


def test_on_a_depth_like_map_the_file_stays_within_5_percent_of_zlib_level_1() -> None:
    depth = depth_like(1200, 1600)

    ours = encode_gray16(split(depth, "uneven bands"), 1200, 1600, DEPTH_PNG_LEVEL)
    zlibs = encode_gray16(split(depth, "uneven bands"), 1200, 1600, 1, deflate=zlib_deflate)

    assert len(ours) <= 1.05 * len(zlibs)
    np.testing.assert_array_equal(read_gray16(ours).values, read_gray16(zlibs).values)


def test_the_sub_filter_earns_its_place_on_a_depth_like_map() -> None:
    depth = depth_like(600, 800)

    sub = encode_gray16([depth], 600, 800, DEPTH_PNG_LEVEL, png_filter=FILTER_SUB)
    unfiltered = encode_gray16([depth], 600, 800, DEPTH_PNG_LEVEL, png_filter=FILTER_NONE)

    assert len(sub) < 0.8 * len(unfiltered)


def test_fit_depth_png_writes_what_a_plain_inflate_reads_as_pillow_does() -> None:
    answer = io.BytesIO()
    Image.fromarray(np.round(depth_like(70, 52)).astype(np.uint16)).save(answer, "PNG")

    body = fit_depth_png(answer.getvalue(), (401, 2999)).body  # several bands, a short last one

    np.testing.assert_array_equal(read_gray16(body).values, pillow_values(body))


@pytest.mark.parametrize(
    ("bands", "width", "height", "message"),
    [
        ([np.zeros((2, 3))], 4, 2, "does not fit a width of 4"),
        ([np.zeros(4)], 4, 1, "does not fit a width of 4"),
        ([np.zeros((2, 4)), np.zeros((2, 4))], 4, 3, "bands held 4 rows, the header promised 3"),
    ],
)
def test_bands_that_do_not_match_the_header_are_refused(
    bands: list[np.ndarray], width: int, height: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_gray16(bands, width, height, DEPTH_PNG_LEVEL)


def test_only_the_filters_it_writes_are_accepted() -> None:
    with pytest.raises(ValueError, match="PNG filter 2"):
        encode_gray16([np.zeros((1, 1))], 1, 1, DEPTH_PNG_LEVEL, png_filter=2)


# --- 8 bits ----------------------------------------------------------------------------------------


def pillow_values8(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert (image.format, image.mode) == ("PNG", "L")
        return np.asarray(image)


@pytest.mark.parametrize("shape", [*SHAPES, (150, 211)])  # an odd width, bands not dividing the height
@pytest.mark.parametrize("how", ["one band", "row by row", "uneven bands"])
@pytest.mark.parametrize("png_filter", [FILTER_SUB, FILTER_NONE])
def test_8_bit_round_trips_exactly_through_pillow(shape: tuple[int, int], how: str, png_filter: int) -> None:
    values = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    values.flat[0], values.flat[-1] = 0, 255
    height, width = shape

    png = encode_gray8(split(values, how), width, height, DEPTH_PNG_LEVEL, png_filter=png_filter)

    np.testing.assert_array_equal(pillow_values8(png), values)
    assert png[24:29] == bytes([8, 0, 0, 0, 0])  # IHDR: 8-bit grey, deflate, adaptive, no interlace


def test_8_bit_floats_are_rounded_half_up_and_integers_clipped() -> None:
    floats = np.array([[-3.0, 0.49, 0.5, 1.5, 128.4, 254.5, 255.4, 300.0]], np.float32)
    integers = np.array([[-1, 0, 255, 256, 1 << 20]], np.int64)

    assert pillow_values8(encode_gray8([floats], 8, 1, DEPTH_PNG_LEVEL)).tolist() == [
        [0, 0, 1, 2, 128, 255, 255, 255]
    ]
    assert pillow_values8(encode_gray8([integers], 5, 1, DEPTH_PNG_LEVEL)).tolist() == [[0, 0, 255, 255, 255]]


def test_8_bit_bands_that_do_not_match_the_header_are_refused() -> None:
    with pytest.raises(ValueError, match="bands held 4 rows, the header promised 3"):
        encode_gray8([np.zeros((2, 4)), np.zeros((2, 4))], 4, 3, DEPTH_PNG_LEVEL)
