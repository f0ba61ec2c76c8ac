"""Deleting a media item with every file and record it has, and keeping it deleted.

The item enters `deleting` first: a processor arriving later drops its message, and one already
running fails to store (each depth-map record write checks the item is not `deleting`, see
store/depth_maps.py). Then every file under the item's id in each key prefix goes (every generation of
its depth maps included), then its depth-map records, and last the item becomes its tombstone
(`deleted`): answered as not found and listed nowhere, it refuses whatever would bring the item back
by itself (a webhook, a sync or album import, a queued import, a later upload under its key). An
explicit `POST /api/immich/import/{assetId}` makes it again, under the same id. A delete that crashed
midway leaves the item `deleting`, and repeating the delete finishes the work."""

from __future__ import annotations

from dataclasses import dataclass

from immichvr_depth.platform.observability import logger
from immichvr_depth.store import media_items, objects
from immichvr_depth.store.keys import item_prefixes
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord


@dataclass(frozen=True)
class Deletion:
    media_item_id: str
    files: int
    depth_maps: int


def _delete_files(media_item_id: str) -> int:
    return sum(objects.delete_under(prefix) for prefix in item_prefixes(media_item_id))


def delete_media_item(media_item_id: str) -> Deletion:
    """Remove the item, its files and its records. NotFound for an unknown (or already deleted) item."""
    item = media_items.get_item(media_item_id)
    media_items.transition(item, ProcessingStatus.DELETING)
    logger.info("deleting media item", immich_asset_id=item.immich_asset_id)
    files = _delete_files(media_item_id)
    records = 0
    for record in DepthMapRecord.query(media_item_id, consistent_read=True):
        record.delete()
        records += 1
    media_items.leave_tombstone(item)
    logger.info("media item deleted", files=files, depth_maps=records)
    return Deletion(media_item_id, files, records)
