"""The import worker: queued Immich assets imported with the one import there is, retried later while
Immich is still making the preview, dropped when they can never be imported."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.immich_import_worker import app as worker
from immichvr_depth.intake.immich_import import media_item_id_for_asset
from immichvr_depth.intake.import_queue import MAX_RETRY_DELAY_S, ImportSource, enqueue_import, retry_delay_s
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.tables import MediaItem
from immichvr_local.worker import sqs_event
from tests.fakes.fake_immich import FakeImmich
from tests.support.events import lambda_context

IMMICH_KEY = "immich-worker-key"


def receive() -> list[dict[str, Any]]:
    """What Lambda's event source mapping would receive from the import queue now."""
    answer = aws.sqs().receive_message(
        QueueUrl=get_settings().import_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    return answer.get("Messages", [])


def deliver(messages: list[dict[str, Any]]) -> set[str]:
    """Invoke the worker with the batch; delete what it did not report failed, as Lambda does.
    Returns the ids of the failed messages."""
    queue = get_settings().import_queue_url
    arn = aws.sqs().get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    response = worker.lambda_handler(sqs_event(messages, arn), lambda_context("ImmichImportWorkerFunction"))
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            aws.sqs().delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return failed


def make_visible_now(message: dict[str, Any]) -> None:
    """The postponement has passed (instead of waiting for it)."""
    aws.sqs().change_message_visibility(
        QueueUrl=get_settings().import_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )


def processing_messages() -> list[dict[str, Any]]:
    answer = aws.sqs().receive_message(
        QueueUrl=get_settings().processing_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def test_a_preview_not_made_yet_is_retried_later_and_imported_once_it_is(immich: FakeImmich) -> None:
    # Right after an upload: the asset answers, its preview is a 404 for the next two requests.
    asset_id = immich.add_image(width=640, height=480, preview_not_ready_requests=2)
    enqueue_import(asset_id, ImportSource.WEBHOOK)

    first = receive()
    assert deliver(first) == {first[0]["MessageId"]}
    assert receive() == [], "postponed: not visible again at once"
    assert MediaItem.count() == 0, "the failed try left no item behind"

    make_visible_now(first[0])
    second = receive()
    assert second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert deliver(second) == {second[0]["MessageId"]}

    make_visible_now(second[0])
    assert deliver(receive()) == set()

    item = MediaItem.get(media_item_id_for_asset(asset_id))
    assert (item.immich_asset_id, item.status) == (asset_id, "queued")
    assert processing_messages() == [{"mediaItemId": item.media_item_id}]
    assert immich.count(f"/api/assets/{asset_id}/thumbnail") == 3


def test_each_retry_waits_longer_up_to_a_cap() -> None:
    delays = [retry_delay_s(count, base_s=30) for count in range(1, 10)]

    assert delays[:5] == [30, 60, 120, 240, 480]
    assert delays == sorted(delays)
    assert max(delays) == MAX_RETRY_DELAY_S


def test_the_worker_postpones_by_the_receive_count(
    immich: FakeImmich, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_id = immich.add_image(width=64, height=48, preview_not_ready_requests=5)
    enqueue_import(asset_id, ImportSource.SYNC)
    postponed: list[int] = []
    real = aws.sqs()

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def change_message_visibility(self, **request: Any) -> Any:
            postponed.append(request["VisibilityTimeout"])
            return real.change_message_visibility(**request)

    monkeypatch.setattr(aws, "sqs", Recording)
    for _ in range(3):
        (message,) = receive()
        deliver([message])
        make_visible_now(message)

    # The worker's postponements (the zeros are this test's own releases, standing in for the wait).
    assert [delay for delay in postponed if delay] == [30, 60, 120]


def test_an_asset_that_can_never_be_imported_is_dropped_not_retried(immich: FakeImmich) -> None:
    video = immich.add_video(width=64, height=48)
    trashed = immich.add_image(width=64, height=48, is_trashed=True)
    unknown = "0e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6"
    for asset_id in (video, trashed, unknown):
        enqueue_import(asset_id, ImportSource.SYNC)

    assert deliver(receive()) == set()

    assert receive() == []
    assert MediaItem.count() == 0


def test_an_unreadable_message_is_dropped(immich: FakeImmich) -> None:
    aws.sqs().send_message(QueueUrl=get_settings().import_queue_url, MessageBody="{not json")

    assert deliver(receive()) == set()


def test_the_same_asset_queued_twice_is_one_media_item(immich: FakeImmich) -> None:
    asset_id = immich.add_image(width=64, height=48)
    enqueue_import(asset_id, ImportSource.WEBHOOK)
    enqueue_import(asset_id, ImportSource.SYNC)

    batch = receive()
    assert len(batch) == 2
    assert deliver(batch) == set()

    assert MediaItem.count() == 1
    assert len(processing_messages()) == 1
    assert immich.count(f"/api/assets/{asset_id}/original") == 1
