"""The processor's domain: thumbnail then full resolution, idempotent, failing clearly."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from immichvr_depth.depth.backends import DepthBackendUnavailable, DepthPrediction
from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.keys import original_key, thumbnail_key
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType
from tests.support.concurrency import run_concurrently
from tests.support.images import depth_png16, jpeg_bytes

ITEM_ID = "5b0f3c1e-8a5e-4a3e-9a77-0d7f7f0b6d11"


class ShapedBackend:
    """Answers like the endpoint: a depth PNG at the working resolution of what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, tuple[int, int]]] = []
        self.lock = threading.Lock()

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        size = Image.open(io.BytesIO(body)).size
        with self.lock:
            self.calls.append((input_size, size))
        return DepthPrediction(depth_png16(*size), "depth-anything-v2", "small", input_size)


class FailingBackend:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        raise self.error


def put(key: str, body: bytes) -> None:
    aws.s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=body, ContentType="image/jpeg")


def queued_item(*, original: bytes, thumbnail: bytes | None) -> MediaItem:
    item = MediaItem(ITEM_ID, source_type="immich", filename="IMG 0001.jpg", mime_type="image/jpeg")
    item.original_path = original_key(ITEM_ID, item.filename, "image/jpeg")
    put(item.original_path, original)
    if thumbnail is not None:
        item.thumbnail_path = thumbnail_key(ITEM_ID, item.filename, "image/jpeg")
        put(item.thumbnail_path, thumbnail)
    item.status = ProcessingStatus.QUEUED.value
    item.save()
    return item


@pytest.mark.usefixtures("aws")
def test_makes_the_thumbnail_first_then_full_resolution_at_each_versions_own_size() -> None:
    # EXIF orientation 6: stored landscape, shown portrait. The thumbnail (like Immich's) is already upright.
    queued_item(original=jpeg_bytes(1600, 1200, orientation=6), thumbnail=jpeg_bytes(540, 720))
    backend = ShapedBackend()

    outcome = process_media_item(ITEM_ID, backend)

    assert outcome.status is ProcessingStatus.COMPLETED
    assert outcome.made == (VersionType.THUMBNAIL, VersionType.FULL_RESOLUTION)
    assert [input_size for input_size, _ in backend.calls] == [518, 1036]
    thumb = depth_maps.find(ITEM_ID, VersionType.THUMBNAIL)
    full = depth_maps.find(ITEM_ID, VersionType.FULL_RESOLUTION)
    assert thumb is not None
    assert full is not None
    assert (thumb.width, thumb.height) == (540, 720)
    assert (full.width, full.height) == (1200, 1600)  # the rotated size
    assert full.file_path.endswith(f"IMG_0001_{ITEM_ID}_depth.png")
    assert thumb.file_path.endswith(f"IMG_0001_{ITEM_ID}_thumb_depth.png")
    stored = aws.s3().get_object(Bucket=get_settings().media_bucket, Key=full.file_path)["Body"].read()
    png = Image.open(io.BytesIO(stored))
    assert png.size == (1200, 1600)
    assert png.mode in {"I;16", "I"}
    assert full.file_size == len(stored)
    assert full.processing_params["input_size"] == 1036
    assert (full.model_name, full.model_version, full.access_count) == ("depth-anything-v2", "small", 0)
    item = media_items.get_item(ITEM_ID)
    assert (item.status, item.attempts, item.last_error) == ("completed", 1, None)


@pytest.mark.usefixtures("aws")
def test_an_item_without_a_thumbnail_gets_full_resolution_only() -> None:
    queued_item(original=jpeg_bytes(800, 600), thumbnail=None)

    outcome = process_media_item(ITEM_ID, ShapedBackend())

    assert outcome.made == (VersionType.FULL_RESOLUTION,)
    assert [record.version for record in DepthMapRecord.query(ITEM_ID)] == [VersionType.FULL_RESOLUTION]


