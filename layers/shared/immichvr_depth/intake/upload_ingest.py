"""Ingesting a file that landed under uploads/: a media item, its thumbnail, a place on the queue."""

from __future__ import annotations

import hashlib
import io
import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO, cast

from aws_lambda_powertools.metrics import MetricUnit

from immichvr_depth.imaging import make_thumbnail, probe
from immichvr_depth.intake import new_items
from immichvr_depth.intake.upload_tickets import FILENAME_METADATA, filename_from_metadata
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import Conflict, InvalidImage
from immichvr_depth.platform.observability import logger, metrics
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_depth.store.keys import media_item_id_from_upload_key, original_key, thumbnail_key
from immichvr_depth.store.status import ProcessingStatus, SourceType
from immichvr_depth.store.tables import MediaItem

# Longer than the ingest function's timeout (60 s in the template), so a claim this old belongs to an
# ingest Lambda has stopped; shorter than that timeout plus the minute Lambda waits before retrying a
# failed S3 event, so the first retry takes such a claim over. The template test checks both.
ABANDONED_CLAIM_AGE = timedelta(seconds=90)
_UPLOAD_NAMESPACE = uuid.UUID("0c8b1f9e-2a44-4b8e-8f0d-5d3b6e1a7c42")
_SPOOL_IN_MEMORY_BYTES = 16 * 1024 * 1024


def media_item_id_for_object(key: str, etag: str) -> str:
    """Presigned uploads carry their id in the key; a file dropped straight into the prefix gets one
    derived from its key and content, so a redelivered event names the same item."""
    return media_item_id_from_upload_key(key) or str(uuid.uuid5(_UPLOAD_NAMESPACE, f"{key}:{etag}"))


class IngestInProgress(Conflict):
    """Another delivery of the same upload holds the item's claim: this one fails, so Lambda retries it
    (taking the claim over once it is abandoned) and, past its retries, sends it to the failure queue."""

    code = "ingest_in_progress"


@dataclass(frozen=True)
class IngestOutcome:
    media_item_id: str
    status: str
    duplicate: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class _Spooled:
    file: BinaryIO
    size: int
    sha256: str
    etag: str
    metadata: dict[str, str]


def _spool_object(key: str) -> _Spooled:
    settings = get_settings()
    response = aws.s3().get_object(Bucket=settings.media_bucket, Key=key)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 - returned open
    digest = hashlib.sha256()
    size = 0
    for chunk in response["Body"].iter_chunks(1024 * 1024):
        size += len(chunk)
        if size > settings.max_upload_bytes:
            spool.close()
            raise InvalidImage(
                f"file is larger than the {settings.max_upload_bytes} bytes an upload may have"
            )
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return _Spooled(
        cast(BinaryIO, spool), size, digest.hexdigest(), response["ETag"], response.get("Metadata", {})
    )


