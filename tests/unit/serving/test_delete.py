"""DELETE /api/media/{id}: the item goes with every file and record it has, even after a crash midway,
and a processor arriving late writes nothing into it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from immichvr_depth.depth.backends import DepthPrediction
from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.intake.immich import ImmichClient
from immichvr_depth.intake.immich_import import media_item_id_for_asset
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.serving import deletion
from immichvr_depth.store import media_items
from immichvr_depth.store.keys import item_prefixes
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from tests.fakes.fake_immich import FakeImmich
from tests.support.audit import audit_stores
from tests.support.depth import ChangingBackend, call, completed_item, json_body, keys_under, put, receive_all
from tests.support.images import jpeg_bytes
from tests.support.immich import import_via_api

ITEM_ID = "2b3c4d5e-0000-4000-8000-0000000000aa"
OTHER_ID = "2b3c4d5e-0000-4000-8000-0000000000bb"
MISSING_ID = "7e1d9a55-52b8-4d6f-9f61-2a0c4b3f8e10"
IMMICH_KEY = "delete-test-immich-key"


def files_of(media_item_id: str) -> set[str]:
    return {key for prefix in item_prefixes(media_item_id) for key in keys_under(prefix)}


def delete(media_item_id: str = ITEM_ID) -> dict[str, object]:
    return call("DELETE", f"/api/media/{media_item_id}")


@pytest.mark.usefixtures("aws")
def test_delete_removes_every_file_and_record_of_the_item_and_nothing_else() -> None:
    backend = ChangingBackend()
    completed_item(ITEM_ID, backend)
    completed_item(OTHER_ID, backend)
    put(f"uploads/{ITEM_ID}/IMG_0001.jpg", jpeg_bytes(64, 48))  # the upload it was ingested from
    put(f"depth-maps/{ITEM_ID}/IMG_0001_{ITEM_ID}_depth_g3.png", b"left by a crash", "image/png")
    other_files = files_of(OTHER_ID)
    assert len(files_of(ITEM_ID)) == 6

    response = delete()

    assert response["statusCode"] == 204
    assert not response["body"]
    assert files_of(ITEM_ID) == set()
    assert DepthMapRecord.count(ITEM_ID) == 0
    assert media_items.find_item(ITEM_ID) is None
    assert files_of(OTHER_ID) == other_files
    assert DepthMapRecord.count(OTHER_ID) == 2
    audit = audit_stores()
    audit.assert_consistent()
    assert (audit.items, audit.depth_records, audit.depth_files, audit.files_without_record) == (1, 2, 2, 0)
    assert delete()["statusCode"] == 404


@pytest.mark.usefixtures("aws")
def test_unknown_or_malformed_ids_are_404_and_400() -> None:
    missing = delete(MISSING_ID)
    malformed = call("DELETE", "/api/media/not-a-uuid")

    assert missing["statusCode"] == 404
    assert json_body(missing)["error"] == "not_found"
    assert malformed["statusCode"] == 400


@pytest.mark.usefixtures("aws")
def test_a_delete_that_crashed_midway_is_finished_by_repeating_it(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ChangingBackend()
    completed_item(ITEM_ID, backend)

    def crash(self: MediaItem, *args: object, **kwargs: object) -> None:
        raise ConnectionError("function timed out before removing the item")

    with monkeypatch.context() as patched:
        patched.setattr(media_items, "leave_tombstone", crash)
        crashed = delete()
    assert crashed["statusCode"] == 500
    assert media_items.get_item(ITEM_ID).status == "deleting"
    assert json_body(call("POST", f"/api/media/{ITEM_ID}/depth/regenerate"))["error"] == "status_conflict"

    # A processor that gets a message for it now drops it and writes nothing.
    outcome = process_media_item(ITEM_ID, backend)
    assert outcome.reason == "media item is being deleted"
    assert DepthMapRecord.count(ITEM_ID) == 0

    assert delete()["statusCode"] == 204
    assert media_items.find_item(ITEM_ID) is None
    assert files_of(ITEM_ID) == set()
    assert delete()["statusCode"] == 404


class DeletedWhileInferring(ChangingBackend):
    """The item is deleted while the endpoint works on its full-resolution map."""

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        if input_size == get_settings().full_resolution_input_size:
            assert delete()["statusCode"] == 204
        return super().estimate(body, content_type, input_size)


@pytest.mark.usefixtures("aws")
def test_a_processor_that_finishes_after_the_delete_leaves_nothing_behind() -> None:
    item = MediaItem(ITEM_ID, source_type="upload", filename="late.jpg", mime_type="image/jpeg")
    item.original_path = f"originals/{ITEM_ID}/late.jpg"
    put(item.original_path, jpeg_bytes(320, 240))
    item.status = ProcessingStatus.QUEUED.value
    item.save()

    outcome = process_media_item(ITEM_ID, DeletedWhileInferring())

    assert outcome.status is ProcessingStatus.FAILED
    assert outcome.reason == "media item was deleted while its depth maps were made"
    assert files_of(ITEM_ID) == set()  # the map it wrote was removed again
    assert DepthMapRecord.count(ITEM_ID) == 0
    assert media_items.find_item(ITEM_ID) is None


@pytest.mark.usefixtures("aws")
def test_the_delete_transition_is_allowed_from_every_status() -> None:
    for status in ProcessingStatus:
        if status is ProcessingStatus.DELETED:
            continue  # the end of a delete: nothing is left to delete (the next test)
        item = MediaItem(ITEM_ID, source_type="upload", filename="a.jpg", mime_type="image/jpeg")
        item.status = status.value
        item.save()
        assert deletion.delete_media_item(ITEM_ID).media_item_id == ITEM_ID, status
        assert media_items.find_item(ITEM_ID) is None, status


@pytest.mark.usefixtures("aws")
def test_a_deleted_item_is_not_found_by_a_delete_nor_any_read() -> None:
    completed_item(ITEM_ID, ChangingBackend())
    assert delete()["statusCode"] == 204

    assert delete()["statusCode"] == 404
    for path in ("", "/depth", "/depth/info"):
        assert call("GET", f"/api/media/{ITEM_ID}{path}")["statusCode"] == 404, path
    assert call("POST", f"/api/media/{ITEM_ID}/depth/regenerate")["statusCode"] == 404
    assert json_body(call("GET", "/api/media"))["items"] == []
    assert media_items.is_deleted(ITEM_ID)


def test_a_deleted_immich_asset_can_be_imported_again(immich: FakeImmich) -> None:
    asset_id = immich.add_image(width=800, height=600, file_name="again.jpg")
    status, first = import_via_api(asset_id)
    assert status == 202
    media_item_id = str(first["mediaItemId"])
    assert delete(media_item_id)["statusCode"] == 204

    status, second = import_via_api(asset_id)

    assert status == 202
    assert second["alreadyImported"] is False
    assert second["mediaItemId"] == media_item_id  # the same id: nothing stale was left to block it
    assert media_items.get_item(media_item_id).status == "queued"
    assert len(files_of(media_item_id)) == 2
    assert [json.loads(m["Body"])["mediaItemId"] for m in receive_all()] == [media_item_id, media_item_id]


def test_an_import_still_running_when_its_item_is_deleted_brings_nothing_back(
    immich: FakeImmich, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_id = immich.add_image(width=800, height=600, file_name="late.jpg")
    media_item_id = media_item_id_for_asset(asset_id)
    download_original = ImmichClient.download_original

    def deleted_while_downloading(client: ImmichClient, asset: str) -> Any:
        assert delete(media_item_id)["statusCode"] == 204
        return download_original(client, asset)

    monkeypatch.setattr(ImmichClient, "download_original", deleted_while_downloading)

    status, body = import_via_api(asset_id)

    assert status == 404
    assert body["error"] == "not_found"
    assert media_items.find_item(media_item_id) is None
    assert files_of(media_item_id) == set()
    assert receive_all() == []
