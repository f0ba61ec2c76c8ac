"""Our serving path against the transformers reference: AutoImageProcessor, the model, and
post_process_depth_estimation, on the same saved model and the same image, in float32 and in bfloat16
(forced with DEPTH_DTYPE, so the bf16 path is checked on any CPU; emulated where it has no bf16 units)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForDepthEstimation
from transformers.models.dpt.image_processing_pil_dpt import get_resize_output_image_size

from depth_inference.engine import DepthEngine
from depth_inference.sizing import working_size
from tests.inference.helpers import decode_depth
from tests.support.images import jpeg_bytes

TOLERANCE = 1e-2  # of the reference's depth range


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def engine(request: pytest.FixtureRequest, tiny_model_dir: Path) -> DepthEngine:
    """The engine in each precision the CPU serves, chosen as production chooses it: DEPTH_DTYPE."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPTH_DTYPE", request.param)
        engine = DepthEngine.load(str(tiny_model_dir), device="cpu")
    assert engine.precision.name == request.param
    return engine


def reference_depth(
    model_dir: Path, jpeg: bytes, input_size: int, target_size: tuple[int, int] | None = None
) -> np.ndarray:
    processor = AutoImageProcessor.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
    model = AutoModelForDepthEstimation.from_pretrained(model_dir).eval()
    image = Image.open(io.BytesIO(jpeg))
    inputs = processor(images=image, size={"height": input_size, "width": input_size}, return_tensors="pt")
    with torch.inference_mode():
        outputs = model(**inputs)
    targets = None if target_size is None else [target_size]
    depth = processor.post_process_depth_estimation(outputs, target_sizes=targets)[0]["predicted_depth"]
    return np.asarray(depth.numpy(), dtype=np.float64)


def assert_close(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape
    span = reference.max() - reference.min()
    assert span > 0
    error = np.abs(ours - reference).max() / span
    assert error < TOLERANCE, f"max error {error:.2e} of the depth range"


@pytest.mark.parametrize(
    ("width", "height", "input_size"),
    [(800, 600, 518), (600, 900, 266), (1000, 560, 350)],
)
def test_depth_matches_the_transformers_reference(
    engine: DepthEngine, tiny_model_dir: Path, width: int, height: int, input_size: int
) -> None:
    jpeg = jpeg_bytes(width, height, seed=width)

    output = engine.predict(jpeg, input_size=input_size)

    reference = reference_depth(tiny_model_dir, jpeg, input_size)
    assert (output.height, output.width) == reference.shape
    assert_close(decode_depth(output.png, output.depth_min, output.depth_max), reference)
    span = reference.max() - reference.min()
    assert abs(output.depth_min - reference.min()) < TOLERANCE * span
    assert abs(output.depth_max - reference.max()) < TOLERANCE * span


def test_resized_output_matches_the_reference_post_processing(
    engine: DepthEngine, tiny_model_dir: Path
) -> None:
    jpeg = jpeg_bytes(720, 540, seed=3)

    output = engine.predict(jpeg, input_size=266, output_size=(720, 540))

    reference = reference_depth(tiny_model_dir, jpeg, 266, target_size=(540, 720))
    assert_close(decode_depth(output.png, output.depth_min, output.depth_max), reference)


@pytest.mark.parametrize(
    ("width", "height", "input_size"),
    [
        (1440, 1080, 518),
        (1080, 1440, 518),
        (1440, 1080, 1036),
        (4032, 3024, 518),
        (700, 700, 518),
        (801, 533, 70),
    ],
)
def test_working_size_is_the_dpt_processors_for_images_larger_than_the_input(
    width: int, height: int, input_size: int
) -> None:
    expected = get_resize_output_image_size(
        np.zeros((3, height, width)), (input_size, input_size), keep_aspect_ratio=True, multiple=14
    )

    assert working_size(width, height, input_size) == (expected.width, expected.height)


def test_smaller_images_get_the_short_side_at_input_size_as_depth_anything_v2_does() -> None:
    # DPTImageProcessor would scale "as little as possible" and leave 100x300 at 98x294; V2's lower_bound
    # resize (and this container) brings the short side up to the input size.
    assert working_size(100, 300, 518) == (518, 1554)
    assert working_size(300, 100, 518) == (1554, 518)
