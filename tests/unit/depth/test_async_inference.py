"""Asynchronous inference under moto: the processor submits and returns; the completion function,
fed SageMaker's notifications through its SQS event, stores the maps and finishes the item.

The processor's InvokeEndpointAsync calls reach moto's sagemaker-runtime, which answers them but
keeps nothing of what was asked (nor lets a test configure more than canned outputs), so the calls
are captured at the boto3 level with botocore's `provide-client-params` event, on their way to moto.
Notifications are written in the documented format, with outputs made by the container's own PNG
writer (provenance in its text chunks)."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image

from depth_inference.codec import encode_png16
from functions.depth_processor import app as processor
from functions.inference_completion import app as completion_app
from immichvr_depth.depth.async_inference import Notification, parse_s3_uri
from immichvr_depth.depth.backends import prediction_from_png
from immichvr_depth.platform import aws as aws_clients
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.keys import ASYNC_INPUT_PREFIX, original_key, thumbnail_key
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem
from immichvr_depth.store.versions import VersionType
from immichvr_local.worker import sqs_event
from tests.support.events import lambda_context
from tests.support.images import jpeg_bytes

ITEM_ID = "0c6f1e5a-3b9d-4f0e-8c2a-7d1b5e9f4a21"
ENDPOINT = "immichvr-depth-async"


@pytest.fixture
def async_mode(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The processor in async mode against SageMaker (moto); yields the InvokeEndpointAsync calls."""
    monkeypatch.setenv("INFERENCE_MODE", "async")
    monkeypatch.setenv("DEPTH_BACKEND", "sagemaker")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", ENDPOINT)
    get_settings.cache_clear()
    calls: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    aws_clients.sagemaker_runtime().meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpointAsync", capture
    )
    return calls


def bucket() -> str:
    return get_settings().media_bucket


def queued_item(*, thumbnail: bool = True) -> MediaItem:
    item = MediaItem(ITEM_ID, source_type="immich", filename="IMG 0042.jpg", mime_type="image/jpeg")
    item.original_path = original_key(ITEM_ID, item.filename, "image/jpeg")
    # EXIF orientation 6: stored landscape, shown portrait.
    aws_clients.s3().put_object(
        Bucket=bucket(), Key=item.original_path, Body=jpeg_bytes(1600, 1200, orientation=6)
    )
    if thumbnail:
        item.thumbnail_path = thumbnail_key(ITEM_ID, item.filename, "image/jpeg")
        aws_clients.s3().put_object(Bucket=bucket(), Key=item.thumbnail_path, Body=jpeg_bytes(540, 720))
    item.status = ProcessingStatus.QUEUED.value
    item.save()
    return item


def run_processor() -> dict[str, Any]:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": json.dumps({"mediaItemId": ITEM_ID}),
        "Attributes": {"ApproximateReceiveCount": "1"},
    }
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:processing")
    result: dict[str, Any] = processor.lambda_handler(event, lambda_context("DepthProcessorFunction"))
    return result


def run_completion(*notifications: dict[str, Any]) -> dict[str, Any]:
    messages = [
        {
            "MessageId": f"n-{index}",
            "ReceiptHandle": f"r-{index}",
            "Body": json.dumps(notification),
            "Attributes": {"ApproximateReceiveCount": "1"},
        }
        for index, notification in enumerate(notifications)
    ]
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:completion")
    result: dict[str, Any] = completion_app.lambda_handler(
        event, lambda_context("InferenceCompletionFunction")
    )
    return result


