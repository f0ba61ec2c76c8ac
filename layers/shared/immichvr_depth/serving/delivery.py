"""Serving a depth map: inline when it fits a Lambda response, else a short-lived presigned redirect.
An evicted map is queued to be made again and answered 202."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import NotFound
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.serving import regeneration
from immichvr_depth.serving.responses import DepthMapRegenerating, depth_headers
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.depth_maps import Evicted
from immichvr_depth.store.tables import DepthMapRecord
from immichvr_depth.store.versions import VersionType

# Stored maps only change when regenerated, which changes their checksum and so their ETag.
CACHE_CONTROL = "private, max-age=86400, must-revalidate"
# A regeneration deletes the file it replaced right after moving the record: a reader that read the
# record just before finds the file gone and reads the record again.
_READ_ATTEMPTS = 3


@dataclass(frozen=True)
class DepthDownload:
    headers: dict[str, str]
    not_modified: bool = False
    body: bytes | None = None
    redirect_url: str | None = None
    regenerating: DepthMapRegenerating | None = None  # an evicted map being made again: the 202 body


def _record_or_not_found(media_item_id: str, version: VersionType) -> DepthMapRecord:
    record = depth_maps.find(media_item_id, version)
    if record is not None:
        return record
    item = media_items.get_item(media_item_id)
    raise NotFound(
        f"the {version.value} depth map of media item {media_item_id} is not made yet",
        mediaItemId=media_item_id,
        version=version.value,
        processingStatus=item.status,
        lastError=item.last_error,
    )


def _regenerating(record: DepthMapRecord) -> DepthDownload:
    item = regeneration.regenerate_evicted(record)
    retry_after = get_settings().regenerate_retry_after_s
    return DepthDownload(
        headers={"Retry-After": str(retry_after)},
        regenerating=DepthMapRegenerating.of(record, item, retry_after),
    )


def already_held(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header names what the client already holds, as RFC 9110 reads it for
    a GET: `*` matches any current map, and tags compare weakly (`W/"x"` matches `"x"`)."""
    if if_none_match.strip() == "*":
        return True
    held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag.removeprefix("W/") in held


def download(media_item_id: str, version: VersionType, if_none_match: str | None) -> DepthDownload:
    record = _record_or_not_found(media_item_id, version)
    if record.evicted_at is not None:
        return _regenerating(record)
    if if_none_match and already_held(if_none_match, depth_maps.etag(record)):
        headers = depth_headers(record) | {"ETag": depth_maps.etag(record), "Cache-Control": CACHE_CONTROL}
        return DepthDownload(headers=headers, not_modified=True)
    try:
        record = depth_maps.record_access(media_item_id, version)
    except Evicted as evicted:
        return _regenerating(evicted.record)
    settings = get_settings()
    for _ in range(_READ_ATTEMPTS):
        headers = depth_headers(record) | {"ETag": depth_maps.etag(record), "Cache-Control": CACHE_CONTROL}
        if record.file_size > settings.max_inline_response_bytes:
            url = aws.s3().generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": settings.media_bucket,
                    "Key": record.file_path,
                    "ResponseContentType": "image/png",
                },
                ExpiresIn=settings.presigned_url_ttl_s,
            )
            return DepthDownload(headers=headers, redirect_url=url)
        try:
            body = aws.s3().get_object(Bucket=settings.media_bucket, Key=record.file_path)["Body"].read()
        except ClientError as error:
            if not aws.missing_object(error):
                raise
            replaced = _record_or_not_found(media_item_id, version)
            if replaced.evicted_at is not None:
                return _regenerating(replaced)
            if replaced.file_path == record.file_path:
                raise
            record = replaced
            continue
        return DepthDownload(headers=headers, body=body)
    raise NotFound(f"the {version.value} depth map of media item {media_item_id} keeps moving; retry")
