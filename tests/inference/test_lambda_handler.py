"""The Lambda function's handler (the image's `lambda` target): the endpoint's request and answer as
JSON on the same engine, its refusals as answers, and answers too large for Lambda's 6 MB through S3."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from depth_inference import lambda_handler as module
from depth_inference.engine import DepthEngine
from depth_inference.lambda_handler import MAX_INLINE_ANSWER_BYTES, DepthFunction, lambda_handler
from tests.inference.helpers import decode_depth
from tests.support.images import jpeg_bytes

REPO_ROOT = Path(__file__).resolve().parents[2]


def event(image: bytes, **fields: Any) -> dict[str, Any]:
    return {
        "image": base64.b64encode(image).decode(),
        "content_type": "image/jpeg",
        "input_size": 70,
    } | fields


@pytest.fixture
def function(engine: DepthEngine) -> DepthFunction:
    return DepthFunction(lambda: engine)


def test_the_images_cmd_loads_the_model_as_the_endpoint_does_and_answers_its_facts(
    tiny_model_dir: Path, tmp_path: Path, engine: DepthEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler the Dockerfile's CMD names, with the model resolved as in the image (SM_MODEL_DIR
    first, here empty, then DEPTH_MODEL): the same PNG and facts as the engine the endpoint serves."""
    monkeypatch.setenv("DEPTH_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(module, "handler", DepthFunction())
    photo = jpeg_bytes(200, 150)

    answer = json.loads(json.dumps(lambda_handler(event(photo), None)))  # as Lambda carries it

    expected = engine.predict(photo, input_size=70)
    assert base64.b64decode(answer["png"]) == expected.png
    assert answer == {
        "png": answer["png"],
        "model_name": "depth-anything-v2",
        "model_version": expected.model_version,
        "input_size": 70,
        "depth_min": expected.depth_min,
        "depth_max": expected.depth_max,
        "width": expected.width,
        "height": expected.height,
    }
    with Image.open(io.BytesIO(base64.b64decode(answer["png"]))) as png:
        assert png.mode.startswith("I;16")
        assert png.text["model_name"] == "depth-anything-v2"  # the same file the endpoint answers


def test_output_size_is_asked_for_as_from_the_endpoint(function: DepthFunction, engine: DepthEngine) -> None:
    photo = jpeg_bytes(200, 150)

    answer = function(event(photo, output_width=64, output_height=48))

    assert (answer["width"], answer["height"]) == (64, 48)
    expected = engine.predict(photo, input_size=70, output_size=(64, 48))
    depth = decode_depth(base64.b64decode(answer["png"]), answer["depth_min"], answer["depth_max"])
    assert depth.shape == (48, 64)
    assert base64.b64decode(answer["png"]) == expected.png


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"image": base64.b64encode(b"not an image").decode()}, 400, "not an image"),
        ({"image": "***"}, 400, "not valid base64"),
        ({"image": ""}, 400, "no image"),
        ({"content_type": "image/gif"}, 415, "image/gif"),
        ({"input_size": 5000}, 400, "out of range"),
        ({"input_size": "518"}, 400, "must be an integer"),
        ({"output_width": 64}, 400, "together"),
        ({"input_sizes": 518}, 400, "unknown field"),
    ],
)
def test_a_request_the_model_cannot_serve_is_answered_with_the_endpoints_refusal(
    function: DepthFunction, fields: dict[str, Any], status: int, message: str
) -> None:
    answer = function(event(jpeg_bytes(64, 48)) | fields)

    assert set(answer) == {"error"}
    assert answer["error"]["status"] == status
    assert answer["error"]["code"] in {"invalid_input", "unsupported_media_type"}
    assert message in answer["error"]["message"]


def test_anything_else_is_raised_for_lambda_to_report_as_a_function_error() -> None:
    def broken() -> DepthEngine:
        raise RuntimeError("the depth model failed to load")

    with pytest.raises(RuntimeError, match="failed to load"):
        DepthFunction(broken)(event(jpeg_bytes(64, 48)))


class RecordingS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:  # noqa: N803
        assert ContentType == "image/png"
        self.objects[(Bucket, Key)] = Body


def test_an_answer_too_large_for_lambda_goes_to_the_location_the_request_names(engine: DepthEngine) -> None:
    s3 = RecordingS3()
    function = DepthFunction(lambda: engine, max_inline_answer_bytes=1000, s3_client=lambda: s3)
    photo = jpeg_bytes(200, 150)
    location = "s3://media-bucket/async-inference/output/lambda/abc.png"

    answer = function(event(photo, answer_location=location))

    assert "png" not in answer
    assert answer["png_location"] == location
    assert answer["model_name"] == "depth-anything-v2"
    assert s3.objects == {
        ("media-bucket", "async-inference/output/lambda/abc.png"): engine.predict(photo, 70).png
    }


def test_an_answer_too_large_without_a_location_is_refused_as_too_large(engine: DepthEngine) -> None:
    function = DepthFunction(lambda: engine, max_inline_answer_bytes=1000)

    answer = function(event(jpeg_bytes(200, 150)))

    assert answer["error"]["status"] == 413
    assert "6 MB" in answer["error"]["message"]


def test_the_inline_limit_leaves_room_inside_lambdas_6_mb() -> None:
    assert 5 * 1024 * 1024 < MAX_INLINE_ANSWER_BYTES < 6 * 1024 * 1024


def test_in_lambda_the_model_loads_at_init_before_the_first_invocation(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The runtime interface client imports the handler's module during Lambda's init phase (the only
    place AWS_LAMBDA_RUNTIME_API is set): the model is loaded by then."""
    check = (
        "from depth_inference import lambda_handler as m; "
        "assert m.handler._engine is not None; print(m.handler._engine.model_name)"
    )
    env = os.environ | {
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "DEPTH_MODEL": str(tiny_model_dir),
        "SM_MODEL_DIR": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT / "inference_container"),
    }
    result = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "depth-anything-v2"


def test_an_answer_location_that_is_not_an_s3_url_is_refused(engine: DepthEngine) -> None:
    function = DepthFunction(lambda: engine, max_inline_answer_bytes=1000, s3_client=RecordingS3)

    answer = function(event(jpeg_bytes(200, 150), answer_location="https://example.com/x.png"))

    assert answer["error"]["status"] == 400
    assert "s3://bucket/key" in answer["error"]["message"]