def endpoint_answers(call: dict[str, Any], *, name: str) -> dict[str, Any]:
    """What the endpoint does with a request: the depth PNG (at the input's size, provenance in its
    text) under the output path, and the success notification."""
    input_bucket, input_key = parse_s3_uri(call["InputLocation"])
    with Image.open(
        io.BytesIO(aws_clients.s3().get_object(Bucket=input_bucket, Key=input_key)["Body"].read())
    ) as image:
        width, height = image.size
    ramp = np.linspace(0, 65535, width * height).reshape(height, width).astype(np.uint16)
    input_size = call["CustomAttributes"].split("=")[1]
    png = encode_png16(
        ramp,
        text={
            "model_name": "depth-anything-v2",
            "model_version": "small",
            "input_size": input_size,
            "depth_min": "0.0",
            "depth_max": "9.5",
        },
    )
    output_key = f"async-inference/output/{name}.out"
    aws_clients.s3().put_object(Bucket=bucket(), Key=output_key, Body=png)
    return {
        "awsRegion": "us-east-1",
        "eventTime": "2026-01-02T10:00:07.250Z",
        "receivedTime": "2026-01-02T10:00:01.000Z",
        "invocationStatus": "Completed",
        "requestParameters": {
            "contentType": call["ContentType"],
            "endpointName": ENDPOINT,
            "inputLocation": call["InputLocation"],
        },
        "responseParameters": {"contentType": "image/png", "outputLocation": f"s3://{bucket()}/{output_key}"},
        "inferenceId": call["InferenceId"],
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
    }


def endpoint_fails(call: dict[str, Any], *, status: int, message: str) -> dict[str, Any]:
    failure_key = f"async-inference/failures/{status}-error.out"
    aws_clients.s3().put_object(
        Bucket=bucket(), Key=failure_key, Body=json.dumps({"error": "invalid_input", "message": message})
    )
    kind = "client" if status < 500 else "server"
    return {
        "awsRegion": "us-east-1",
        "eventTime": "2026-01-02T10:00:03.000Z",
        "receivedTime": "2026-01-02T10:00:01.000Z",
        "invocationStatus": "Failed",
        "failureReason": f"ClientError: Received {kind} error ({status}) from model with message "
        f'"{message}". See the SageMaker Endpoint logs in your account for more information.',
        "failureLocation": f"s3://{bucket()}/{failure_key}",
        "requestParameters": {"endpointName": ENDPOINT, "inputLocation": call["InputLocation"]},
        "inferenceId": call["InferenceId"],
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
    }


def async_objects() -> list[str]:
    listing = aws_clients.s3().list_objects_v2(Bucket=bucket(), Prefix="async-inference/")
    return [entry["Key"] for entry in listing.get("Contents", [])]


def processing_queue_bodies() -> list[Any]:
    messages = aws_clients.sqs().receive_message(
        QueueUrl=get_settings().processing_queue_url, MaxNumberOfMessages=10
    )
    return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


# ---------------------------------------------------------------- the processor submits


def test_processor_submits_each_missing_version_thumbnail_first_and_leaves_the_item_processing(
    async_mode: list[dict[str, Any]],
) -> None:
    queued_item()

    assert run_processor() == {"batchItemFailures": []}

    thumb, full = async_mode
    assert [call["InferenceId"].split(":")[:2] for call in async_mode] == [
        [ITEM_ID, "thumbnail"],
        [ITEM_ID, "full_resolution"],
    ]
    for call, input_size in ((thumb, 518), (full, 1036)):
        assert call["EndpointName"] == ENDPOINT
        assert call["ContentType"] == "image/jpeg"
        assert call["CustomAttributes"] == f"input_size={input_size}"
        input_bucket, key = parse_s3_uri(call["InputLocation"])
        assert input_bucket == bucket()
        assert key.startswith(f"{ASYNC_INPUT_PREFIX}{ITEM_ID}/")
        head = aws_clients.s3().head_object(Bucket=input_bucket, Key=key)
        assert head["Metadata"] == {
            "media-item-id": ITEM_ID,
            "version": call["InferenceId"].split(":")[1],
            "oriented-width": "540" if call is thumb else "1200",
            "oriented-height": "720" if call is thumb else "1600",
            "input-size": str(input_size),
            "inference-id": call["InferenceId"],
        }
    sent = (
        aws_clients.s3()
        .get_object(Bucket=bucket(), Key=parse_s3_uri(full["InputLocation"])[1])["Body"]
        .read()
    )
    with Image.open(io.BytesIO(sent)) as image:
        assert min(image.size) >= 1036  # made ready for the model before upload
        assert max(image.size) < 1600
    item = media_items.get_item(ITEM_ID)
    assert (item.status, item.attempts, item.last_error) == ("processing", 1, None)
    assert item.pending_versions == {"thumbnail", "full_resolution"}
    assert depth_maps.all_for(ITEM_ID) == []


