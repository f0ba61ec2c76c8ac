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

from immichvr_depth.platform import aws
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_depth.store.keys import item_prefixes
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord

_DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes


@dataclass(frozen=True)
class Deletion:
    media_item_id: str
    files: int
    depth_maps: int


def _delete_files(media_item_id: str) -> int:
    s3 = aws.s3()
    bucket = get_settings().media_bucket
    deleted = 0
    for prefix in item_prefixes(media_item_id):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [entry["Key"] for entry in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                result = s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
                if result.get("Errors"):
                    raise RuntimeError(
                        f"S3 refused to delete {len(result['Errors'])} files: {result['Errors']}"
                    )
                deleted += len(batch)
    return deleted


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
