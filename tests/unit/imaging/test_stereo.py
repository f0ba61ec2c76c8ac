"""Stereo pairs from a photo and its depth map, read as their specification.

Most tests look at `eye_views` on a scene whose pixels name their own column (red and green hold
the column, blue says far plane or near square), so where every pixel of a view came from can be
read back exactly: what moved, how far, and what filled the holes.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from immichvr_depth.imaging import _stereo
from immichvr_depth.imaging._stereo import (
    CONVERGENCE_RANGE,
    DEFAULT_CONVERGENCE,
    DEFAULT_DIVERGENCE,
    DIVERGENCE_RANGE,
    StereoLayout,
    StereoParams,
    eye_views,
    render_stereo,
    stereo_filename,
)
from immichvr_depth.platform.errors import InvalidImage

REPO_ROOT = Path(__file__).resolve().parents[3]

WIDTH, HEIGHT = 400, 60
SQUARE_ROWS = slice(20, 40)
SQUARE_LEFT, SQUARE_RIGHT = 150, 230  # columns [150, 230)
NEAR_MARK = 255  # blue of the square's pixels; the far plane's is 0


# --- the scene -------------------------------------------------------------------------------------


def coded_scene(
    width: int = WIDTH, height: int = HEIGHT, square_depth: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """A far plane (depth 0) with a near square; every pixel's red and green hold its column."""
    columns = np.arange(width)
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = columns % 256
    rgb[..., 1] = columns // 256
    depth = np.zeros((height, width), dtype=np.float32)
    depth[SQUARE_ROWS, SQUARE_LEFT:SQUARE_RIGHT] = square_depth
    rgb[SQUARE_ROWS, SQUARE_LEFT:SQUARE_RIGHT, 2] = NEAR_MARK
    return rgb, depth


def source_columns(view: np.ndarray) -> np.ndarray:
    """The column of the scene each pixel of `view` shows."""
    return view[..., 0].astype(np.int64) + 256 * view[..., 1].astype(np.int64)


def near_columns(view: np.ndarray, row: int) -> np.ndarray:
    return np.flatnonzero(view[row, :, 2] == NEAR_MARK)


def per_eye_shift(divergence: float, depth: float, convergence: float, width: int = WIDTH) -> int:
    return round((depth - convergence) * divergence / 100 * width / 2)


# --- eye_views: where pixels go ---------------------------------------------------------------------


@pytest.mark.parametrize("divergence", [1.0, 2.0, 5.0, 10.0])
def test_at_convergence_0_the_far_plane_stays_and_the_square_moves_apart(divergence: float) -> None:
    rgb, depth = coded_scene()
    left, right = eye_views(rgb, depth, divergence, 0.0)

    identity = np.arange(WIDTH)
    margin = per_eye_shift(divergence, 1.0, 0.0) + 2  # past the square and the band it uncovers
    away = np.r_[0 : SQUARE_LEFT - margin, SQUARE_RIGHT + margin : WIDTH]
    for view in (left, right):
        assert (source_columns(view[: SQUARE_ROWS.start]) == identity).all()
        assert (source_columns(view[SQUARE_ROWS.stop :]) == identity).all()
        assert (source_columns(view[SQUARE_ROWS])[:, away] == identity[away]).all()
    for row in range(SQUARE_ROWS.start, SQUARE_ROWS.stop):
        in_left, in_right = near_columns(left, row), near_columns(right, row)
        # The left eye sees the near square further right than the right eye does.
        assert abs((in_left[0] - in_right[0]) - round(divergence / 100 * WIDTH)) <= 1
        for found in (in_left, in_right):  # whole: neither torn nor smeared into its surroundings
            assert found.size == SQUARE_RIGHT - SQUARE_LEFT
            assert found[-1] - found[0] == found.size - 1


