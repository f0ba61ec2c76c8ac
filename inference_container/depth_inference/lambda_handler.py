"""The depth model as a Lambda function (the image's `lambda` target): the endpoint's request and answer
as JSON, on the same engine and model loading.

Event (what the processor's Lambda backend sends)::

    {"image": "<base64>", "content_type": "image/jpeg", "input_size": 1036,
     "output_width": 640, "output_height": 480,              # optional, both or neither
     "answer_location": "s3://bucket/key.png"}                # optional, see below

Answer: the facts the endpoint gives (its X-Amzn-SageMaker-Custom-Attributes) and the PNG itself::

    {"png": "<base64>", "model_name": "depth-anything-v2", "model_version": "small",
     "input_size": 1036, "depth_min": 0.0, "depth_max": 7.25, "width": 1386, "height": 1036}

Lambda answers a synchronous invocation with at most 6 MB. A 16-bit map at input 1036 is 2.9 MB raw for
a 4:3 photo and up to 8.4 MB for the widest panorama the model takes (4032x1036), and base64 adds a
third: an answer that would not fit is written to `answer_location` instead, and the JSON carries
`"png_location"` in place of `"png"`. Without an `answer_location` such an answer is a 413 refusal.

A request the model cannot serve (not an image, a bad size, an unsupported type) is answered, not
raised, as the endpoint answers it: ``{"error": {"code": "invalid_input", "status": 400, "message":
...}}``, so the caller tells the image's fault from the function's. Anything else is raised and reaches
the caller as Lambda's FunctionError ("Unhandled"), like the endpoint's 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlparse

from depth_inference.codec import check_content_type
from depth_inference.engine import DepthEngine, DepthOutput
from depth_inference.errors import InvalidInput
from depth_inference.sizing import DEFAULT_INPUT_SIZE

logger = logging.getLogger(__name__)

EngineLoader = Callable[[], DepthEngine]

# Lambda's limit on a synchronous answer is 6 MB (6,291,456 bytes); a margin for its own framing.
MAX_INLINE_ANSWER_BYTES = 6 * 1024 * 1024 - 4096


class DepthFunction:
    """The handler: the engine loaded once per execution environment (at init in Lambda, where the
    init phase runs on full CPU), then one image per invocation, as Lambda sends them."""

    def __init__(
        self,
        load_engine: EngineLoader = DepthEngine.load,
        *,
        max_inline_answer_bytes: int = MAX_INLINE_ANSWER_BYTES,
        s3_client: Callable[[], Any] | None = None,
    ) -> None:
        self._load_engine = load_engine
        self._engine: DepthEngine | None = None
        self._lock = threading.Lock()
        self.max_inline_answer_bytes = max_inline_answer_bytes
        self._s3_client = s3_client or _boto3_s3

    @property
    def engine(self) -> DepthEngine:
        with self._lock:
            if self._engine is None:
                self._engine = self._load_engine()
            return self._engine

    def __call__(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        try:
            image, content_type, input_size, output_size = _request(event)
            check_content_type(content_type)
            output = self.engine.predict(image, input_size=input_size, output_size=output_size)
            return self._answer(output, event.get("answer_location"))
        except InvalidInput as refusal:
            logger.info("rejected an invocation (%d): %s", refusal.status, refusal.message)
            return refusal_answer(refusal)

    def _answer(self, output: DepthOutput, answer_location: object) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "model_name": output.model_name,
            "model_version": output.model_version,
            "input_size": output.input_size,
            "depth_min": output.depth_min,
            "depth_max": output.depth_max,
            "width": output.width,
            "height": output.height,
        }
        inline = facts | {"png": base64.b64encode(output.png).decode("ascii")}
        if len(json.dumps(inline)) <= self.max_inline_answer_bytes:
            return inline
        if not isinstance(answer_location, str) or not answer_location:
            raise InvalidInput(
                f"the {output.width}x{output.height} depth map is {len(output.png)} bytes, too large "
                "for Lambda's 6 MB answer, and the request names no answer_location",
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        bucket, key = _s3_location(answer_location)
        self._s3_client().put_object(Bucket=bucket, Key=key, Body=output.png, ContentType="image/png")
        logger.info("answer of %d bytes written to %s", len(output.png), answer_location)
        return facts | {"png_location": answer_location}


def refusal_answer(refusal: InvalidInput) -> dict[str, Any]:
    """The function's answer to a request the model cannot serve (the endpoint's 4xx body)."""
    return {"error": {"code": refusal.code, "status": refusal.status, "message": refusal.message}}


def _request(event: Mapping[str, Any]) -> tuple[bytes, str, int, tuple[int, int] | None]:
    if not isinstance(event, Mapping):
        raise InvalidInput("the event must be a JSON object")
    known = {"image", "content_type", "input_size", "output_width", "output_height", "answer_location"}
    unknown = sorted(set(event) - known)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    encoded = event.get("image")
    if not isinstance(encoded, str) or not encoded:
        raise InvalidInput("the event carries no image: send its bytes base64-encoded as 'image'")
    try:
        image = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("'image' is not valid base64") from None
    content_type = event.get("content_type")
    if not isinstance(content_type, str):
        raise InvalidInput("'content_type' must be the image's media type, e.g. image/jpeg")
    input_size = _integer(event, "input_size", DEFAULT_INPUT_SIZE)
    width, height = event.get("output_width"), event.get("output_height")
    if (width is None) != (height is None):
        raise InvalidInput("output_width and output_height must be given together")
    output_size = None
    if width is not None and height is not None:
        output_size = (_integer(event, "output_width", 0), _integer(event, "output_height", 0))
    return image, content_type, input_size, output_size


def _integer(event: Mapping[str, Any], key: str, default: int) -> int:
    value = event.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{key} must be an integer, not {value!r}")
    return value


def _s3_location(location: str) -> tuple[str, str]:
    parsed = urlparse(location)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or not key:
        raise InvalidInput(f"answer_location must look like s3://bucket/key, not {location!r}")
    return parsed.netloc, key


def _boto3_s3() -> Any:
    import boto3  # only an answer too large to return inline needs it

    return boto3.client("s3")


handler = DepthFunction()


def lambda_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """What the image's CMD names: depth_inference.lambda_handler.lambda_handler."""
    return handler(event, context)


# In Lambda (the runtime API is set only there) the model loads during the init phase, before the
# first invocation, instead of on it.
if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper())
    handler.engine  # noqa: B018 - loading is the point
