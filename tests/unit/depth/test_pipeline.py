"""The whole path in-process under moto, with the tiny real model: Immich import, the SQS-triggered
processor, then the depth API. Also the processor's batch and redrive behaviour."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from functions.depth_processor import app as processor
from functions.immich_import import app as import_api
from functions.media_api import app as media_api
from immichvr_depth.depth.backends import DepthBackendUnavailable, DepthPrediction
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_local.depth_backend import register_in_process_backend
from immichvr_local.worker import sqs_event
from tests.fakes.fake_immich import FakeImmich
from tests.support.events import api_event, invoke_api, lambda_context
from tests.support.immich import immich_for_functions

IMMICH_KEY = "pipeline-immich-key"


@pytest.fixture
def system(
    aws: dict[str, str], tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeImmich]:
    with immich_for_functions(
        monkeypatch,
        version="2.7.5",
        api_key=IMMICH_KEY,
        DEPTH_BACKEND="local",
        DEPTH_MODEL=str(tiny_model_dir),
    ) as fake:
        register_in_process_backend()
        yield fake


def receive(max_messages: int = 10) -> list[dict[str, Any]]:
    messages = aws.sqs().receive_message(
        QueueUrl=get_settings().processing_queue_url,
        MaxNumberOfMessages=max_messages,
        AttributeNames=["All"],
        VisibilityTimeout=0,
    )
    return list(messages.get("Messages", []))


def run_processor(messages: list[dict[str, Any]]) -> dict[str, Any]:
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:processing")
    result: dict[str, Any] = processor.lambda_handler(event, lambda_context("DepthProcessorFunction"))
    return result


def api(handler: Any, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = handler.lambda_handler(api_event(method, path, **kwargs), lambda_context())
    return response


def headers(response: dict[str, Any]) -> dict[str, str]:
    return {name: values[0] for name, values in response["multiValueHeaders"].items()}


def test_an_imported_photo_gets_both_depth_maps_at_their_versions_sizes(system: FakeImmich) -> None:
    asset_id = system.add_image(width=1600, height=1200, orientation=6, file_name="tower.jpg")
    imported = api(import_api, "POST", f"/api/immich/import/{asset_id}")
    media_item_id = json.loads(imported["body"])["mediaItemId"]

    result = run_processor(receive())

    assert result == {"batchItemFailures": []}
    status = json.loads(api(media_api, "GET", f"/api/media/{media_item_id}")["body"])
    assert status["processing_status"] == "completed"
    image = {"Accept": "image/png"}
    full = invoke_api("GET", f"/api/media/{media_item_id}/depth", headers=image)
    thumb = invoke_api(
        "GET", f"/api/media/{media_item_id}/depth", query={"version": "thumbnail"}, headers=image
    )
    full_png = Image.open(io.BytesIO(base64.b64decode(full["body"])))
    thumb_png = Image.open(io.BytesIO(base64.b64decode(thumb["body"])))
    assert full_png.size == (1200, 1600)  # EXIF 6: the depth map has the upright size
    assert thumb_png.size == (1200, 1600)  # Immich never enlarges a preview beyond the original
    assert full_png.mode in {"I;16", "I"}
    assert headers(full)["X-Depth-Map-Version"] == "full_resolution"
    assert headers(thumb)["X-Depth-Map-Version"] == "thumbnail"
    assert headers(full)["X-Model-Version"] == "custom-32"  # derived from the tiny model's config
    info = json.loads(api(media_api, "GET", f"/api/media/{media_item_id}/depth/info")["body"])
    assert [(d["version_type"], d["access_count"]) for d in info["depthMaps"]] == [
        ("thumbnail", 1),
        ("full_resolution", 1),
    ]
    full_record = next(d for d in info["depthMaps"] if d["version_type"] == "full_resolution")
    assert (full_record["width"], full_record["height"], full_record["format"]) == (1200, 1600, "png")


def test_one_bad_message_in_a_batch_fails_alone(system: FakeImmich) -> None:
    good = system.add_image(width=800, height=600)
    media_item_id = json.loads(api(import_api, "POST", f"/api/immich/import/{good}")["body"])["mediaItemId"]
    aws.sqs().send_message(QueueUrl=get_settings().processing_queue_url, MessageBody="not json")
    messages = receive()
    poison = next(m for m in messages if m["Body"] == "not json")

    result = run_processor(messages)

    assert result == {"batchItemFailures": [{"itemIdentifier": poison["MessageId"]}]}
    assert media_items.get_item(media_item_id).status == "completed"


class UnavailableEndpoint:
    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        raise DepthBackendUnavailable("endpoint throttled through every retry")


def test_a_message_that_keeps_failing_lands_in_the_dead_letter_queue_with_its_item_failed(
    system: FakeImmich, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processor, "backend_from_settings", UnavailableEndpoint)
    asset_id = system.add_image(width=800, height=600)
    media_item_id = json.loads(api(import_api, "POST", f"/api/immich/import/{asset_id}")["body"])[
        "mediaItemId"
    ]

    deliveries = 0
    while messages := receive():
        deliveries += 1
        assert len(run_processor(messages)["batchItemFailures"]) == 1

    assert deliveries == 3  # the template's maxReceiveCount
    dead_letter_url = aws.sqs().get_queue_url(QueueName="immichvr-local-processingdeadletterqueue")[
        "QueueUrl"
    ]
    dead = aws.sqs().receive_message(QueueUrl=dead_letter_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(message["Body"]) for message in dead] == [{"mediaItemId": media_item_id}]
    item = media_items.get_item(media_item_id)
    assert (item.status, item.attempts, item.last_error) == (
        "failed",
        3,
        "endpoint throttled through every retry",
    )