def test_processor_submits_only_the_versions_without_a_map(async_mode: list[dict[str, Any]]) -> None:
    queued_item()
    run_processor()
    run_completion(endpoint_answers(async_mode[0], name="thumb"))
    media_items.transition(media_items.get_item(ITEM_ID), ProcessingStatus.FAILED, error="lost")
    async_mode.clear()

    run_processor()

    assert [call["InferenceId"].split(":")[1] for call in async_mode] == ["full_resolution"]
    assert media_items.get_item(ITEM_ID).pending_versions == {"full_resolution"}


# ---------------------------------------------------------------- the completion stores


def test_each_answer_is_stored_and_the_last_one_completes_the_item(async_mode: list[dict[str, Any]]) -> None:
    queued_item()
    run_processor()
    thumb_call, full_call = async_mode

    assert run_completion(endpoint_answers(thumb_call, name="thumb")) == {"batchItemFailures": []}

    item = media_items.get_item(ITEM_ID)
    assert (item.status, item.pending_versions) == ("processing", {"full_resolution"})
    thumb = depth_maps.find(ITEM_ID, VersionType.THUMBNAIL)
    assert thumb is not None
    assert (thumb.width, thumb.height) == (540, 720)

    run_completion(endpoint_answers(full_call, name="full"))

    item = media_items.get_item(ITEM_ID)
    assert (item.status, item.pending_versions, item.last_error) == ("completed", None, None)
    full = depth_maps.find(ITEM_ID, VersionType.FULL_RESOLUTION)
    assert full is not None
    assert (full.width, full.height) == (1200, 1600)  # fitted to the photo as displayed
    # The facts come from the PNG's own text: the asynchronous answer has no headers.
    assert (full.model_name, full.model_version, full.processing_params["input_size"]) == (
        "depth-anything-v2",
        "small",
        1036,
    )
    assert async_objects() == []  # inputs and outputs removed once stored


def test_a_duplicate_notification_changes_nothing(async_mode: list[dict[str, Any]]) -> None:
    queued_item()
    run_processor()
    answers = [endpoint_answers(call, name=f"answer-{index}") for index, call in enumerate(async_mode)]
    run_completion(*answers)
    before = media_items.get_item(ITEM_ID)
    records = [(r.version_type, r.checksum, r.generated_at) for r in depth_maps.all_for(ITEM_ID)]

    assert run_completion(answers[1]) == {"batchItemFailures": []}

    after = media_items.get_item(ITEM_ID)
    assert (after.status, after.attempts, after.updated_at) == (
        before.status,
        before.attempts,
        before.updated_at,
    )
    assert [(r.version_type, r.checksum, r.generated_at) for r in depth_maps.all_for(ITEM_ID)] == records


def test_the_same_answer_twice_in_one_batch_stores_one_map(async_mode: list[dict[str, Any]]) -> None:
    queued_item(thumbnail=False)
    run_processor()
    (call,) = async_mode
    answer = endpoint_answers(call, name="full")

    assert run_completion(answer, answer) == {"batchItemFailures": []}

    assert media_items.get_item(ITEM_ID).status == "completed"
    assert len(depth_maps.all_for(ITEM_ID)) == 1


def test_a_model_rejection_fails_the_item_for_good_with_the_models_reason(
    async_mode: list[dict[str, Any]],
) -> None:
    queued_item()
    run_processor()

    run_completion(endpoint_fails(async_mode[0], status=400, message="the image could not be decoded"))

    item = media_items.get_item(ITEM_ID)
    assert item.status == "failed"
    assert item.last_error == "the depth model rejected the image: the image could not be decoded"
    assert item.pending_versions is None
    assert processing_queue_bodies() == []  # retrying cannot help


