"""Direct uploads: the presigned POST, S3's event, the ingest and its thumbnail."""

from __future__ import annotations

import io
import json
from typing import Any

import pillow_heif
import pytest
import requests
from PIL import Image

from functions.media_api import app as media_api
from functions.upload_ingest import app as ingest_function
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.keys import original_key
from immichvr_depth.store.tables import MediaItem
from tests.support.events import api_event, lambda_context
from tests.support.images import jpeg_bytes, photo

pytestmark = pytest.mark.usefixtures("aws")


def presign(**request: Any) -> tuple[int, dict[str, Any]]:
    response = media_api.lambda_handler(
        api_event("POST", "/api/media/uploads", json_body=request), lambda_context("MediaApiFunction")
    )
    return response["statusCode"], json.loads(response["body"])


def s3_put_event(key: str, etag: str = "0123456789abcdef", encoded_key: str | None = None) -> dict[str, Any]:
    """The notification S3 sends for a new object (keys arrive URL-encoded, spaces as '+')."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-26T07:00:00.000Z",
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "UploadCreated",
                    "bucket": {"name": get_settings().media_bucket, "arn": "arn:aws:s3:::bucket"},
                    "object": {"key": encoded_key or key, "size": 1, "eTag": etag, "sequencer": "0A1B2C"},
                },
            }
        ]
    }


def ingest(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = ingest_function.lambda_handler(event, lambda_context("UploadIngestFunction"))
    return result


def upload_through_ticket(ticket: dict[str, Any], body: bytes, content_type: str) -> requests.Response:
    form = ticket["upload"]
    return requests.post(
        form["url"], data=form["fields"], files={"file": ("photo", body, content_type)}, timeout=10
    )


def queued() -> list[dict[str, Any]]:
    messages = aws.sqs().receive_message(
        QueueUrl=get_settings().processing_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


def stored_image(key: str) -> Image.Image:
    body = aws.s3().get_object(Bucket=get_settings().media_bucket, Key=key)["Body"].read()
    return Image.open(io.BytesIO(body))


def heic_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(photo(width, height)).save(out, quality=80)
    return out.getvalue()


def test_a_ticket_is_a_presigned_post_under_the_upload_prefix_for_this_type_and_size() -> None:
    status, ticket = presign(filename="Summer 2026.jpg", contentType="image/jpeg", size=3_500_000)

    assert status == 201
    fields = ticket["upload"]["fields"]
    assert ticket["key"].startswith(f"uploads/{ticket['mediaItemId']}/")
    assert fields["key"] == ticket["key"]
    assert fields["Content-Type"] == "image/jpeg"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = json.loads(__import__("base64").b64decode(fields["policy"]))
    assert ["content-length-range", 1, 3_500_000] in policy["conditions"]
    assert ticket["expiresIn"] == 300


@pytest.mark.parametrize(
    ("request_body", "status"),
    [
        ({"filename": "a.mp4", "contentType": "video/mp4", "size": 10}, 415),
        ({"filename": "a.pdf", "contentType": "application/pdf", "size": 10}, 415),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "size": 300 * 1024 * 1024}, 413),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "size": 0}, 400),
        ({"filename": "", "contentType": "image/jpeg", "size": 10}, 400),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "size": "10"}, 400),
        ({"filename": "a.jpg"}, 400),
    ],
    ids=["video", "pdf", "too-large", "empty", "no-name", "size-as-text", "missing-fields"],
)
def test_a_ticket_is_refused_for_what_would_not_be_ingested(
    request_body: dict[str, Any], status: int
) -> None:
    answer, body = presign(**request_body)

    assert answer == status
    assert body["success"] is False
    assert body["message"]


def test_a_ticket_without_a_content_type_names_the_empty_type_it_refused() -> None:
    answer, body = presign(filename="a.jpg", contentType="", size=10)

    assert answer == 415
    assert body["message"].startswith("'' is not an image type")


def test_a_real_post_through_the_ticket_then_the_event_makes_a_queued_item_with_a_thumbnail() -> None:
    photo_bytes = jpeg_bytes(3000, 2000, orientation=6)
    _, ticket = presign(filename="Summer 2026.jpg", contentType="image/jpeg", size=len(photo_bytes))

    assert upload_through_ticket(ticket, photo_bytes, "image/jpeg").status_code in {200, 204}
    ingest(s3_put_event(ticket["key"]))

    item = MediaItem.get(ticket["mediaItemId"])
    assert (item.source_type, item.status, item.filename) == ("upload", "queued", "Summer 2026.jpg")
    assert (item.mime_type, item.file_size, item.width, item.height) == (
        "image/jpeg",
        len(photo_bytes),
        2000,
        3000,
    )
    assert len(item.checksum or "") == 64
    thumbnail = stored_image(item.thumbnail_path)
    assert thumbnail.size == (960, 1440)  # upright, long side 1440
    assert thumbnail.info.get("progressive") or thumbnail.info.get("progression")
    assert item.thumbnail_params["long_side"] == 1440
    assert queued() == [{"mediaItemId": item.media_item_id}]


def test_a_heic_upload_gets_a_jpeg_thumbnail() -> None:
    key = "uploads/1f0e2d3c-4b5a-4987-8654-3210fedcba98/IMG_0042.heic"
    aws.s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=heic_bytes(960, 720))

    ingest(s3_put_event(key))

    item = MediaItem.get("1f0e2d3c-4b5a-4987-8654-3210fedcba98")
    assert (item.mime_type, item.width, item.height, item.status) == ("image/heic", 960, 720, "queued")
    thumbnail = stored_image(item.thumbnail_path)
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (960, 720))  # never enlarged


def test_a_jpeg_xl_upload_is_accepted_and_gets_a_jpeg_thumbnail() -> None:
    out = io.BytesIO()
    photo(1200, 900).save(out, "JXL", quality=85)
    jxl = out.getvalue()
    _, ticket = presign(filename="IMG_0043.jxl", contentType="image/jxl", size=len(jxl))

    assert upload_through_ticket(ticket, jxl, "image/jxl").status_code in {200, 204}
    ingest(s3_put_event(ticket["key"]))

    item = MediaItem.get(ticket["mediaItemId"])
    assert (item.mime_type, item.width, item.height, item.status) == ("image/jxl", 1200, 900, "queued")
    assert item.original_path == original_key(item.media_item_id, "IMG_0043.jxl", "image/jxl")
    assert (item.original_path or "").endswith("/IMG_0043.jxl")
    thumbnail = stored_image(item.thumbnail_path)
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (1200, 900))


def test_keys_arrive_url_encoded_and_a_file_dropped_outside_a_ticket_is_ingested_too() -> None:
    key = "uploads/my holiday/beach photo.jpg"
    aws.s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=jpeg_bytes(800, 600))

    result = ingest(s3_put_event(key, encoded_key="uploads/my+holiday/beach+photo.jpg"))

    (outcome,) = result["ingested"]
    item = MediaItem.get(outcome["mediaItemId"])
    original = original_key(item.media_item_id, "beach photo.jpg", "image/jpeg")
    assert (item.original_path, item.filename, item.status) == (original, "beach photo.jpg", "queued")


def test_a_redelivered_event_does_not_make_a_second_item() -> None:
    key = "uploads/2a3b4c5d-6e7f-4081-9a2b-3c4d5e6f7a8b/a.jpg"
    aws.s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=jpeg_bytes(800, 600))

    ingest(s3_put_event(key))
    ingest(s3_put_event(key))

    assert MediaItem.count() == 1
    assert len(queued()) == 1


def test_the_test_event_s3_sends_on_setup_is_ignored() -> None:
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b", "RequestId": "r", "HostId": "h"}

    assert ingest(event) == {"ingested": []}
    assert MediaItem.count() == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"%PDF-1.7 definitely not a photo", "not an image"),
        (jpeg_bytes(800, 600)[:2000], "truncated"),
        (b"", "not an image"),
    ],
    ids=["not-an-image", "truncated", "empty"],
)
def test_a_bad_file_is_recorded_as_failed_with_the_reason_and_not_queued(body: bytes, reason: str) -> None:
    key = "uploads/3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f/photo.jpg"
    aws.s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=body)

    ingest(s3_put_event(key))

    item = MediaItem.get("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f")
    assert item.status == "failed"
    assert reason in (item.last_error or "").lower()
    assert queued() == []


def test_a_decompression_bomb_is_recorded_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    key = "uploads/4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a/huge.jpg"
    aws.s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=jpeg_bytes(800, 600))

    ingest(s3_put_event(key))

    item = MediaItem.get("4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a")
    assert item.status == "failed"
    assert "too large" in (item.last_error or "")
    assert queued() == []