@pytest.mark.usefixtures("aws")
def test_a_repeated_message_leaves_one_record_and_one_file_per_version() -> None:
    queued_item(original=jpeg_bytes(800, 600), thumbnail=jpeg_bytes(400, 300))
    process_media_item(ITEM_ID, ShapedBackend())
    again = ShapedBackend()

    outcome = process_media_item(ITEM_ID, again)

    assert outcome.status is ProcessingStatus.COMPLETED
    assert again.calls == []
    assert DepthMapRecord.count(ITEM_ID) == 2
    listing = aws.s3().list_objects_v2(Bucket=get_settings().media_bucket, Prefix=f"depth-maps/{ITEM_ID}/")
    assert listing["KeyCount"] == 2


@pytest.mark.usefixtures("aws")
def test_concurrent_deliveries_converge_on_one_record_and_one_file() -> None:
    queued_item(original=jpeg_bytes(800, 600), thumbnail=jpeg_bytes(400, 300))
    # A lost race may surface as a status conflict, which SQS retries.
    run_concurrently(lambda: process_media_item(ITEM_ID, ShapedBackend()), times=3)
    if media_items.get_item(ITEM_ID).status != "completed":
        process_media_item(ITEM_ID, ShapedBackend())  # what the queue's redelivery does

    assert DepthMapRecord.count(ITEM_ID) == 2
    for record in DepthMapRecord.query(ITEM_ID):
        head = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=record.file_path)
        assert head["Metadata"]["sha256"] == record.checksum
        assert head["ContentLength"] == record.file_size
    assert media_items.get_item(ITEM_ID).status == "completed"


@pytest.mark.usefixtures("aws")
def test_a_worker_killed_between_file_and_record_is_repaired_by_the_next_delivery() -> None:
    queued_item(original=jpeg_bytes(800, 600), thumbnail=None)
    process_media_item(ITEM_ID, ShapedBackend())
    record = depth_maps.find(ITEM_ID, VersionType.FULL_RESOLUTION)
    assert record is not None
    record.delete()  # the file stays: as if the worker died before writing the record
    media_items.get_item(ITEM_ID).update(actions=[MediaItem.status.set("processing")])

    process_media_item(ITEM_ID, ShapedBackend())

    repaired = depth_maps.find(ITEM_ID, VersionType.FULL_RESOLUTION)
    assert repaired is not None
    assert repaired.checksum == record.checksum
    assert media_items.get_item(ITEM_ID).status == "completed"


@pytest.mark.usefixtures("aws")
def test_an_undecodable_image_fails_the_item_for_good_without_raising() -> None:
    queued_item(original=b"this is not a jpeg", thumbnail=None)

    outcome = process_media_item(ITEM_ID, ShapedBackend())

    assert outcome.status is ProcessingStatus.FAILED
    item = media_items.get_item(ITEM_ID)
    assert item.status == "failed"
    assert item.last_error
    assert DepthMapRecord.count(ITEM_ID) == 0


@pytest.mark.usefixtures("aws")
def test_a_transient_endpoint_failure_marks_the_item_failed_and_raises_for_a_retry() -> None:
    queued_item(original=jpeg_bytes(800, 600), thumbnail=None)

    with pytest.raises(DepthBackendUnavailable):
        process_media_item(ITEM_ID, FailingBackend(DepthBackendUnavailable("endpoint throttled")))

    item = media_items.get_item(ITEM_ID)
    assert (item.status, item.attempts, item.last_error) == ("failed", 1, "endpoint throttled")
    outcome = process_media_item(ITEM_ID, ShapedBackend())  # the redelivery
    assert outcome.status is ProcessingStatus.COMPLETED
    assert media_items.get_item(ITEM_ID).attempts == 2


@pytest.mark.usefixtures("aws")
def test_an_item_still_being_imported_is_left_for_a_later_delivery() -> None:
    item = queued_item(original=jpeg_bytes(800, 600), thumbnail=None)
    item.update(actions=[MediaItem.status.set("pending")])

    with pytest.raises(media_items.StatusConflict):
        process_media_item(ITEM_ID, ShapedBackend())


@pytest.mark.usefixtures("aws")
def test_a_message_for_a_deleted_item_is_dropped() -> None:
    outcome = process_media_item(ITEM_ID, ShapedBackend())

    assert outcome.status is ProcessingStatus.FAILED
    assert outcome.reason == "media item not found"
