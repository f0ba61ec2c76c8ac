"""The 16-bit PNG writer: whatever it writes, Pillow reads back exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from depth_inference.codec import encode_png16


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


def test_smooth_depth_compresses_well() -> None:
    ramp = np.linspace(0, 65535, 518 * 686).reshape(518, 686).astype(np.uint16)

    assert len(encode_png16(ramp)) < ramp.nbytes / 4
