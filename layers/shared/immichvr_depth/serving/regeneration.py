"""Making an item's depth maps again on demand: after a model change, or when an evicted map is read.

A regeneration queues the item with, for each version, the generation it replaces. The item moves
`completed | failed -> queued` with one conditional write first, so of concurrent requests exactly one
queues a message; the others find it queued (the API answers 409, a read of an evicted map 202)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from immichvr_depth.platform.errors import InvalidRequest, NotFound
from immichvr_depth.platform.observability import logger
from immichvr_depth.store import depth_maps, media_items, versions
from immichvr_depth.store.processing_queue import enqueue_processing
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType

# Only a settled item may be queued again: one being imported, queued, processed or deleted may not.
REGENERABLE_FROM = (ProcessingStatus.COMPLETED, ProcessingStatus.FAILED)

_BUSY = {
    ProcessingStatus.PENDING.value: "it is still being imported",
    ProcessingStatus.QUEUED.value: "it is already queued to have its depth maps made",
    ProcessingStatus.PROCESSING.value: "its depth maps are being made right now",
    ProcessingStatus.DELETING.value: "it is being deleted",
}


@dataclass(frozen=True)
class Regeneration:
    item: MediaItem
    versions: tuple[VersionType, ...]
    replacing: dict[VersionType, int]
    queue_id: str


def _versions(item: MediaItem, version: VersionType | None) -> list[VersionType]:
    made_for_item = versions.versions_to_process(bool(item.thumbnail_path), media_items.long_side(item))
    if version is None:
        return made_for_item
    version = versions.served_by(versions.require_enabled(version), media_items.long_side(item))
    if version not in made_for_item:
        raise InvalidRequest(
            f"media item {item.media_item_id} has no {version.value} version to regenerate",
            mediaItemId=item.media_item_id,
            version=version.value,
        )
    return [version]


def _queue(item: MediaItem, versions: Sequence[VersionType]) -> Regeneration:
    try:
        media_items.transition(item, ProcessingStatus.QUEUED, only_from=REGENERABLE_FROM)
    except media_items.StatusConflict:
        doing = _BUSY.get(item.status, "it is busy")
        raise media_items.StatusConflict(
            f"media item {item.media_item_id} is {item.status}: {doing}; "
            "regenerate it once it is completed or failed",
            mediaItemId=item.media_item_id,
            processingStatus=item.status,
        ) from None
    # Read after the item is queued: no processor changes a record of a settled item.
    records = {record.version: record for record in depth_maps.all_for(item.media_item_id)}
    replacing = {version: int(records[version].generation) for version in versions if version in records}
    try:
        queue_id = enqueue_processing(item.media_item_id, replacing)
    except Exception:
        # Not queued after all: leave the item where a later request can queue it again.
        media_items.transition(item, ProcessingStatus.FAILED, error="the regeneration could not be queued")
        raise
    media_items.update(item, MediaItem.queue_message_id.set(queue_id))
    logger.info(
        "regeneration queued",
        versions=[version.value for version in versions],
        replacing={version.value: generation for version, generation in replacing.items()},
        queue_id=queue_id,
    )
    return Regeneration(item, tuple(versions), replacing, queue_id)


def request_regeneration(media_item_id: str, version: VersionType | None) -> Regeneration:
    """Queue the item to make `version` (every version when None) again. NotFound for an unknown
    item, InvalidRequest for a version the item does not have, StatusConflict unless it is settled."""
    item = media_items.get_item(media_item_id)
    return _queue(item, _versions(item, version))


def make_missing(item: MediaItem, version: VersionType) -> bool:
    """Queue a completed item to make a tier it should have but lacks (an item made before the tier
    existed), once however many readers ask. False when the item has no such tier to make."""
    # Only a completed item: a failed one lacks tiers because making them failed, and reading them
    # must not queue it again and again.
    settled = item.status == ProcessingStatus.COMPLETED.value
    wanted = versions.versions_to_process(bool(item.thumbnail_path), media_items.long_side(item))
    if not settled or version not in wanted:
        return False
    try:
        _queue(item, [version])
    except media_items.StatusConflict:
        logger.info("missing tier already being made", version=version.value, processing_status=item.status)
    return True


def regenerate_evicted(record: DepthMapRecord) -> MediaItem:
    """Queue an evicted map to be made again, once however many readers ask: a reader that finds the
    item already queued or processing leaves it be. Returns the item as it now is."""
    item = media_items.get_item(record.media_item_id)
    if item.status == ProcessingStatus.DELETING.value:
        raise NotFound(f"media item {record.media_item_id} not found", mediaItemId=record.media_item_id)
    try:
        _queue(item, [record.version])
    except media_items.StatusConflict:
        logger.info("evicted map already being regenerated", processing_status=item.status)
    return item
