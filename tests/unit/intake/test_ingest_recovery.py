"""An ingest Lambda stops at its timeout (60 s) without cleaning up: its claim stays `pending`. Lambda
retries the S3 event about a minute after the failure, twice, then sends it to the failure queue.
The item must end finished, or the event must fail so that it lands in the failure queue: never a
`pending` item left forever. The clock is the test's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.upload_ingest import app as ingest_function
from immichvr_depth.intake import upload_ingest
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_depth.store.status import ProcessingStatus, SourceType
from immichvr_depth.store.tables import MediaItem
from tests.support.events import lambda_context
from tests.support.images import jpeg_bytes
from tests.unit.intake.test_uploads import s3_put_event

ITEM_ID = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98"
KEY = f"uploads/{ITEM_ID}/garden.jpg"
STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("aws")


class Clock:
    def __init__(self) -> None:
        self.now = STARTED

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(media_items, "utcnow", clock)
    return clock


def an_ingest_killed_at_its_timeout() -> None:
    """What a stopped ingest leaves: the upload in S3 and the item claimed, nothing else."""
    aws.s3().put_object(Bucket=get_settings().media_bucket, Key=KEY, Body=jpeg_bytes(640, 480))
    claimed = MediaItem(
        ITEM_ID,
        source_type=SourceType.UPLOAD.value,
        filename="garden.jpg",
        mime_type="application/octet-stream",
        original_path=KEY,
    )
    claim = media_items.claim(claimed, stale_after=upload_ingest.ABANDONED_CLAIM_AGE)
    assert claim is media_items.Claim.CLAIMED


def deliver() -> dict[str, Any]:
    result: dict[str, Any] = ingest_function.lambda_handler(
        s3_put_event(KEY), lambda_context("UploadIngestFunction")
    )
    return result


def test_lambdas_first_retry_takes_over_the_claim_and_finishes_the_item(clock: Clock) -> None:
    an_ingest_killed_at_its_timeout()
    # The timeout stops it at 60 s; Lambda's first retry comes about a minute later.
    clock.now = STARTED + timedelta(seconds=60 + 60)

    (outcome,) = deliver()["ingested"]

    assert outcome == {"mediaItemId": ITEM_ID, "status": ProcessingStatus.QUEUED.value}
    assert media_items.get_item(ITEM_ID).status == ProcessingStatus.QUEUED.value


def test_a_delivery_that_finds_the_claim_still_held_fails_so_lambda_retries_it(clock: Clock) -> None:
    an_ingest_killed_at_its_timeout()
    clock.now = STARTED + timedelta(seconds=30)  # the first may still be running

    with pytest.raises(upload_ingest.IngestInProgress):
        deliver()
    assert media_items.get_item(ITEM_ID).status == ProcessingStatus.PENDING.value


def test_every_retry_lambda_makes_ends_the_item_or_fails_the_event(clock: Clock) -> None:
    """Lambda's schedule for a failing S3 event: the try, a retry after about 1 min, another after 2."""
    an_ingest_killed_at_its_timeout()
    ends: list[str] = []
    for after in (timedelta(seconds=5), timedelta(minutes=1, seconds=5), timedelta(minutes=3, seconds=5)):
        clock.now = STARTED + after
        try:
            ends.append(deliver()["ingested"][0]["status"])
        except upload_ingest.IngestInProgress:
            ends.append("failed: to the failure queue after the last retry")

    assert ends[-1] == ProcessingStatus.QUEUED.value
    assert media_items.get_item(ITEM_ID).status == ProcessingStatus.QUEUED.value