def ingest_upload(key: str, etag: str) -> IngestOutcome:
    """Record an uploaded file as a media item and queue it: the original is copied out of uploads/
    (so nothing posted later under the key can change it), a thumbnail is made, and the upload itself
    is removed once the item is queued.

    A file that is not a usable image leaves a failed item saying why (its upload kept as the item's
    file), and nothing queued. A file that arrives under the key of an item already recorded (its
    ticket used again) or deleted is refused and removed."""
    item = MediaItem(
        media_item_id_for_object(key, etag),
        source_type=SourceType.UPLOAD.value,
        filename=key.rsplit("/", 1)[-1],
        mime_type="application/octet-stream",
        original_path=key,
    )
    claimed = new_items.claim(item, stale_after=ABANDONED_CLAIM_AGE)
    if claimed is media_items.Claim.DELETED:
        return _refuse(key, item.media_item_id, ProcessingStatus.DELETED.value, "its media item was deleted")
    if claimed is media_items.Claim.HELD:
        return _already_recorded(key, item.media_item_id)

    with new_items.writing(item) as files:
        try:
            upload = _spool_object(key)
            with upload.file:
                facts = probe(upload.file)
                upload.file.seek(0)
                thumbnail = make_thumbnail(upload.file, get_settings().thumbnail_long_side)
        except InvalidImage as error:
            media_items.transition(
                item, ProcessingStatus.FAILED, MediaItem.source_etag.set(_etag(etag)), error=error.message
            )
            metrics.add_metric(name="UploadsRejected", unit=MetricUnit.Count, value=1)
            logger.warning("upload is not a usable image", reason=error.message)
            return IngestOutcome(item.media_item_id, ProcessingStatus.FAILED.value, reason=error.message)
        filename = _filename(upload.metadata) or item.filename
        original = original_key(item.media_item_id, filename, facts.mime_type)
        files.copy(key, original)
        stored_thumbnail = thumbnail_key(item.media_item_id, filename, thumbnail.content_type)
        files.put(stored_thumbnail, io.BytesIO(thumbnail.body), thumbnail.content_type, {})
        queue_id = files.queue_for_depth(
            MediaItem.filename.set(filename),
            MediaItem.mime_type.set(facts.mime_type),
            MediaItem.original_path.set(original),
            MediaItem.source_etag.set(_etag(upload.etag)),
            MediaItem.file_size.set(upload.size),
            MediaItem.checksum.set(upload.sha256),
            MediaItem.width.set(facts.oriented_width),
            MediaItem.height.set(facts.oriented_height),
            MediaItem.thumbnail_path.set(stored_thumbnail),
            MediaItem.thumbnail_mime_type.set(thumbnail.content_type),
            MediaItem.thumbnail_size.set(len(thumbnail.body)),
            MediaItem.thumbnail_params.set(
                {
                    "long_side": get_settings().thumbnail_long_side,
                    "width": thumbnail.width,
                    "height": thumbnail.height,
                    "format": "jpeg",
                    "quality": thumbnail.quality,
                }
            ),
        )
    _remove_upload(key)
    metrics.add_metric(name="UploadsIngested", unit=MetricUnit.Count, value=1)
    logger.info("upload ingested", key=key, original=original, queue_id=queue_id)
    return IngestOutcome(item.media_item_id, ProcessingStatus.QUEUED.value)


def _already_recorded(key: str, media_item_id: str) -> IngestOutcome:
    """An event for an item already claimed: a redelivery while the first is still at work (failed,
    so Lambda retries it), a redelivery of what is done, or another file posted under the same key."""
    existing = media_items.find_item(media_item_id)
    if existing is None or existing.status == ProcessingStatus.PENDING.value:
        logger.warning("upload is being ingested by another delivery; failing this one for a retry")
        raise IngestInProgress(
            f"media item {media_item_id} is being ingested by another delivery", mediaItemId=media_item_id
        )
    under_key = _etag_under(key)
    if under_key is not None and under_key != existing.source_etag:
        return _refuse(key, media_item_id, existing.status, "its media item already holds another file")
    if under_key is not None and existing.original_path != key:
        _remove_upload(key)  # the item's own upload, left by an ingest that stopped before removing it
    logger.info("upload already recorded; duplicate event ignored", media_item_id=media_item_id)
    return IngestOutcome(media_item_id, existing.status, duplicate=True)


def _refuse(key: str, media_item_id: str, status: str, why: str) -> IngestOutcome:
    """Remove a file that may not become (or change) the item it names, and say so."""
    _remove_upload(key)
    metrics.add_metric(name="UploadsRefused", unit=MetricUnit.Count, value=1)
    logger.warning("upload refused and removed", media_item_id=media_item_id, key=key, reason=why)
    return IngestOutcome(media_item_id, status, duplicate=True, reason=f"refused: {why}")


def _filename(metadata: dict[str, str]) -> str | None:
    """The file name the upload's ticket gave, or None (a file put there without a ticket, or a value
    that is not one a ticket writes)."""
    value = metadata.get(FILENAME_METADATA)
    if not value:
        return None
    try:
        return filename_from_metadata(value)
    except UnicodeDecodeError:
        logger.warning("upload's file name metadata is not one a ticket writes; the key's name is used")
        return None


def _etag_under(key: str) -> str | None:
    """The ETag of the object under `key`, or None. Listed rather than read: a HeadObject of a missing
    key is a 403, not a 404, to a role that may list only under a prefix."""
    listing = aws.s3().list_objects_v2(Bucket=get_settings().media_bucket, Prefix=key, MaxKeys=1)
    for entry in listing.get("Contents", []):
        if entry["Key"] == key:
            return _etag(entry["ETag"])
    return None


def _etag(raw: str) -> str:
    """An ETag as S3 gives it in events (bare) and in responses (quoted), in one form."""
    return raw.strip('"')


def _remove_upload(key: str) -> None:
    aws.s3().delete_object(Bucket=get_settings().media_bucket, Key=key)
