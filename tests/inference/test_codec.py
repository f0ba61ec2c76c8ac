"""The 16-bit PNG writer: whatever it writes, Pillow and a plain zlib inflate read back exactly."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from depth_inference.codec import encode_png16
from tests.unit.imaging.png_reader import depth_like, read_gray16


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (37, 53), (518, 686)])
def test_round_trips_through_pillow(shape: tuple[int, int]) -> None:
    values = np.random.default_rng(0).integers(0, 65536, shape, dtype=np.uint16)
    values.flat[0], values.flat[-1] = 0, 65535

    with Image.open(io.BytesIO(encode_png16(values))) as image:
        image.load()
        assert image.format == "PNG"
        assert image.mode == "I;16"
        assert image.size == (shape[1], shape[0])
        np.testing.assert_array_equal(np.asarray(image), values)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (37, 53), (518, 686)])
def test_is_a_standard_png_a_plain_zlib_inflate_reads(shape: tuple[int, int]) -> None:
    values = np.random.default_rng(1).integers(0, 65536, shape, dtype=np.uint16)

    png = read_gray16(encode_png16(values, text={"model_name": "tiny"}))

    np.testing.assert_array_equal(png.values, values)
    assert png.chunks == [b"IHDR", b"tEXt", b"IDAT", b"IEND"]


def test_on_a_depth_like_answer_the_file_stays_within_5_percent_of_zlib_level_1() -> None:
    answer = np.round(depth_like(686, 518)).astype(np.uint16)

    png = read_gray16(encode_png16(answer))
    # The same filtered rows deflated by zlib at level 1, as the container did before ISA-L.
    with_zlib = zlib.compress(zlib.decompress(png.idat), 1)

    assert len(png.idat) <= 1.05 * len(with_zlib)


def test_smooth_depth_compresses_well() -> None:
    ramp = np.linspace(0, 65535, 518 * 686).reshape(518, 686).astype(np.uint16)

    assert len(encode_png16(ramp)) < ramp.nbytes / 4


def test_text_chunks_carry_the_provenance_and_pillow_reads_them_before_the_pixels() -> None:
    values = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    provenance = {
        "model_name": "depth-anything/Depth-Anything-V2-Small-hf",
        "model_version": "small",
        "input_size": "518",
        "depth_min": repr(0.125),
        "depth_max": repr(7.5),
    }

    png = encode_png16(values, text=provenance)

    with Image.open(io.BytesIO(png)) as image:
        # Found at open, before any pixel is decoded: the chunks precede the image data.
        assert {key: image.info[key] for key in provenance} == provenance
        image.load()
        np.testing.assert_array_equal(np.asarray(image), values)
    assert png.index(b"tEXt") < png.index(b"IDAT")


def test_without_text_there_is_no_text_chunk() -> None:
    assert b"tEXt" not in encode_png16(np.zeros((2, 2), np.uint16))


def test_a_keyword_png_cannot_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="keyword"):
        encode_png16(np.zeros((2, 2), np.uint16), text={"": "empty keyword"})