def test_at_convergence_1_the_square_stays_and_the_far_plane_moves() -> None:
    rgb, depth = coded_scene()
    left, right = eye_views(rgb, depth, 5.0, 1.0)

    shift = -per_eye_shift(5.0, 0.0, 1.0)  # how far the far plane moves, left in the left eye
    for row in range(SQUARE_ROWS.start, SQUARE_ROWS.stop):
        for view in (left, right):
            np.testing.assert_array_equal(near_columns(view, row), np.arange(SQUARE_LEFT, SQUARE_RIGHT))
    inside = np.arange(shift, WIDTH - shift)
    # A far pixel shows, in the left eye, the scene `shift` columns further right.
    assert (source_columns(left[0])[inside] == inside + shift).all()
    assert (source_columns(right[0])[inside] == inside - shift).all()
    # What comes in at the image's border repeats the last column there is.
    assert (source_columns(left[0])[WIDTH - shift :] == WIDTH - 1).all()
    assert (source_columns(right[0])[:shift] == 0).all()


def test_the_uncovered_background_is_filled_from_the_far_side() -> None:
    """The square's colour reaches a pixel past its depth on each side, as a photo's edges reach
    past its softer depth map's. The background a moving square uncovers must come from the far
    plane beside it, not be smeared from the square's edge."""
    rgb, depth = coded_scene()
    rgb[SQUARE_ROWS, SQUARE_LEFT - 1, 2] = rgb[SQUARE_ROWS, SQUARE_RIGHT, 2] = NEAR_MARK
    coloured = SQUARE_RIGHT - SQUARE_LEFT + 2
    left, right = eye_views(rgb, depth, 5.0, 0.0)

    shift = per_eye_shift(5.0, 1.0, 0.0)
    for row in range(SQUARE_ROWS.start, SQUARE_ROWS.stop):
        in_left, in_right = near_columns(left, row), near_columns(right, row)
        for found in (in_left, in_right):  # the square's colour nowhere but on the square
            assert found.size == coloured
            assert found[-1] - found[0] == coloured - 1
        # The left eye sees the square moved right: the band it left shows the far plane on its left.
        uncovered = left[row, in_left[0] - shift : in_left[0]]
        assert (uncovered[:, 2] == 0).all()
        assert (source_columns(uncovered) < SQUARE_LEFT - 1).all()
        # And the right eye the far plane on its right.
        uncovered = right[row, in_right[-1] + 1 : in_right[-1] + 1 + shift]
        assert (uncovered[:, 2] == 0).all()
        assert (source_columns(uncovered) > SQUARE_RIGHT).all()


def test_the_nearer_of_two_objects_covers_the_other() -> None:
    rgb, depth = coded_scene()
    # A middle-distance block right beside the near square, marked with its own blue.
    depth[SQUARE_ROWS, SQUARE_RIGHT : SQUARE_RIGHT + 40] = 0.5
    rgb[SQUARE_ROWS, SQUARE_RIGHT : SQUARE_RIGHT + 40, 2] = 128
    left, _ = eye_views(rgb, depth, 5.0, 0.0)

    shift = per_eye_shift(5.0, 1.0, 0.0)
    for row in range(SQUARE_ROWS.start, SQUARE_ROWS.stop):
        # The square moves over the block's left part and stays whole in front of it.
        np.testing.assert_array_equal(
            near_columns(left, row), np.arange(SQUARE_LEFT + shift, SQUARE_RIGHT + shift)
        )


def test_depth_is_used_as_given_not_stretched_to_its_range() -> None:
    rgb, depth = coded_scene(square_depth=0.5)
    left, right = eye_views(rgb, depth, 5.0, 0.0)

    row = SQUARE_ROWS.start
    assert abs((near_columns(left, row)[0] - near_columns(right, row)[0]) - round(0.5 * 0.05 * WIDTH)) <= 1


