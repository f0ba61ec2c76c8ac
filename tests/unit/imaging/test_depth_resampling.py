"""fit_depth_png's enlargement (numpy, band by band) against Pillow's BILINEAR resize of the whole
answer: the same map to within 1 in 65535, seams and edges included, whatever the band split."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from immichvr_depth.imaging import _depth, fit_depth_png
from tests.unit.imaging.png_reader import read_gray16


def png16(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buffer, "PNG")
    return buffer.getvalue()


def pillow_reference(answer: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    resized = Image.fromarray(answer.astype(np.uint16)).convert("F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized) + 0.5, 0, 65535).astype(np.int64)


@pytest.mark.parametrize(
    ("answer_shape", "size"),
    [
        ((30, 40), (2000, 900)),  # (h, w) -> (w, h): both sides, uneven factors
        ((30, 40), (40, 301)),  # only taller: the width is copied
        ((30, 40), (413, 30)),  # only wider
        ((1, 40), (97, 13)),  # one source row
        ((30, 1), (7, 55)),  # one source column
        ((1, 1), (5, 3)),
        ((2, 2), (1000, 999)),
        ((69, 52), (401, 2999)),  # a long map: many bands, a short last one
    ],
)
def test_enlarging_matches_pillow_to_within_one(answer_shape: tuple[int, int], size: tuple[int, int]) -> None:
    answer = np.random.default_rng(sum(size)).integers(0, 65536, size=answer_shape, dtype=np.uint16)
    answer.flat[0], answer.flat[-1] = 0, 65535

    values = read_gray16(fit_depth_png(png16(answer), size).body).values.astype(np.int64)

    assert values.shape == (size[1], size[0])
    assert np.abs(values - pillow_reference(answer, size)).max() <= 1


def test_the_band_height_does_not_change_the_map(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = np.random.default_rng(5).integers(0, 65536, size=(23, 31), dtype=np.uint16)
    maps = []
    for samples in (1, 500, 1 << 18):  # a row at a time, a few rows, the whole map in one band
        monkeypatch.setattr(_depth, "_BAND_SAMPLES", samples)
        maps.append(read_gray16(fit_depth_png(png16(answer), (157, 211)).body).values)

    np.testing.assert_array_equal(maps[0], maps[1])
    np.testing.assert_array_equal(maps[0], maps[2])


def test_a_flat_answer_stays_flat_and_the_extremes_stay_exact() -> None:
    for level in (0, 1, 32767, 65535):
        answer = np.full((9, 7), level, np.uint16)

        values = read_gray16(fit_depth_png(png16(answer), (70, 90)).body).values

        assert set(np.unique(values).tolist()) == {level}


def test_a_float_answer_out_of_range_is_clipped_after_resampling() -> None:
    answer = Image.fromarray(np.array([[-1000.0, 70000.0]], np.float32), "F")
    buffer = io.BytesIO()
    answer.save(buffer, "TIFF")

    values = read_gray16(fit_depth_png(buffer.getvalue(), (8, 2)).body).values

    reference = np.clip(np.asarray(answer.resize((8, 2), Image.Resampling.BILINEAR)) + 0.5, 0, 65535)
    assert np.abs(values.astype(np.int64) - reference.astype(np.int64)).max() <= 1
    assert values.min() == 0
    assert values.max() == 65535
