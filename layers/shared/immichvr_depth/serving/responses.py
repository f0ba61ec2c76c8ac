"""The JSON shapes the API answers with, built from the stored records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def depth_map_id(media_item_id: str, version: VersionType) -> str:
    return f"{media_item_id}:{version.value}"


def media_status(item: MediaItem, records: list[DepthMapRecord]) -> dict[str, Any]:
    """The seed's `media_processing_status` view: the item, its status and each version's depth map."""
    by_version = {record.version: record for record in records}
    view: dict[str, Any] = {
        "media_item_id": item.media_item_id,
        "source_type": item.source_type,
        "immich_asset_id": item.immich_asset_id,
        "filename": item.filename,
        "mime_type": item.mime_type,
        "file_size": item.file_size,
        "width": item.width,
        "height": item.height,
        "original_path": item.original_path,
        "thumbnail_path": item.thumbnail_path,
        "thumbnail_size": item.thumbnail_size,
        "processing_status": item.status,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }
    for prefix, version in (("thumbnail", VersionType.THUMBNAIL), ("full_res", VersionType.FULL_RESOLUTION)):
        record = by_version.get(version)
        view[f"{prefix}_depth_map_id"] = depth_map_id(item.media_item_id, version) if record else None
        view[f"{prefix}_depth_map_path"] = record.file_path if record else None
        view[f"{prefix}_depth_map_generated_at"] = iso(record.generated_at) if record else None
        view[f"{prefix}_depth_map_evicted_at"] = iso(record.evicted_at) if record else None
    return view


def depth_map_info(record: DepthMapRecord) -> dict[str, Any]:
    return {
        "version_type": record.version.value,
        "file_size": record.file_size,
        "format": record.format,
        "width": record.width,
        "height": record.height,
        "model_name": record.model_name,
        "model_version": record.model_version,
        "generated_at": iso(record.generated_at),
        "accessed_at": iso(record.accessed_at),
        "access_count": record.access_count,
        "generation": record.generation,
        "evicted": record.evicted_at is not None,
        "evicted_at": iso(record.evicted_at),
    }


def depth_headers(record: DepthMapRecord) -> dict[str, str]:
    return {
        "X-Depth-Map-Version": record.version.value,
        "X-Model-Name": record.model_name,
        "X-Model-Version": record.model_version,
        "X-Generated-At": iso(record.generated_at) or "",
    }
