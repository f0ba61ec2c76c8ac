"""What the regenerate, evict and delete tests share: a backend whose every answer differs, a completed
item with both depth maps, and calls to the media API and the processor as AWS makes them."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import numpy as np
from PIL import Image

from functions.depth_processor import app as processor
from immichvr_depth.depth.backends import DepthPrediction
from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.keys import original_key, thumbnail_key
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem
from immichvr_local.worker import sqs_event
from tests.support.events import invoke_api, lambda_context
from tests.support.images import jpeg_bytes


class ChangingBackend:
    """Answers like the endpoint (a 16-bit map at the size it was sent), each answer different, as a
    new model's would be: a regenerated map has a new checksum."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        width, height = Image.open(io.BytesIO(body)).size
        with self.lock:
            self.calls += 1
            offset = self.calls * 997
        ramp = (np.linspace(0, 60000, height)[:, None].repeat(width, axis=1) + offset) % 65535
        out = io.BytesIO()
        Image.fromarray(ramp.astype(np.uint16)).save(out, "PNG")
        return DepthPrediction(out.getvalue(), "depth-anything-v2", "small", input_size)


def put(key: str, body: bytes, content_type: str = "image/jpeg") -> None:
    aws.s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=body, ContentType=content_type)


def completed_item(item_id: str, backend: ChangingBackend, *, filename: str = "IMG 0001.jpg") -> MediaItem:
    """An imported photo (original and preview in S3) whose two depth maps are made."""
    item = MediaItem(item_id, source_type="immich", filename=filename, mime_type="image/jpeg")
    item.immich_asset_id = item_id
    item.original_path = original_key(item_id, filename, "image/jpeg")
    item.thumbnail_path = thumbnail_key(item_id, filename, "image/jpeg")
    put(item.original_path, jpeg_bytes(320, 240))
    put(item.thumbnail_path, jpeg_bytes(160, 120))
    item.status = ProcessingStatus.QUEUED.value
    item.save()
    outcome = process_media_item(item_id, backend)
    assert outcome.status is ProcessingStatus.COMPLETED
    item.refresh(consistent_read=True)
    return item


def call(method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """The request as API Gateway hands it to its function; a GET without headers asks for an image
    inline, as a client that sends `Accept: image/png` does."""
    if headers is None and method == "GET":
        headers = {"Accept": "image/png"}
    return invoke_api(method, path, headers=headers, **kwargs)


def json_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def header(response: dict[str, Any], name: str) -> str | None:
    headers = {k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    headers |= response.get("headers") or {}
    return headers.get(name)


def receive_all() -> list[dict[str, Any]]:
    """Every message on the processing queue, left there (visibility 0) for a later receive."""
    messages = aws.sqs().receive_message(
        QueueUrl=get_settings().processing_queue_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        VisibilityTimeout=0,
    )
    return list(messages.get("Messages", []))


def run_processor(
    messages: list[dict[str, Any]], backend: ChangingBackend, monkeypatch: Any
) -> dict[str, Any]:
    """The SQS-triggered handler on these messages, with `backend` as the endpoint."""
    monkeypatch.setattr(processor, "backend_from_settings", lambda: backend)
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:processing")
    result: dict[str, Any] = processor.lambda_handler(event, lambda_context("DepthProcessorFunction"))
    return result


def keys_under(prefix: str) -> set[str]:
    pages = (
        aws.s3().get_paginator("list_objects_v2").paginate(Bucket=get_settings().media_bucket, Prefix=prefix)
    )
    return {entry["Key"] for page in pages for entry in page.get("Contents", [])}
