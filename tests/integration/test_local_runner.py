"""The local runner as a user runs it: a subprocess serving HTTP, driven to finished depth maps."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.fakes.fake_immich import FakeImmich
from tests.support.images import jpeg_bytes
from tests.support.runner import Runner

pytestmark = pytest.mark.slow

API_KEY = "e2e-api-key"
IMMICH_KEY = "e2e-immich-key"


def _png(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def test_requests_without_the_api_key_are_refused(runner: Runner) -> None:
    response = requests.get(runner.url + "/api/media", timeout=10)

    assert response.status_code == 403
    assert "message" in response.json()


def test_an_immich_import_ends_with_both_depth_maps_downloadable(runner: Runner, immich: FakeImmich) -> None:
    asset_id = immich.add_image(width=1200, height=900, orientation=6, file_name="sideways.jpg")

    imported = runner.call("POST", f"/api/immich/import/{asset_id}")
    assert imported.status_code == 202, imported.text
    media_item_id = imported.json()["mediaItemId"]
    status = runner.wait_finished(media_item_id)

    assert status["processing_status"] == "completed", status
    assert status["thumbnail_depth_map_id"]
    assert status["full_res_depth_map_id"]
    full = runner.call("GET", f"/api/media/{media_item_id}/depth", headers={"Accept": "image/png"})
    assert _png(full).size == (900, 1200)  # the original turned upright
    assert full.headers["X-Depth-Map-Version"] == "full_resolution"
    for header in ("X-Model-Name", "X-Model-Version", "X-Generated-At", "ETag"):
        assert full.headers[header]
    thumb = runner.call(
        "GET",
        f"/api/media/{media_item_id}/depth",
        params={"version": "thumbnail"},
        headers={"Accept": "image/png"},
    )
    assert thumb.headers["X-Depth-Map-Version"] == "thumbnail"
    assert _png(thumb).size[1] > _png(thumb).size[0]
    info = runner.call("GET", f"/api/media/{media_item_id}/depth/info").json()
    counts = {entry["version_type"]: entry["access_count"] for entry in info["depthMaps"]}
    assert counts == {"thumbnail": 1, "full_resolution": 1}


def test_a_presigned_upload_ends_with_both_depth_maps_downloadable(runner: Runner) -> None:
    media_item_id = runner.upload("holiday.jpg", jpeg_bytes(1000, 750, orientation=8, seed=3))

    status = runner.wait_finished(media_item_id)

    assert status["processing_status"] == "completed", status
    assert (status["source_type"], status["filename"]) == ("upload", "holiday.jpg")
    assert (status["width"], status["height"]) == (750, 1000)
    full = runner.call("GET", f"/api/media/{status['media_item_id']}/depth")
    assert _png(full).size == (750, 1000)
    thumb = runner.call("GET", f"/api/media/{status['media_item_id']}/depth", params={"version": "thumbnail"})
    assert _png(thumb).size == (750, 1000)  # smaller than the 1440 long side: never upscaled


def test_an_upload_named_outside_ascii_keeps_its_name_through_the_embedded_s3(runner: Runner) -> None:
    """S3 metadata is ASCII: the name travels encoded and comes back exactly, emoji and all."""
    name = "🌅 東京 — été.jpg"
    media_item_id = runner.upload(name, jpeg_bytes(320, 240, seed=5))

    status = runner.wait_finished(media_item_id, timeout_s=60)

    assert (status["processing_status"], status["filename"]) == ("completed", name)
