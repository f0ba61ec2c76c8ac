"""SageMaker custom attributes: the only request and response header InvokeEndpoint passes through.

The format is ``key=value`` pairs separated by commas, e.g. ``input_size=518,output_width=640``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from depth_inference.errors import InvalidInput
from depth_inference.sizing import DEFAULT_INPUT_SIZE

HEADER = "X-Amzn-SageMaker-Custom-Attributes"

_KNOWN_KEYS = frozenset({"input_size", "output_width", "output_height"})


@dataclass(frozen=True)
class InvocationParams:
    input_size: int = DEFAULT_INPUT_SIZE
    output_size: tuple[int, int] | None = None  # (width, height)


def parse(header: str | None) -> InvocationParams:
    """The parameters a request asked for; unknown keys are rejected so typos do not pass silently."""
    pairs = _split(header or "")
    unknown = sorted(set(pairs) - _KNOWN_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown custom attribute(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN_KEYS))}"
        )
    values = {key: _integer(key, raw) for key, raw in pairs.items()}
    width, height = values.get("output_width"), values.get("output_height")
    if (width is None) != (height is None):
        raise InvalidInput("output_width and output_height must be given together")
    output_size = (width, height) if width is not None and height is not None else None
    return InvocationParams(values.get("input_size", DEFAULT_INPUT_SIZE), output_size)


def format_attributes(values: Mapping[str, str | int | float]) -> str:
    """``key=value`` pairs in the header's format; floats as repr so the caller gets them back exactly."""
    return ",".join(
        f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}" for key, value in values.items()
    )


def _split(header: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in header.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"custom attribute {item.strip()!r} is not key=value")
        if key in pairs:
            raise InvalidInput(f"custom attribute {key} is given twice")
        pairs[key] = value.strip()
    return pairs


def _integer(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"custom attribute {key} must be an integer, not {raw!r}") from None
