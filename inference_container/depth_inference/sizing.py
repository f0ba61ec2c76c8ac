"""The geometry of a request: the model's working resolution and the size of the answer.

Depth-Anything-V2 resizes with ``keep_aspect_ratio``, ``ensure_multiple_of=14`` and the ``lower_bound``
method: both sides at least ``input_size``, so the short side becomes ``input_size``. For images at least
``input_size`` on both sides this is exactly what transformers' ``DPTImageProcessor`` computes; for
smaller ones that processor scales "as little as possible" and leaves the short side below ``input_size``.
"""

from __future__ import annotations

from depth_inference.errors import InvalidInput

PATCH = 14
DEFAULT_INPUT_SIZE = 518
MIN_INPUT_SIZE = 5 * PATCH  # 70
MAX_INPUT_SIZE = 146 * PATCH  # 2044
# A panorama must not cost more than the largest square input: attention grows with the square of the tokens.
MAX_TOKENS = (MAX_INPUT_SIZE // PATCH) ** 2
MAX_OUTPUT_SIDE = 8192


def effective_input_size(requested: int) -> int:
    """``requested`` rounded to a multiple of the patch size, or InvalidInput when outside 70..2044."""
    size = round(requested / PATCH) * PATCH
    if not MIN_INPUT_SIZE <= size <= MAX_INPUT_SIZE:
        raise InvalidInput(
            f"input_size {requested} is out of range: it must round to a multiple of {PATCH} "
            f"between {MIN_INPUT_SIZE} and {MAX_INPUT_SIZE}"
        )
    return size


def working_size(width: int, height: int, input_size: int) -> tuple[int, int]:
    """(width, height) of the model input for an image, both multiples of the patch size."""
    scale = max(input_size / width, input_size / height)
    new_width = max(PATCH, round(width * scale / PATCH) * PATCH)
    new_height = max(PATCH, round(height * scale / PATCH) * PATCH)
    if (new_width // PATCH) * (new_height // PATCH) > MAX_TOKENS:
        raise InvalidInput(
            f"a {width}x{height} image at input_size {input_size} would need a {new_width}x{new_height} "
            "model input; the aspect ratio is too extreme, crop the image or lower input_size"
        )
    return new_width, new_height


def check_output_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    if not (1 <= width <= MAX_OUTPUT_SIDE and 1 <= height <= MAX_OUTPUT_SIDE):
        raise InvalidInput(
            f"output size {width}x{height} is out of range: each side must be 1..{MAX_OUTPUT_SIDE}"
        )
    return width, height
