"""The local runner with DepthBackend=lambda: the depth inference function's handler, in process behind
the processor's Lambda backend, makes the depth maps of an upload end to end."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.support.images import jpeg_bytes
from tests.support.runner import Runner

pytestmark = pytest.mark.slow

API_KEY = "lambda-e2e-api-key"
IMMICH_KEY = "lambda-e2e-immich-key"
RUNNER_ENV = {
    "DEPTH_BACKEND": "lambda",
    "IMMICHVR_LOCAL_PARAMETERS": "DepthBackend=lambda DepthFunctionMaxConcurrency=2",
}


def test_an_upload_ends_with_both_depth_maps_made_by_the_lambda_handler(runner: Runner) -> None:
    media_item_id = runner.upload("lambda.jpg", jpeg_bytes(900, 600, seed=11))

    status = runner.wait_finished(media_item_id)

    assert status["processing_status"] == "completed", status
    for version in ("thumbnail", "full_resolution"):
        depth = runner.call(
            "GET",
            f"/api/media/{status['media_item_id']}/depth",
            params={"version": version},
            headers={"Accept": "image/png"},
        )
        assert depth.status_code == 200, depth.text
        assert depth.headers["X-Model-Name"] == "depth-anything-v2"
        with Image.open(io.BytesIO(depth.content)) as png:
            assert (png.size, png.mode.startswith("I;16")) == ((900, 600), True)
    lines = [json.loads(line) for line in runner.log_tail(200_000).splitlines() if line.startswith("{")]
    assert any(line.get("depth_backend") == "lambda" for line in lines), runner.log_tail()
    invocations = [line for line in lines if line.get("message") == "depth inference function invoked"]
    assert len(invocations) == 2, runner.log_tail()  # the thumbnail's and the full-resolution map's
