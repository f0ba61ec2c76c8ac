"""POST /api/immich/import/{assetId} against a fake Immich that answers as its OpenAPI document says."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from immichvr_depth.intake import immich_import
from immichvr_depth.intake.immich_import import media_item_id_for_asset
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.tables import MediaItem
from tests.fakes.fake_immich import FakeImmich
from tests.support.immich import import_via_api

IMMICH_KEY = "immich-secret-key-do-not-log"


IMMICH_SETTINGS = {"IMMICH_READ_TIMEOUT_S": "1", "IMMICH_CONNECT_TIMEOUT_S": "1"}


def queued_messages() -> list[dict[str, Any]]:
    sqs = aws.sqs()
    url = get_settings().processing_queue_url
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return [json.loads(message["Body"]) for message in messages]


def stored_keys() -> list[str]:
    listing = aws.s3().list_objects_v2(Bucket=get_settings().media_bucket)
    return sorted(entry["Key"] for entry in listing.get("Contents", []))


def test_an_import_stores_both_files_records_the_item_and_queues_it(immich: FakeImmich) -> None:
    asset_id = immich.add_image(width=2400, height=1800, orientation=6, file_name="beach.jpg")

    status, body = import_via_api(asset_id)

    assert status == 202
    assert body["success"] is True
    assert body["assetId"] == asset_id
    assert body["filename"] == "beach.jpg"
    assert body["queueId"]
    assert body["thumbnailSize"] > 0
    assert body["fullResSize"] > body["thumbnailSize"]
    item = MediaItem.get(body["mediaItemId"])
    assert (item.source_type, item.immich_asset_id, item.status) == ("immich", asset_id, "queued")
    assert (item.width, item.height) == (1800, 2400)  # as shown: EXIF orientation 6 turns it upright
    assert item.thumbnail_path in stored_keys()
    assert item.original_path in stored_keys()
    assert queued_messages() == [{"mediaItemId": body["mediaItemId"]}]


def test_the_preview_keeps_the_type_immich_sent(immich: FakeImmich) -> None:
    asset_id = immich.add_image(preview_format="webp", file_name="leaf.jpg")

    _, body = import_via_api(asset_id)

    item = MediaItem.get(body["mediaItemId"])
    assert item.thumbnail_mime_type == "image/webp"
    assert item.thumbnail_path.endswith(".webp")


def test_importing_again_returns_the_existing_item_without_queueing_twice(immich: FakeImmich) -> None:
    asset_id = immich.add_image()
    _, first = import_via_api(asset_id)

    status, again = import_via_api(asset_id)

    assert status == 200
    assert again["alreadyImported"] is True
    assert again["mediaItemId"] == first["mediaItemId"]
    assert len(queued_messages()) == 1
    assert MediaItem.count() == 1


def test_two_imports_racing_past_the_existence_check_still_create_one_item(
    immich: FakeImmich, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both requests looked before either wrote: only the conditional claim stands between them.
    # (moto's in-process DynamoDB is not atomic under threads, so the race is staged, not run.)
    monkeypatch.setattr(immich_import, "_existing_import", lambda asset_id: None)
    asset_id = immich.add_image()

    first_status, first = import_via_api(asset_id)
    second_status, second = import_via_api(asset_id)

    assert (first_status, second_status) == (202, 200)
    assert second["alreadyImported"] is True
    assert first["mediaItemId"] == second["mediaItemId"] == media_item_id_for_asset(asset_id)
    assert MediaItem.count() == 1
    assert len(queued_messages()) == 1
    assert len(stored_keys()) == 2  # the loser removed nothing of the winner's


@pytest.mark.parametrize(
    ("make_asset", "status", "error_text"),
    [
        (lambda fake: fake.add_video(), 422, "not an image"),
        (lambda fake: fake.add_image(is_trashed=True), 409, "trash"),
        (lambda fake: fake.add_image(is_offline=True), 409, "offline"),
        (lambda fake: str(uuid.uuid4()), 404, "not found"),
    ],
    ids=["video", "trashed", "offline", "unknown"],
)
def test_assets_that_cannot_get_depth_are_refused_with_a_reason(
    immich: FakeImmich, make_asset: Any, status: int, error_text: str
) -> None:
    answer, body = import_via_api(make_asset(immich))

    assert answer == status
    assert body["success"] is False
    assert error_text in body["message"].lower()
    assert MediaItem.count() == 0
    assert stored_keys() == []


def test_an_asset_id_that_is_not_a_uuid_is_a_400(immich: FakeImmich) -> None:
    status, body = import_via_api("not-a-uuid")

    assert status == 400
    assert "assetId" in body["message"]


def test_a_rejected_immich_key_is_a_502_that_does_not_leak_the_key(
    immich: FakeImmich, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMMICH_API_KEY", "wrong-key")
    get_settings.cache_clear()

    status, body = import_via_api(immich.add_image())

    assert status == 502
    assert "wrong-key" not in json.dumps(body)


def test_a_missing_immich_permission_is_a_502_naming_it(immich: FakeImmich) -> None:
    asset_id = immich.add_image(denied_permissions={"asset.download"})

    status, body = import_via_api(asset_id)

    assert status == 502
    assert "asset.download" in body["message"]
    assert MediaItem.count() == 0
    assert stored_keys() == []


def test_immich_unreachable_is_a_504(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMMICH_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("IMMICH_API_KEY", IMMICH_KEY)
    get_settings.cache_clear()

    status, body = import_via_api(str(uuid.uuid4()))

    assert status == 504
    assert body["error"] == "upstream_timeout"


def test_a_download_that_stalls_leaves_nothing_behind(immich: FakeImmich) -> None:
    asset_id = immich.add_image(stall_after_bytes=1000)
    immich.stall_s = 3

    status, _ = import_via_api(asset_id)

    assert status == 504
    assert MediaItem.count() == 0
    assert stored_keys() == []
    assert queued_messages() == []
