"""S3 accepts a presigned POST as often as it is sent until the ticket expires. Whatever arrives under a
ticket's key after its photo was ingested never changes the item: the original the item was made from
stays as it was (a regeneration makes every version from it), the later file is refused and removed
with a log line and a metric, and a deleted item stays deleted."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from PIL import Image

from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.platform import aws
from immichvr_depth.platform.observability import metrics
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.versions import VersionType
from tests.support.depth import ChangingBackend, call, keys_under, receive_all
from tests.support.images import jpeg_bytes
from tests.unit.intake.test_uploads import ingest, presign, s3_put_event, upload_through_ticket

FIRST = jpeg_bytes(320, 240)
SECOND = jpeg_bytes(640, 480)
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"

pytestmark = pytest.mark.usefixtures("aws")


def post_and_deliver(ticket: dict[str, Any], body: bytes, content_type: str = "image/jpeg") -> dict[str, Any]:
    """POST through the ticket as a client does, then the S3 event it causes."""
    assert upload_through_ticket(ticket, body, content_type).status_code in {200, 204}
    head = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=ticket["key"])
    (outcome,) = ingest(s3_put_event(ticket["key"], etag=head["ETag"].strip('"')))["ingested"]
    return dict(outcome)


def a_completed_upload() -> tuple[dict[str, Any], ChangingBackend]:
    _, ticket = presign(filename="garden.jpg", contentType="image/jpeg", size=len(SECOND) * 2)
    post_and_deliver(ticket, FIRST)
    backend = ChangingBackend()
    assert process_media_item(ticket["mediaItemId"], backend).status == "completed"
    receive_all()
    return ticket, backend


def original_bytes(media_item_id: str) -> bytes:
    item = media_items.get_item(media_item_id)
    assert item.original_path is not None
    body: bytes = (
        aws.s3().get_object(Bucket=get_settings().media_bucket, Key=item.original_path)["Body"].read()
    )
    return body


def refusals(capsys: pytest.CaptureFixture[str]) -> int:
    """How many refusals the ingest's metrics (flushed as CloudWatch EMF lines on stdout) counted."""
    metrics.flush_metrics()
    return capsys.readouterr().out.count('"UploadsRefused":[1.0]')


def test_the_ingested_original_lives_outside_the_upload_prefix_and_the_upload_is_removed() -> None:
    ticket, _ = a_completed_upload()

    item = media_items.get_item(ticket["mediaItemId"])
    assert item.original_path is not None
    assert item.original_path.startswith(f"originals/{item.media_item_id}/")
    assert original_bytes(item.media_item_id) == FIRST
    assert keys_under("uploads/") == set()


def test_a_second_photo_through_the_same_ticket_is_refused_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ticket, _ = a_completed_upload()
    capsys.readouterr()

    outcome = post_and_deliver(ticket, SECOND)

    item = media_items.get_item(ticket["mediaItemId"])
    assert outcome["status"] == "completed"
    assert (item.width, item.height, item.checksum) == (320, 240, hashlib.sha256(FIRST).hexdigest())
    assert original_bytes(item.media_item_id) == FIRST
    assert keys_under("uploads/") == set(), "the later file is removed"
    assert refusals(capsys) == 1


def test_a_regeneration_after_a_reuse_makes_every_version_from_the_first_photo() -> None:
    ticket, backend = a_completed_upload()
    post_and_deliver(ticket, SECOND)

    assert call("POST", f"/api/media/{ticket['mediaItemId']}/depth/regenerate")["statusCode"] == 202
    assert process_media_item(ticket["mediaItemId"], backend, {VersionType.FULL_RESOLUTION: 0}).made

    record = depth_maps.find(ticket["mediaItemId"], VersionType.FULL_RESOLUTION)
    assert record is not None
    assert (record.width, record.height, record.generation) == (320, 240, 1)
    stored = aws.s3().get_object(Bucket=get_settings().media_bucket, Key=record.file_path)["Body"].read()
    assert Image.open(io.BytesIO(stored)).size == (320, 240)


def test_html_through_the_same_ticket_is_refused_and_the_item_still_regenerates() -> None:
    ticket, backend = a_completed_upload()

    post_and_deliver(ticket, HTML, "image/jpeg")

    assert media_items.get_item(ticket["mediaItemId"]).status == "completed"
    assert call("POST", f"/api/media/{ticket['mediaItemId']}/depth/regenerate")["statusCode"] == 202
    outcome = process_media_item(ticket["mediaItemId"], backend, {VersionType.FULL_RESOLUTION: 0})
    assert outcome.status == "completed"


def test_a_ticket_used_after_its_item_was_deleted_brings_nothing_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ticket, _ = a_completed_upload()
    assert call("DELETE", f"/api/media/{ticket['mediaItemId']}")["statusCode"] == 204
    capsys.readouterr()

    outcome = post_and_deliver(ticket, FIRST)

    assert outcome["status"] == "deleted"
    assert call("GET", f"/api/media/{ticket['mediaItemId']}")["statusCode"] == 404
    assert keys_under("uploads/") == set()
    assert keys_under(f"originals/{ticket['mediaItemId']}/") == set()
    assert refusals(capsys) == 1


def test_a_redelivered_event_of_the_ingested_photo_is_a_duplicate_not_a_refusal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ticket, _ = a_completed_upload()
    capsys.readouterr()

    (outcome,) = ingest(s3_put_event(ticket["key"]))["ingested"]

    assert outcome["status"] == "completed"
    assert original_bytes(ticket["mediaItemId"]) == FIRST
    assert refusals(capsys) == 0
