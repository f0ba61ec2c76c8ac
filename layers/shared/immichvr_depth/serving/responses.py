"""The serving flow's JSON answers, one model per body, each built from the stored records here.

The shapes are the API's as published: the media status view and the depth-map entries have
snake_case keys, every other body camelCase keys. Timestamps are ISO 8601 UTC text ending in `Z`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from immichvr_depth.platform.http import CamelCaseAnswer, JsonAnswer
from immichvr_depth.platform.instants import Timestamp, instant_text
from immichvr_depth.platform.release import VERSION
from immichvr_depth.serving.regeneration import Regeneration
from immichvr_depth.store import media_items, versions
from immichvr_depth.store.status import ProcessingStatus, SourceType
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType


def iso(moment: datetime | None) -> str | None:
    """A stored instant as the API writes it (`2026-01-02T03:04:05.678901Z`); None for None."""
    return instant_text(moment) if moment else None


def _whole(number: float) -> int:
    # pynamodb types every number as float; sizes, pixels and counts are whole, and DynamoDB reads
    # them back as int.
    return int(number)


def _whole_or_none(number: float | None) -> int | None:
    return None if number is None else int(number)


def depth_map_id(media_item_id: str, version: VersionType) -> str:
    return f"{media_item_id}:{version.value}"


def depth_headers(record: DepthMapRecord) -> dict[str, str]:
    """The headers that describe a depth map, on its download and its 304 and 307 answers."""
    return {
        "X-Depth-Map-Version": record.version.value,
        "X-Model-Name": record.model_name,
        "X-Model-Version": record.model_version,
        "X-Generated-At": iso(record.generated_at) or "",
    }


class MediaStatus(JsonAnswer):
    """GET /api/media/{id} 200, and each item of GET /api/media: a media item, its processing status and
    each tier's depth map (the `thumbnail_*`, `preview_*` and `full_res_*` keys, null while the map is
    not made or the tier is not made by this deployment)."""

    media_item_id: str
    source_type: SourceType
    """where the photo came from"""
    immich_asset_id: str | None
    """the Immich asset it was imported from; null for an upload"""
    filename: str
    mime_type: str
    file_size: int | None
    """the original's size in bytes; null until it is stored"""
    width: int | None
    """the upright photo's width in pixels; null until known"""
    height: int | None
    original_path: str | None
    """the original's S3 key; null until it is stored"""
    thumbnail_path: str | None
    """the preview's S3 key; null when there is none"""
    thumbnail_size: int | None
    """the preview's size in bytes"""
    processing_status: ProcessingStatus
    attempts: int
    """how many times its depth maps were attempted"""
    last_error: str | None
    """the reason of the last failed attempt"""
    created_at: Timestamp
    updated_at: Timestamp
    thumbnail_depth_map_id: str | None
    """`{media_item_id}:thumbnail` once the thumbnail's map is made"""
    thumbnail_depth_map_path: str | None
    thumbnail_depth_map_generated_at: Timestamp | None
    thumbnail_depth_map_evicted_at: Timestamp | None
    preview_depth_map_id: str | None
    """`{media_item_id}:preview` once the preview's map is made; `{media_item_id}:full_resolution` for
    a photo no larger than the preview, whose preview is its full-resolution map"""
    preview_depth_map_path: str | None
    preview_depth_map_generated_at: Timestamp | None
    preview_depth_map_evicted_at: Timestamp | None
    full_res_depth_map_id: str | None
    """`{media_item_id}:full_resolution` once the full-resolution map is made"""
    full_res_depth_map_path: str | None
    full_res_depth_map_generated_at: Timestamp | None
    full_res_depth_map_evicted_at: Timestamp | None
    """when the unread map's file was deleted; a download makes it again"""

    @classmethod
    def of(cls, item: MediaItem, records: list[DepthMapRecord]) -> MediaStatus:
        by_version = {record.version: record for record in records}
        thumbnail = by_version.get(VersionType.THUMBNAIL)
        full = by_version.get(VersionType.FULL_RESOLUTION)
        preview_tier = versions.served_by(VersionType.PREVIEW, media_items.long_side(item))
        preview = by_version.get(preview_tier) if VersionType.PREVIEW in versions.enabled() else None
        item_id = item.media_item_id
        return cls(
            media_item_id=item_id,
            source_type=SourceType(item.source_type),
            immich_asset_id=item.immich_asset_id,
            filename=item.filename,
            mime_type=item.mime_type,
            file_size=_whole_or_none(item.file_size),
            width=_whole_or_none(item.width),
            height=_whole_or_none(item.height),
            original_path=item.original_path,
            thumbnail_path=item.thumbnail_path,
            thumbnail_size=_whole_or_none(item.thumbnail_size),
            processing_status=ProcessingStatus(item.status),
            attempts=_whole(item.attempts),
            last_error=item.last_error,
            created_at=item.created_at,
            updated_at=item.updated_at,
            thumbnail_depth_map_id=depth_map_id(item_id, VersionType.THUMBNAIL) if thumbnail else None,
            thumbnail_depth_map_path=thumbnail.file_path if thumbnail else None,
            thumbnail_depth_map_generated_at=thumbnail.generated_at if thumbnail else None,
            thumbnail_depth_map_evicted_at=thumbnail.evicted_at if thumbnail else None,
            preview_depth_map_id=depth_map_id(item_id, preview_tier) if preview else None,
            preview_depth_map_path=preview.file_path if preview else None,
            preview_depth_map_generated_at=preview.generated_at if preview else None,
            preview_depth_map_evicted_at=preview.evicted_at if preview else None,
            full_res_depth_map_id=depth_map_id(item_id, VersionType.FULL_RESOLUTION) if full else None,
            full_res_depth_map_path=full.file_path if full else None,
            full_res_depth_map_generated_at=full.generated_at if full else None,
            full_res_depth_map_evicted_at=full.evicted_at if full else None,
        )


