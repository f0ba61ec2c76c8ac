"""The custom attributes header and the sizes it asks for."""

from __future__ import annotations

import pytest

from depth_inference import attributes, sizing
from depth_inference.attributes import InvocationParams
from depth_inference.errors import InvalidInput


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, InvocationParams(518, None)),
        ("", InvocationParams(518, None)),
        ("input_size=1036", InvocationParams(1036, None)),
        (" input_size = 266 , output_width=640,output_height=480 ", InvocationParams(266, (640, 480))),
        ("output_height=480,output_width=640,", InvocationParams(518, (640, 480))),
    ],
)
def test_parse(header: str | None, expected: InvocationParams) -> None:
    assert attributes.parse(header) == expected


@pytest.mark.parametrize(
    "header",
    ["input_size", "=5", "input_size=5.5", "input_size=1,input_size=2", "trace=abc", "output_height=4"],
)
def test_parse_rejects(header: str) -> None:
    with pytest.raises(InvalidInput):
        attributes.parse(header)


def test_format_keeps_floats_exact() -> None:
    depth_min, depth_max = 0.1 + 0.2, 1 / 3
    header = attributes.format_attributes(
        {"model_name": "depth-anything-v2", "depth_min": depth_min, "depth_max": depth_max, "input_size": 518}
    )

    pairs = dict(pair.split("=", 1) for pair in header.split(","))
    assert pairs["model_name"] == "depth-anything-v2"
    assert float(pairs["depth_min"]) == depth_min
    assert float(pairs["depth_max"]) == depth_max
    assert pairs["input_size"] == "518"


@pytest.mark.parametrize(
    ("requested", "effective"),
    [(518, 518), (520, 518), (64, 70), (70, 70), (2044, 2044), (2050, 2044), (1000, 994)],
)
def test_input_size_rounds_to_a_multiple_of_14(requested: int, effective: int) -> None:
    assert sizing.effective_input_size(requested) == effective


@pytest.mark.parametrize("requested", [0, -14, 62, 2052, 10_000])
def test_input_size_out_of_range(requested: int) -> None:
    with pytest.raises(InvalidInput, match="out of range") as raised:
        sizing.effective_input_size(requested)
    assert raised.value.status == 400


def test_working_size_keeps_the_aspect_ratio_with_the_short_side_at_the_input_size() -> None:
    assert sizing.working_size(1440, 1080, 518) == (686, 518)
    assert sizing.working_size(1080, 1440, 518) == (518, 686)
    assert sizing.working_size(1440, 1080, 1036) == (1386, 1036)
    assert sizing.working_size(518, 518, 518) == (518, 518)


def test_output_size_limits() -> None:
    assert sizing.check_output_size((1, 8192)) == (1, 8192)
    with pytest.raises(InvalidInput):
        sizing.check_output_size((8193, 10))
