"""The local runner's asynchronous mode through the real handlers, under moto: the processing queue's
worker runs the processor, which submits to the emulated endpoint; the endpoint runs the tiny model,
writes the output under the template's output path and publishes SageMaker's notification on the
template's topic; SNS delivers it (raw) to the completion queue, whose worker runs the completion
function. The stack is the one the runner builds from template.yaml with InferenceMode=async."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from immichvr_depth.depth.async_inference import InvocationContext, s3_uri
from immichvr_depth.depth.backends import AsyncInvocation
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.keys import async_input_key, original_key, thumbnail_key
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem
from immichvr_depth.store.versions import VersionType
from immichvr_local.async_endpoint import AsyncConfig, LocalAsyncEndpoint
from immichvr_local.depth_backend import local_engine, register_async_endpoint
from immichvr_local.functions import FunctionPool
from immichvr_local.stack import LocalStack
from immichvr_local.template import Template
from immichvr_local.worker import QueueWorker
from tests.conftest import reset_shared_caches
from tests.support.images import jpeg_bytes

ITEM_ID = "7a3e9c2b-1d4f-4b6a-9e8c-2f5d7a1b3c4e"


@pytest.fixture
def stack(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    with mock_aws():
        local = LocalStack(Template.load(), endpoint_url="", parameters={"InferenceMode": "async"})
        local.provision()
        environment = local.function_environment() | {
            "DEPTH_BACKEND": "local",
            "DEPTH_MODEL": str(tiny_model_dir),
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        reset_shared_caches()
        yield local
    register_async_endpoint(None)
    reset_shared_caches()


@pytest.fixture
def endpoint(stack: LocalStack) -> Iterator[LocalAsyncEndpoint]:
    emulated = LocalAsyncEndpoint.from_stack(stack, local_engine)
    assert emulated is not None
    register_async_endpoint(emulated)
    yield emulated
    emulated.close()


def worker(stack: LocalStack, function: str) -> QueueWorker:
    """The runner's worker for the function's SQS event source, as LocalSystem builds it."""
    spec = stack.template.function(function)
    (props,) = [event["Properties"] for event in spec.events.values() if event["Type"] == "SQS"]
    queue_arn = stack.resolver().resolve(props["Queue"])
    return QueueWorker(
        stack.client("sqs"), stack.queue_url_for_arn(queue_arn), queue_arn, FunctionPool(spec, 1), 10
    )


def queued_item() -> None:
    bucket = get_settings().media_bucket
    item = MediaItem(ITEM_ID, source_type="upload", filename="garden.jpg", mime_type="image/jpeg")
    item.original_path = original_key(ITEM_ID, item.filename, "image/jpeg")
    item.thumbnail_path = thumbnail_key(ITEM_ID, item.filename, "image/jpeg")
    aws.s3().put_object(Bucket=bucket, Key=item.original_path, Body=jpeg_bytes(640, 480, orientation=6))
    aws.s3().put_object(Bucket=bucket, Key=item.thumbnail_path, Body=jpeg_bytes(240, 320))
    item.status = ProcessingStatus.QUEUED.value
    item.save()
    aws.sqs().send_message(
        QueueUrl=get_settings().processing_queue_url, MessageBody=json.dumps({"mediaItemId": ITEM_ID})
    )


def async_objects() -> list[str]:
    listing = aws.s3().list_objects_v2(Bucket=get_settings().media_bucket, Prefix="async-inference/")
    return [entry["Key"] for entry in listing.get("Contents", [])]


def test_the_endpoint_is_configured_from_the_templates_async_inference_config(stack: LocalStack) -> None:
    config = AsyncConfig.from_stack(stack)

    assert config is not None
    bucket = get_settings().media_bucket
    assert config.output_path == f"s3://{bucket}/async-inference/output/"
    assert config.failure_path == f"s3://{bucket}/async-inference/failures/"
    assert config.success_topic == stack.refs["AsyncInferenceSuccessTopic"]
    assert config.error_topic == stack.refs["AsyncInferenceErrorTopic"]
    assert get_settings().inference_mode == "async"  # the processor's INFERENCE_MODE follows the parameter


def test_realtime_mode_has_no_async_endpoint() -> None:
    with mock_aws():
        local = LocalStack(Template.load(), endpoint_url="")
        local.provision()
        assert AsyncConfig.from_stack(local) is None
        assert local.function_environment()["INFERENCE_MODE"] == "realtime"


def test_processor_to_emulated_endpoint_to_sns_to_completion_completes_the_item(
    stack: LocalStack, endpoint: LocalAsyncEndpoint
) -> None:
    queued_item()

    assert worker(stack, "DepthProcessorFunction").poll_once() == 1
    assert media_items.get_item(ITEM_ID).status == "processing"
    endpoint.wait_idle()
    completion = worker(stack, "InferenceCompletionFunction")
    delivered = 0
    while received := completion.poll_once():
        delivered += received

    assert delivered == 2  # one notification per version, through SNS
    item = media_items.get_item(ITEM_ID)
    assert (item.status, item.pending_versions, item.last_error) == ("completed", None, None)
    full = depth_maps.find(ITEM_ID, VersionType.FULL_RESOLUTION)
    thumb = depth_maps.find(ITEM_ID, VersionType.THUMBNAIL)
    assert full is not None
    assert thumb is not None
    assert (full.width, full.height) == (480, 640)  # EXIF 6: the upright size
    assert (thumb.width, thumb.height) == (240, 320)
    assert full.model_version == "custom-32"  # read from the output PNG's text: the tiny model's
    assert full.processing_params["input_size"] == 1036
    assert async_objects() == []


def test_a_model_rejection_reaches_the_completion_as_an_error_notification(
    stack: LocalStack, endpoint: LocalAsyncEndpoint
) -> None:
    queued_item()
    item = media_items.get_item(ITEM_ID)
    media_items.transition(
        item, ProcessingStatus.PROCESSING, MediaItem.pending_versions.set({"thumbnail"}), count_attempt=True
    )
    bucket = get_settings().media_bucket
    inference_id = f"{ITEM_ID}:thumbnail:0badc0de"
    key = async_input_key(ITEM_ID, VersionType.THUMBNAIL, "0badc0de")
    context = InvocationContext(ITEM_ID, VersionType.THUMBNAIL, (240, 320), 518, inference_id)
    aws.s3().put_object(Bucket=bucket, Key=key, Body=b"not an image", Metadata=context.to_metadata())

    endpoint.submit(AsyncInvocation(inference_id, s3_uri(bucket, key), "image/jpeg", 518))
    endpoint.wait_idle()
    worker(stack, "InferenceCompletionFunction").poll_once()

    item = media_items.get_item(ITEM_ID)
    assert item.status == "failed"
    assert item.last_error is not None
    assert item.last_error.startswith("the depth model rejected the image: ")
    assert depth_maps.all_for(ITEM_ID) == []
    messages: dict[str, Any] = aws.sqs().receive_message(QueueUrl=get_settings().processing_queue_url)
    # Only the message the test queued: a model's 4xx is not retried.
    assert [json.loads(m["Body"]) for m in messages.get("Messages", [])] == [{"mediaItemId": ITEM_ID}]
    assert async_objects() == []