def test_a_soft_object_edge_moves_with_the_object() -> None:
    """Depth maps are softer than photos: the square's outermost columns carry a depth halfway to
    the background's. They must travel with the square, not stay behind as a torn fringe."""
    rgb, depth = coded_scene()
    depth[SQUARE_ROWS, SQUARE_LEFT] = depth[SQUARE_ROWS, SQUARE_RIGHT - 1] = 0.5
    left, right = eye_views(rgb, depth, 10.0, 0.0)

    for view in (left, right):
        for row in range(SQUARE_ROWS.start, SQUARE_ROWS.stop):
            found = near_columns(view, row)
            assert found.size == SQUARE_RIGHT - SQUARE_LEFT
            assert found[-1] - found[0] == found.size - 1


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    width=st.integers(1, 300),
    height=st.integers(1, 12),
    divergence=st.floats(0, 10),
    convergence=st.floats(0, 1),
)
def test_every_pixel_of_a_view_is_a_pixel_of_its_own_row(
    seed: int, width: int, height: int, divergence: float, convergence: float
) -> None:
    """No hole is left unfilled and nothing is invented: each view is the scene's own pixels,
    each row's from that row, whatever the depth map."""
    rng = np.random.default_rng(seed)
    rgb, _ = coded_scene(width, height)
    rgb[..., 2] = rng.integers(0, 256, (height, 1))  # a per-row mark
    depth = rng.random((height, width)).astype(np.float32)
    depth[:, rng.integers(0, width) :] *= rng.random()  # and a step, as objects make
    for view in eye_views(rgb, depth, divergence, convergence):
        columns = source_columns(view)
        assert ((columns >= 0) & (columns < width)).all()
        np.testing.assert_array_equal(view, np.take_along_axis(rgb, columns[..., None], axis=1))


def test_no_divergence_gives_the_photo_to_both_eyes() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    depth = rng.random((50, 70))  # float64 accepted
    for view in eye_views(rgb, depth, 0.0, 0.3):
        np.testing.assert_array_equal(view, rgb)


def test_the_right_eye_is_the_left_eye_of_the_mirrored_scene() -> None:
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (30, 200, 3), dtype=np.uint8)
    depth = np.repeat(rng.random((30, 20)), 10, axis=1).astype(np.float32)  # blocks: holes and overlaps
    _, right = eye_views(rgb, depth, 6.0, 0.4)
    mirrored_left, _ = eye_views(rgb[:, ::-1], depth[:, ::-1], 6.0, 0.4)
    np.testing.assert_array_equal(right, mirrored_left[:, ::-1])


def test_the_band_height_does_not_change_the_views(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (23, 90, 3), dtype=np.uint8)
    depth = np.repeat(rng.random((23, 9)), 10, axis=1)
    views = []
    for samples in (1, 200, 1 << 20):  # a row at a time, a few rows, all at once
        monkeypatch.setattr(_stereo, "_BAND_SAMPLES", samples)
        views.append(eye_views(rgb, depth, 8.0, 0.5))
    for other in views[1:]:
        np.testing.assert_array_equal(views[0][0], other[0])
        np.testing.assert_array_equal(views[0][1], other[1])


def test_depth_outside_0_to_1_is_clipped_and_nan_is_far() -> None:
    rgb, depth = coded_scene()
    clean = eye_views(rgb, depth, 5.0, 0.0)
    depth[SQUARE_ROWS, SQUARE_LEFT:SQUARE_RIGHT] = 7.0
    depth[0, :10] = np.nan
    depth[1, :10] = -3.0
    for expected, found in zip(clean, eye_views(rgb, depth, 5.0, 0.0), strict=True):
        np.testing.assert_array_equal(expected, found)


