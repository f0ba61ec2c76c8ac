"""A delete sticks. Once a media item is deleted, its tombstone keeps the Immich asset out: a replayed
webhook, the scheduled sync, an album import or any queued import of it is dropped, saying why; only an
explicit `POST /api/immich/import/{assetId}` brings it back, under the same id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.immich_webhook import app as webhook_api
from functions.media_api import app as media_api
from immichvr_depth.intake import sync
from immichvr_depth.intake.immich import ImmichClient
from immichvr_depth.intake.immich_import import media_item_id_for_asset
from immichvr_depth.intake.import_queue import ImportSource, enqueue_import
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_depth.store.tables import MediaItem
from tests.fakes.fake_immich import FakeImmich
from tests.support.events import api_event, lambda_context
from tests.support.immich import import_via_api
from tests.unit.intake.test_import_worker import deliver, processing_messages, receive

IMMICH_KEY = "immich-tombstone-key"
SECRET = "tombstone-webhook-secret-0123456789"


IMMICH_SETTINGS = {"IMMICH_WEBHOOK_SECRET": SECRET}


def delete(media_item_id: str) -> int:
    response = media_api.lambda_handler(
        api_event("DELETE", f"/api/media/{media_item_id}"), lambda_context("MediaApiFunction")
    )
    return int(response["statusCode"])


def imported_then_deleted(immich: FakeImmich) -> str:
    asset_id = immich.add_image(width=64, height=48, file_name="IMG.jpg", updated_at=datetime.now(UTC))
    status, _ = import_via_api(asset_id)
    assert status == 202
    assert delete(media_item_id_for_asset(asset_id)) == 204
    processing_messages()  # the import's own message is the processor's business, not this test's
    return asset_id


def work_off_the_import_queue() -> None:
    messages = receive()
    assert messages, "something was queued"
    assert deliver(messages) == set(), "dropped, not failed: no retry can change a delete"


def assert_still_deleted(asset_id: str) -> None:
    media_item_id = media_item_id_for_asset(asset_id)
    assert media_items.find_item(media_item_id) is None
    assert media_items.is_deleted(media_item_id)


def test_a_replayed_webhook_does_not_bring_a_deleted_asset_back(immich: FakeImmich) -> None:
    asset_id = imported_then_deleted(immich)
    payload = {
        "type": "AssetV1",
        "trigger": "AssetCreate",
        "data": {"asset": {"id": asset_id, "type": "IMAGE"}},
    }
    event = api_event(
        "POST", "/api/immich/webhook", headers={"X-Immich-Webhook-Secret": SECRET}, json_body=payload
    )
    assert webhook_api.lambda_handler(event, lambda_context("ImmichWebhookFunction"))["statusCode"] == 202

    work_off_the_import_queue()

    assert_still_deleted(asset_id)


@pytest.mark.parametrize("source", [ImportSource.SYNC, ImportSource.ALBUM, ImportSource.WEBHOOK])
def test_a_queued_import_from_any_source_is_dropped_for_a_deleted_asset(
    immich: FakeImmich, source: ImportSource
) -> None:
    asset_id = imported_then_deleted(immich)
    enqueue_import(asset_id, source)

    work_off_the_import_queue()

    assert_still_deleted(asset_id)


def test_the_scheduled_sync_finds_the_asset_again_and_leaves_it_deleted(immich: FakeImmich) -> None:
    asset_id = imported_then_deleted(immich)
    with ImmichClient.from_settings(get_settings()) as client:
        result = sync.run_sync(client, get_settings(), now=datetime.now(UTC) + timedelta(minutes=1))
    assert result.queued == 1

    work_off_the_import_queue()

    assert_still_deleted(asset_id)


def test_an_explicit_import_lifts_the_deletion_under_the_same_id(immich: FakeImmich) -> None:
    asset_id = imported_then_deleted(immich)

    status, body = import_via_api(asset_id)

    assert status == 202
    assert body["mediaItemId"] == media_item_id_for_asset(asset_id)
    assert media_items.get_item(media_item_id_for_asset(asset_id)).status == "queued"
    assert not media_items.is_deleted(media_item_id_for_asset(asset_id))


def test_a_tombstone_keeps_what_names_the_item_and_is_listed_nowhere(immich: FakeImmich) -> None:
    asset_id = imported_then_deleted(immich)

    tombstone = MediaItem.get(media_item_id_for_asset(asset_id))
    assert (tombstone.status, tombstone.immich_asset_id, tombstone.filename) == (
        "deleted",
        asset_id,
        "IMG.jpg",
    )
    assert tombstone.original_path is None
    assert tombstone.thumbnail_path is None
    assert media_items.list_items(10, None).items == []
