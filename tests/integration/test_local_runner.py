"""The local runner as a user runs it: a subprocess serving HTTP, driven to finished depth maps."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from immichvr_local.stack import free_port
from tests.conftest import REPO_ROOT
from tests.fakes.fake_immich import FakeImmich
from tests.support.images import jpeg_bytes

pytestmark = pytest.mark.slow

API_KEY = "e2e-api-key"
IMMICH_KEY = "e2e-immich-key"
FINISHED = {"completed", "failed"}


@dataclass
class Runner:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"x-api-key": API_KEY} | kwargs.pop("headers", {})
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def wait_finished(self, media_item_id: str, timeout_s: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = self.call("GET", f"/api/media/{media_item_id}")
            if response.status_code == 200 and response.json()["processing_status"] in FINISHED:
                return dict(response.json())
            time.sleep(0.5)
        raise AssertionError(f"{media_item_id} did not finish; runner log:\n{self.log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def immich() -> Iterator[FakeImmich]:
    with FakeImmich(version="3.1.0", api_key=IMMICH_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def runner(
    immich: FakeImmich, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runner]:
    port = free_port()
    log = tmp_path_factory.mktemp("runner") / "runner.log"
    env = os.environ | {
        "API_KEY": API_KEY,
        "IMMICH_URL": immich.url,
        "IMMICH_API_KEY": IMMICH_KEY,
        "DEPTH_MODEL": str(tiny_model_dir),
        "PYTHONUNBUFFERED": "1",
        # Keep a developer's own `make run` state file out of the test's way.
        "IMMICHVR_LOCAL_STATE_DIR": str(tmp_path_factory.mktemp("state")),
    }
    env.pop("MEDIA_TABLE", None)
    env.pop("DEPTH_MAPS_TABLE", None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "immichvr_local", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Runner(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_serving(running)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_serving(running: Runner, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"runner exited early:\n{running.log.read_text()}")
        try:
            if running.call("GET", "/api/media").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"runner did not start:\n{running.log.read_text()}")


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
    thumb = runner.call("GET", f"/api/media/{media_item_id}/depth", params={"version": "thumbnail"})
    assert thumb.headers["X-Depth-Map-Version"] == "thumbnail"
    assert _png(thumb).size[1] > _png(thumb).size[0]
    info = runner.call("GET", f"/api/media/{media_item_id}/depth/info").json()
    counts = {entry["version_type"]: entry["access_count"] for entry in info["depthMaps"]}
    assert counts == {"thumbnail": 1, "full_resolution": 1}


def test_a_presigned_upload_ends_with_both_depth_maps_downloadable(runner: Runner) -> None:
    photo = jpeg_bytes(1000, 750, orientation=8, seed=3)
    ticket = runner.call(
        "POST",
        "/api/media/uploads",
        json={"filename": "holiday.jpg", "contentType": "image/jpeg", "size": len(photo)},
    )
    assert ticket.status_code == 201, ticket.text
    upload = ticket.json()["upload"]

    stored = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("holiday.jpg", photo, "image/jpeg")}, timeout=30
    )
    assert stored.status_code in {200, 204}, stored.text
    status = runner.wait_finished(ticket.json()["mediaItemId"])

    assert status["processing_status"] == "completed", status
    assert (status["source_type"], status["filename"]) == ("upload", "holiday.jpg")
    assert (status["width"], status["height"]) == (750, 1000)
    full = runner.call("GET", f"/api/media/{status['media_item_id']}/depth")
    assert _png(full).size == (750, 1000)
    thumb = runner.call("GET", f"/api/media/{status['media_item_id']}/depth", params={"version": "thumbnail"})
    assert _png(thumb).size == (750, 1000)  # smaller than the 1440 long side: never upscaled
