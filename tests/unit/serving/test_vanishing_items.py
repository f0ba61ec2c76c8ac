"""An item deleted while a request or a worker is using it: 404 once it is gone, 409 while it is
`deleting`, a JSON body either way, and never a 500 nor an exception out of a worker.

Each race is staged: the item is removed (or moved to `deleting`) right before the conditional write
that the request makes next, which is where a concurrent DELETE lands in practice."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from immichvr_depth.depth import completion
from immichvr_depth.depth.async_inference import Notification
from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.store import media_items
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem
from tests.fakes.fake_immich import FakeImmich
from tests.support.depth import ChangingBackend, call, completed_item, json_body
from tests.support.immich import import_via_api

ITEM_ID = "5b0c8f4e-3a2d-4e6f-9b1a-7c8d9e0f1a2b"
IMMICH_KEY = "immich-vanishing-key"


def before_next_transition(monkeypatch: pytest.MonkeyPatch, meddle: Callable[[str], None]) -> None:
    """Run `meddle(media_item_id)` once, just before the next status change is written."""
    original = media_items.transition
    done: list[bool] = []

    def transition(item: MediaItem, *args: Any, **kwargs: Any) -> None:
        if not done:
            done.append(True)
            meddle(item.media_item_id)
        original(item, *args, **kwargs)

    monkeypatch.setattr(media_items, "transition", transition)


def removed(media_item_id: str) -> None:
    MediaItem(media_item_id).delete()


def deleting(media_item_id: str) -> None:
    MediaItem(media_item_id).update(actions=[MediaItem.status.set(ProcessingStatus.DELETING.value)])


@pytest.fixture
def completed(aws: dict[str, str]) -> MediaItem:
    return completed_item(ITEM_ID, ChangingBackend())


def assert_json_error(response: dict[str, Any], status: int) -> None:
    assert response["statusCode"] == status, response["body"]
    body = json_body(response)
    assert body["success"] is False
    assert body["message"]


@pytest.mark.usefixtures("completed")
def test_a_regeneration_whose_item_was_deleted_meanwhile_is_a_404(monkeypatch: pytest.MonkeyPatch) -> None:
    before_next_transition(monkeypatch, removed)

    assert_json_error(call("POST", f"/api/media/{ITEM_ID}/depth/regenerate"), 404)


@pytest.mark.usefixtures("completed")
def test_a_regeneration_of_an_item_being_deleted_is_a_409(monkeypatch: pytest.MonkeyPatch) -> None:
    before_next_transition(monkeypatch, deleting)

    response = call("POST", f"/api/media/{ITEM_ID}/depth/regenerate")

    assert_json_error(response, 409)
    assert json_body(response)["details"]["processingStatus"] == "deleting"


@pytest.mark.usefixtures("completed")
def test_a_delete_that_another_delete_finished_first_is_a_404(monkeypatch: pytest.MonkeyPatch) -> None:
    before_next_transition(monkeypatch, removed)

    assert_json_error(call("DELETE", f"/api/media/{ITEM_ID}"), 404)


def test_an_import_whose_item_is_deleted_before_it_is_queued_is_a_404_and_leaves_nothing(
    immich: FakeImmich, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_id = immich.add_image(width=64, height=48)
    before_next_transition(monkeypatch, removed)

    status, body = import_via_api(asset_id)

    assert status == 404
    assert body["success"] is False
    assert MediaItem.count() == 0


@pytest.mark.usefixtures("aws")
def test_a_processor_whose_item_is_deleted_before_it_starts_drops_the_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    completed_item(ITEM_ID, ChangingBackend())
    MediaItem(ITEM_ID).update(actions=[MediaItem.status.set(ProcessingStatus.QUEUED.value)])
    before_next_transition(monkeypatch, removed)

    outcome = process_media_item(ITEM_ID, ChangingBackend())

    assert outcome.status is ProcessingStatus.FAILED
    assert outcome.reason == "media item was deleted meanwhile"


@pytest.mark.usefixtures("aws")
def test_an_asynchronous_answer_whose_item_is_deleted_while_it_is_handled_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = completed_item(ITEM_ID, ChangingBackend())
    item.update(actions=[MediaItem.status.set(ProcessingStatus.PROCESSING.value)])
    failure = Notification.from_json(
        json.dumps(
            {
                "invocationStatus": "Failed",
                "inferenceId": f"{ITEM_ID}:thumbnail:0a1b2c3d",
                "requestParameters": {"inputLocation": "s3://bucket/async-inference/input/x"},
                "failureReason": "ClientError: Received server error (500) from model",
            }
        )
    )
    item.update(actions=[MediaItem.pending_versions.set({"thumbnail"})])
    before_next_transition(monkeypatch, removed)
    monkeypatch.setattr(completion, "_clean_up", lambda notification: None)

    result = completion.handle_notification(failure)

    assert result.result is completion.Result.DROPPED