def test_a_server_error_fails_the_item_with_the_reason_and_requeues_it(
    async_mode: list[dict[str, Any]],
) -> None:
    queued_item()
    run_processor()
    failure = endpoint_fails(async_mode[1], status=500, message="CUDA out of memory")

    run_completion(failure)

    item = media_items.get_item(ITEM_ID)
    assert (item.status, item.last_error) == (
        "failed",
        "the depth model rejected the image: CUDA out of memory",
    )
    assert processing_queue_bodies() == [{"mediaItemId": ITEM_ID}]
    # The same failure notified again: already recorded, not requeued twice.
    run_completion(failure)
    assert processing_queue_bodies() == []


def test_a_notification_for_a_deleted_item_is_dropped(async_mode: list[dict[str, Any]]) -> None:
    queued_item()
    run_processor()
    answer = endpoint_answers(async_mode[0], name="thumb")
    media_items.get_item(ITEM_ID).delete()

    assert run_completion(answer) == {"batchItemFailures": []}

    assert depth_maps.all_for(ITEM_ID) == []
    assert [key for key in async_objects() if "thumbnail" in key or key.endswith("thumb.out")] == []


def test_a_message_that_is_no_notification_fails_alone(async_mode: list[dict[str, Any]]) -> None:
    queued_item(thumbnail=False)
    run_processor()
    good = endpoint_answers(async_mode[0], name="full")
    bad = {"Type": "something else"}

    result = run_completion(bad, good)

    assert result == {"batchItemFailures": [{"itemIdentifier": "n-0"}]}
    assert media_items.get_item(ITEM_ID).status == "completed"


# ---------------------------------------------------------------- parts


def test_notification_reads_the_documented_format_raw_or_in_an_sns_envelope() -> None:
    call = {"InputLocation": "s3://b/async-inference/input/x", "InferenceId": f"{ITEM_ID}:thumbnail:0a1b2c3d"}
    raw = {
        "eventTime": "2026-01-02T10:00:07.250Z",
        "receivedTime": "2026-01-02T10:00:01.000Z",
        "invocationStatus": "Completed",
        "requestParameters": {"inputLocation": call["InputLocation"]},
        "responseParameters": {"outputLocation": "s3://b/async-inference/output/y.out"},
        "inferenceId": call["InferenceId"],
    }
    envelope = {"Type": "Notification", "Message": json.dumps(raw)}

    for body in (raw, envelope):
        notification = Notification.from_json(json.dumps(body))
        assert notification.succeeded
        assert notification.latency_ms == 6250.0
        assert notification.output_location == "s3://b/async-inference/output/y.out"


def test_the_model_status_is_read_from_the_failure_reason() -> None:
    def status(reason: str) -> int | None:
        body = {
            "invocationStatus": "Failed",
            "failureReason": reason,
            "requestParameters": {"inputLocation": "s3://b/k"},
            "inferenceId": "i",
        }
        return Notification.from_json(json.dumps(body)).model_status

    assert status("ClientError: Received client error (415) from model with message ...") == 415
    assert status("ClientError: Received server error (500) from model. See the logs") == 500
    assert status("Request timed out") is None


def test_prediction_facts_come_from_the_png_text_or_fall_back() -> None:
    text = {"model_name": "m", "model_version": "v", "input_size": "518"}
    with_text = prediction_from_png(encode_png16(np.zeros((2, 3), np.uint16), text=text), input_size=1036)
    without = prediction_from_png(encode_png16(np.zeros((2, 3), np.uint16)), input_size=1036)

    assert (with_text.model_name, with_text.model_version, with_text.input_size) == ("m", "v", 518)
    assert (without.model_name, without.model_version, without.input_size) == ("unknown", "unknown", 1036)
