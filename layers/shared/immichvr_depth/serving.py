"""Serving a depth map: inline when it fits a Lambda response, else a short-lived presigned redirect."""

from __future__ import annotations

from dataclasses import dataclass

from immichvr_depth import aws, depth_maps, media_items
from immichvr_depth.errors import NotFound
from immichvr_depth.models import DepthMap
from immichvr_depth.settings import get_settings
from immichvr_depth.versions import VersionType
from immichvr_depth.views import depth_headers

# Stored maps only change when regenerated, which changes their checksum and so their ETag.
CACHE_CONTROL = "private, max-age=86400, must-revalidate"


@dataclass(frozen=True)
class DepthDownload:
    headers: dict[str, str]
    not_modified: bool = False
    body: bytes | None = None
    redirect_url: str | None = None


def _record_or_not_found(media_item_id: str, version: VersionType) -> DepthMap:
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


def download(media_item_id: str, version: VersionType, if_none_match: str | None) -> DepthDownload:
    record = _record_or_not_found(media_item_id, version)
    headers = depth_headers(record) | {"ETag": depth_maps.etag(record), "Cache-Control": CACHE_CONTROL}
    if if_none_match and depth_maps.etag(record) in {tag.strip() for tag in if_none_match.split(",")}:
        return DepthDownload(headers=headers, not_modified=True)
    depth_maps.record_access(media_item_id, version)
    settings = get_settings()
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
    body = aws.s3().get_object(Bucket=settings.media_bucket, Key=record.file_path)["Body"].read()
    return DepthDownload(headers=headers, body=body)
