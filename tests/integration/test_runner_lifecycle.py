"""The local runner in asynchronous-inference mode, driven over HTTP as a user would: photos that import
themselves (Immich's webhook, the scheduled sync, a whole album), depth made through the emulated
asynchronous endpoint, then regenerated and deleted."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests

from immichvr_depth.intake.immich_import import media_item_id_for_asset
from tests.fakes.fake_immich import FakeImmich
from tests.support.runner import Runner

pytestmark = pytest.mark.slow

API_KEY = "lifecycle-api-key"
IMMICH_KEY = "lifecycle-immich-key"
WEBHOOK_SECRET = "lifecycle-webhook-secret"


RUNNER_ENV = {
    "INFERENCE_MODE": "async",
    "IMMICH_WEBHOOK_SECRET": WEBHOOK_SECRET,
    # A preview that is not made yet is tried again after a second, not half a minute.
    "IMPORT_RETRY_BASE_DELAY_S": "1",
}


def wait_imported(runner: Runner, media_item_id: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if runner.call("GET", f"/api/media/{media_item_id}").status_code == 200:
            return
        time.sleep(0.3)
    raise AssertionError(f"{media_item_id} was never imported; runner log:\n{runner.log_tail()}")


def webhook(runner: Runner, asset_id: str) -> requests.Response:
    payload = {
        "type": "AssetV1",
        "trigger": "AssetCreate",
        "data": {"asset": {"id": asset_id, "type": "IMAGE", "originalFileName": "new.jpg"}},
    }
    return requests.post(
        runner.url + "/api/immich/webhook",
        json=payload,
        headers={"X-Immich-Webhook-Secret": WEBHOOK_SECRET},
        timeout=10,
    )


def completed(runner: Runner, media_item_id: str) -> dict[str, object]:
    wait_imported(runner, media_item_id)
    status = runner.wait_finished(media_item_id)
    assert status["processing_status"] == "completed", status
    return status


def test_a_webhook_for_a_photo_whose_preview_is_not_made_yet_ends_with_both_maps(
    runner: Runner, immich: FakeImmich
) -> None:
    asset_id = immich.add_image(width=1200, height=900, file_name="new.jpg", preview_not_ready_requests=2)

    answer = webhook(runner, asset_id)

    assert answer.status_code == 202, answer.text
    status = completed(runner, media_item_id_for_asset(asset_id))
    assert status["thumbnail_depth_map_id"]
    assert status["full_res_depth_map_id"]
    depth = runner.call("GET", f"/api/media/{status['media_item_id']}/depth", headers={"Accept": "image/png"})
    assert depth.status_code == 200
    # Made by the emulated asynchronous endpoint: the model's facts came back in the PNG itself.
    assert depth.headers["X-Model-Name"] not in {"", "unknown"}


def test_the_sync_run_now_and_an_album_import_bring_in_what_they_find(
    runner: Runner, immich: FakeImmich
) -> None:
    # Just added to Immich, so within the sync's first look back (one interval).
    synced = immich.add_image(width=800, height=600, file_name="synced.jpg", updated_at=datetime.now(UTC))
    in_album = [immich.add_image(width=640, height=480, file_name=f"album-{n}.jpg") for n in range(2)]
    album_id = immich.add_album("Holiday", in_album)

    sync = runner.call("POST", "/_local/schedules/ImmichSyncFunction")
    album = runner.call("POST", f"/api/immich/import/album/{album_id}")

    assert sync.status_code == 200, sync.text
    assert sync.json()["result"]["queued"] >= 1, sync.text
    assert album.status_code == 202, album.text
    assert album.json()["queued"] == 2
    for asset_id in [synced, *in_album]:
        completed(runner, media_item_id_for_asset(asset_id))


def test_a_regenerated_map_gets_a_new_etag_and_a_deleted_item_is_gone(
    runner: Runner, immich: FakeImmich
) -> None:
    asset_id = immich.add_image(width=900, height=600, file_name="again.jpg")
    imported = runner.call("POST", f"/api/immich/import/{asset_id}")
    media_item_id = imported.json()["mediaItemId"]
    completed(runner, media_item_id)
    before = runner.call("GET", f"/api/media/{media_item_id}/depth/info").json()["depthMaps"]

    regenerated = runner.call("POST", f"/api/media/{media_item_id}/depth/regenerate")
    assert regenerated.status_code == 202, regenerated.text
    completed(runner, media_item_id)
    after = runner.call("GET", f"/api/media/{media_item_id}/depth/info").json()["depthMaps"]

    assert [entry["generation"] for entry in before] == [0, 0]
    assert [entry["generation"] for entry in after] == [1, 1]
    assert runner.call("DELETE", f"/api/media/{media_item_id}").status_code == 204
    assert runner.call("GET", f"/api/media/{media_item_id}").status_code == 404
    assert runner.call("GET", f"/api/media/{media_item_id}/depth").status_code == 404