class MediaPage(CamelCaseAnswer):
    """GET /api/media 200: a page of media items, newest first."""

    items: list[MediaStatus]
    next_cursor: str | None
    """the `cursor` of the next page; null on the last"""


class DepthMapInfo(JsonAnswer):
    """One depth map's metadata, an entry of GET /api/media/{id}/depth/info."""

    version_type: VersionType
    file_size: int
    """the PNG's size in bytes"""
    format: str
    width: int
    height: int
    model_name: str
    model_version: str
    generated_at: Timestamp
    accessed_at: Timestamp | None
    """the last download; null until the first"""
    access_count: int
    generation: int
    """how many times the map was made again (0 for the first)"""
    evicted: bool
    """whether its file was deleted after going unread (a download makes it again)"""
    evicted_at: Timestamp | None

    @classmethod
    def of(cls, record: DepthMapRecord) -> DepthMapInfo:
        return cls(
            version_type=record.version,
            file_size=_whole(record.file_size),
            format=record.format,
            width=_whole(record.width),
            height=_whole(record.height),
            model_name=record.model_name,
            model_version=record.model_version,
            generated_at=record.generated_at,
            accessed_at=record.accessed_at,
            access_count=_whole(record.access_count),
            generation=_whole(record.generation),
            evicted=record.evicted_at is not None,
            evicted_at=record.evicted_at,
        )


class DepthInfo(CamelCaseAnswer):
    """GET /api/media/{id}/depth/info 200: every depth map of an item, without the files."""

    media_item_id: str
    processing_status: ProcessingStatus
    depth_maps: list[DepthMapInfo]
    """one entry per version made"""
    served_by: dict[VersionType, VersionType]
    """each tier this deployment makes and the tier whose map answers for it: itself, except the
    preview of a photo no larger than the preview, answered by full resolution"""

    @classmethod
    def of(cls, item: MediaItem, records: list[DepthMapRecord]) -> DepthInfo:
        long_side = media_items.long_side(item)
        return cls(
            media_item_id=item.media_item_id,
            processing_status=ProcessingStatus(item.status),
            depth_maps=[DepthMapInfo.of(record) for record in records],
            served_by={tier: versions.served_by(tier, long_side) for tier in versions.enabled()},
        )


class RegenerationQueued(CamelCaseAnswer):
    """POST /api/media/{id}/depth/regenerate 202: the item is queued to have these versions made again."""

    success: Literal[True] = True
    media_item_id: str
    processing_status: ProcessingStatus
    versions: list[VersionType]
    """the versions being made again"""
    replacing_generations: dict[VersionType, int]
    """the generation each version's new map replaces, for the versions that had one"""
    queue_id: str
    """the processing queue's message id"""

    @classmethod
    def of(cls, queued: Regeneration) -> RegenerationQueued:
        return cls(
            media_item_id=queued.item.media_item_id,
            processing_status=ProcessingStatus(queued.item.status),
            versions=list(queued.versions),
            replacing_generations=dict(queued.replacing),
            queue_id=queued.queue_id,
        )


class Health(CamelCaseAnswer):
    """GET /api/health 200: the API answers. Nothing behind it (Immich, the depth backend) is asked."""

    status: Literal["ok"] = "ok"
    version: str = VERSION
    """the release of the back end"""