@pytest.mark.parametrize(
    ("rgb_shape", "depth_shape", "divergence", "message"),
    [
        ((10, 20), (10, 20), 2.0, "H x W x 3"),
        ((10, 20, 4), (10, 20), 2.0, "H x W x 3"),
        ((10, 20, 3), (10, 21), 2.0, "does not fit"),
        ((10, 20, 3), (10, 20), -1.0, "divergence"),
        ((10, 20, 3), (10, 20), math.nan, "divergence"),
    ],
)
def test_eye_views_refuses_what_it_cannot_use(
    rgb_shape: tuple[int, ...], depth_shape: tuple[int, ...], divergence: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        eye_views(np.zeros(rgb_shape, np.uint8), np.zeros(depth_shape, np.float32), divergence, 0.5)


# --- render_stereo: the stereo image ---------------------------------------------------------------

PHOTO_W, PHOTO_H = 240, 160
PHOTO_SQUARE = (slice(50, 110), slice(90, 150))  # rows, columns


def smooth_photo() -> np.ndarray:
    """Gradients and large blocks: JPEG keeps them within a few levels, so layouts can be compared
    with the views they should hold."""
    ys, xs = np.mgrid[0:PHOTO_H, 0:PHOTO_W].astype(np.float32)
    pixels = np.stack([255 * xs / PHOTO_W, 255 * ys / PHOTO_H, 128 + 0 * xs], axis=-1)
    for column in range(0, PHOTO_W, 40):  # vertical bars on the far plane: its movement shows
        pixels[:, column : column + 4] = (250, 250, 40)
    pixels[PHOTO_SQUARE] = (30, 60, 220)
    return pixels.astype(np.uint8)


def jpeg(pixels: np.ndarray, **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95, **params)
    return buffer.getvalue()


def depth_png16(depth: np.ndarray) -> bytes:
    """A near-bright 16-bit PNG of `depth` (0..1)."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(depth * 65535).astype(np.uint16)).save(buffer, "PNG")
    return buffer.getvalue()


def square_depth(width: int = PHOTO_W, height: int = PHOTO_H) -> np.ndarray:
    depth = np.full((height, width), 0.1, dtype=np.float32)
    depth[PHOTO_SQUARE] = 0.9
    return depth


def decoded(body: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(body))
    assert image.format == "JPEG"
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def reference_views(photo: bytes, depth: np.ndarray, params: StereoParams) -> tuple[np.ndarray, np.ndarray]:
    """What the layouts must hold: eye_views of the photo as decoded, and of the stored 16 bits."""
    rgb = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
    stored = np.round(depth * 65535) / 65535
    return eye_views(rgb, stored, params.divergence, params.convergence)


def squeezed(view: np.ndarray, width: int) -> np.ndarray:
    return np.asarray(Image.fromarray(view).resize((width, view.shape[0]), Image.Resampling.BICUBIC))


def mean_error(found: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(found - expected.astype(np.float32)).mean())


@pytest.mark.parametrize(
    ("layout", "size"),
    [
        (StereoLayout.SBS, (2 * PHOTO_W, PHOTO_H)),
        (StereoLayout.HALF_SBS, (PHOTO_W, PHOTO_H)),
        (StereoLayout.TB, (PHOTO_W, 2 * PHOTO_H)),
        (StereoLayout.ANAGLYPH, (PHOTO_W, PHOTO_H)),
    ],
)
def test_each_layout_is_a_jpeg_of_its_size(layout: StereoLayout, size: tuple[int, int]) -> None:
    body = render_stereo(jpeg(smooth_photo()), depth_png16(square_depth()), StereoParams.of(layout, 4, 0.5))
    image = Image.open(io.BytesIO(body))
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", size)


@pytest.mark.parametrize("layout", list(StereoLayout))
def test_each_layout_holds_the_two_views_where_players_look(layout: StereoLayout) -> None:
    photo, depth = jpeg(smooth_photo()), square_depth()
    params = StereoParams.of(layout, 6.0, 0.0)
    left, right = reference_views(photo, depth, params)
    found = decoded(render_stereo(photo, depth_png16(depth), params))

    half = PHOTO_W // 2
    # (part of the image, the view it must hold, the other eye's view in its place)
    parts = {
        StereoLayout.SBS: [(found[:, :PHOTO_W], left, right), (found[:, PHOTO_W:], right, left)],
        StereoLayout.TB: [(found[:PHOTO_H], left, right), (found[PHOTO_H:], right, left)],
        StereoLayout.HALF_SBS: [
            (found[:, :half], squeezed(left, half), squeezed(right, half)),
            (found[:, half:], squeezed(right, PHOTO_W - half), squeezed(left, PHOTO_W - half)),
        ],
        StereoLayout.ANAGLYPH: [
            (found[..., :1], left[..., :1], right[..., :1]),
            (found[..., 1:], right[..., 1:], left[..., 1:]),
        ],
    }[layout]
    for part, expected, other in parts:
        error = mean_error(part, expected)
        assert error < 6  # JPEG's error, a few levels on these hard edges
        assert error < mean_error(part, other) / 2


def test_the_anaglyph_shows_the_left_eye_in_red_and_the_right_in_cyan() -> None:
    pixels = np.zeros((PHOTO_H, PHOTO_W, 3), dtype=np.uint8)
    pixels[PHOTO_SQUARE] = 255  # a white square on black
    depth = np.zeros((PHOTO_H, PHOTO_W), dtype=np.float32)
    depth[PHOTO_SQUARE] = 1.0
    params = StereoParams.of(StereoLayout.ANAGLYPH, 10.0, 0.0)
    found = decoded(render_stereo(jpeg(pixels), depth_png16(depth), params))

    shift = round(0.1 * PHOTO_W / 2)  # 12 px each way
    rows, columns = PHOTO_SQUARE
    left_only = found[rows, columns.stop + 2 : columns.stop + shift - 2]
    right_only = found[rows, columns.start - shift + 2 : columns.start - 2]
    np.testing.assert_allclose(left_only.mean(axis=(0, 1)), (255, 0, 0), atol=25)
    np.testing.assert_allclose(right_only.mean(axis=(0, 1)), (0, 255, 255), atol=25)


def test_the_photo_is_turned_upright_before_it_meets_its_depth_map() -> None:
    upright = smooth_photo()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter left: shown after a quarter turn right
    stored = jpeg(np.ascontiguousarray(np.rot90(upright, 1)), exif=exif.tobytes())
    params = StereoParams.of(StereoLayout.HALF_SBS, 0.0, 0.5)  # no shift: each half is the photo

    found = decoded(render_stereo(stored, depth_png16(square_depth()), params))

    assert found.shape[:2] == (PHOTO_H, PHOTO_W)
    error = mean_error(found[:, : PHOTO_W // 2], squeezed(upright, PHOTO_W // 2))
    assert error < 10  # two JPEG generations' error on hard edges
    assert error < mean_error(found[:, : PHOTO_W // 2], squeezed(upright[::-1, ::-1], PHOTO_W // 2)) / 4


def test_render_refuses_a_depth_map_of_another_size() -> None:
    with pytest.raises(InvalidImage, match="same size"):
        render_stereo(
            jpeg(smooth_photo()),
            depth_png16(square_depth(PHOTO_W, PHOTO_H + 1)),
            StereoParams.of(StereoLayout.SBS, 2, 0.5),
        )


@pytest.mark.parametrize(
    ("photo", "depth"),
    [
        (b"not a photo", None),
        (None, b"not a depth map"),
        (b"", None),
        ("truncated", None),
        (None, "rgb"),  # a colour PNG is no depth map
    ],
)
def test_render_refuses_bytes_that_do_not_decode(
    photo: bytes | str | None, depth: bytes | str | None
) -> None:
    good_photo, good_depth = jpeg(smooth_photo()), depth_png16(square_depth())
    if photo == "truncated":
        photo = good_photo[: len(good_photo) // 2]
    if depth == "rgb":
        buffer = io.BytesIO()
        Image.fromarray(smooth_photo()).save(buffer, "PNG")
        depth = buffer.getvalue()
    with pytest.raises(InvalidImage):
        render_stereo(
            photo if isinstance(photo, bytes) else good_photo,
            depth if isinstance(depth, bytes) else good_depth,
            StereoParams.of(StereoLayout.SBS, 2, 0.5),
        )


# --- parameters and names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("divergence", "convergence", "expected"),
    [
        (2.04, 0.52, (2.0, 0.5)),
        (2.06, 0.53, (2.1, 0.55)),
        (0.0, 0.0, (0.0, 0.0)),
        (10, 1, (10.0, 1.0)),
        (9.96, 0.99, (10.0, 1.0)),
        (0.04, 0.024, (0.0, 0.0)),
        (DEFAULT_DIVERGENCE, DEFAULT_CONVERGENCE, (2.0, 0.5)),
    ],
)
def test_params_are_rounded_so_derivatives_stay_few(
    divergence: float, convergence: float, expected: tuple[float, float]
) -> None:
    params = StereoParams.of(StereoLayout.SBS, divergence, convergence)
    assert (params.divergence, params.convergence) == expected


def test_the_ranges_are_what_the_params_accept() -> None:
    assert DIVERGENCE_RANGE == (0.0, 10.0)
    assert CONVERGENCE_RANGE == (0.0, 1.0)
    StereoParams.of(StereoLayout.TB, DIVERGENCE_RANGE[0], CONVERGENCE_RANGE[0])
    StereoParams.of(StereoLayout.TB, DIVERGENCE_RANGE[1], CONVERGENCE_RANGE[1])


@pytest.mark.parametrize("value", [-0.01, 10.01, math.nan, math.inf, -math.inf, "2"])
def test_a_divergence_out_of_range_is_refused_naming_the_range(value: float) -> None:
    with pytest.raises(ValueError, match=r"divergence must be between 0 and 10 \(percent of the width\)"):
        StereoParams.of(StereoLayout.SBS, value, 0.5)


@pytest.mark.parametrize("value", [-0.01, 1.01, math.nan, math.inf, True])
def test_a_convergence_out_of_range_is_refused_naming_the_range(value: float) -> None:
    with pytest.raises(ValueError, match=r"convergence must be between 0 and 1 \(0: "):
        StereoParams.of(StereoLayout.SBS, 2.0, value)


def test_the_layout_may_be_named_by_its_value() -> None:
    assert StereoParams.of("half-sbs", 2, 0.5).layout is StereoLayout.HALF_SBS
    with pytest.raises(ValueError, match="'side-by-side' is not a valid StereoLayout"):
        StereoParams.of("side-by-side", 2, 0.5)


def test_the_token_names_the_params_for_a_key() -> None:
    assert StereoParams.of(StereoLayout.SBS, 2, 0.5).token() == "sbs-d2.0-c0.50"
    assert StereoParams.of(StereoLayout.HALF_SBS, 10, 1).token() == "half-sbs-d10.0-c1.00"
    assert StereoParams.of(StereoLayout.ANAGLYPH, 0.04, 0.53).token() == "anaglyph-d0.0-c0.55"
    # Every value the ranges allow lands on one of 101 x 21 tokens per layout.
    tokens = {
        StereoParams.of(StereoLayout.TB, d, c).token()
        for d in np.linspace(0, 10, 301)
        for c in np.linspace(0, 1, 81)
    }
    assert len(tokens) == 101 * 21


@pytest.mark.parametrize(
    ("layout", "name"),
    [
        (StereoLayout.SBS, "IMG_0001_LRF_Full_SBS.jpg"),
        (StereoLayout.HALF_SBS, "IMG_0001_3dh.jpg"),
        (StereoLayout.TB, "IMG_0001_TB.jpg"),
        (StereoLayout.ANAGLYPH, "IMG_0001_anaglyph.jpg"),
    ],
)
def test_file_names_tell_vr_players_the_layout(layout: StereoLayout, name: str) -> None:
    assert stereo_filename("IMG_0001", layout) == name


# --- the benchmark ----------------------------------------------------------------------------------


def test_the_derivatives_benchmark_runs_quickly() -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "derivatives.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("slowest: stereo-")
    for layout in StereoLayout:
        assert any(line.startswith(f"stereo-{layout.value} ") for line in lines)
    assert time.perf_counter() - started < 30
