"""DynamoDB tables as pynamodb models. Table names come from the environment (the template sets them)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.versions import VersionType

# Every item shares one partition of the listing index so it can be read newest first.
LISTING_PARTITION = "media"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class ImmichAssetIndex(GlobalSecondaryIndex["MediaItem"]):
    class Meta:
        index_name = "immich_asset_id-index"
        projection = KeysOnlyProjection()

    immich_asset_id = UnicodeAttribute(hash_key=True)


class ListingIndex(GlobalSecondaryIndex["MediaItem"]):
    class Meta:
        index_name = "listing-index"
        projection = AllProjection()

    listing_partition = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class MediaItem(Model):
    class Meta:
        table_name = os.environ.get("MEDIA_TABLE", "immichvr-media-items")
        region = _region()

    media_item_id = UnicodeAttribute(hash_key=True)
    source_type = UnicodeAttribute()
    filename = UnicodeAttribute()
    mime_type = UnicodeAttribute()
    original_path = UnicodeAttribute(null=True)
    thumbnail_path = UnicodeAttribute(null=True)
    thumbnail_mime_type = UnicodeAttribute(null=True)
    file_size = NumberAttribute(null=True)
    thumbnail_size = NumberAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    immich_asset_id = UnicodeAttribute(null=True)
    checksum = UnicodeAttribute(null=True)
    thumbnail_params = MapAttribute[str, Any](null=True)
    status = UnicodeAttribute(default=ProcessingStatus.PENDING.value)
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    queue_message_id = UnicodeAttribute(null=True)
    # Asynchronous inference: the versions submitted to the endpoint whose maps are not stored yet.
    pending_versions = UnicodeSetAttribute(null=True)
    listing_partition = UnicodeAttribute(default=LISTING_PARTITION)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)

    immich_asset_index = ImmichAssetIndex()
    listing_index = ListingIndex()


class ImmichSyncState(Model):
    """Where the scheduled Immich sync got to: one item per sync, holding the start time of the last
    run that finished. The table name is set from the settings when the sync runs."""

    class Meta:
        table_name = os.environ.get("IMMICH_SYNC_STATE_TABLE", "immichvr-immich-sync-state")
        region = _region()

    sync_id = UnicodeAttribute(hash_key=True)
    # Stored as fixed-width UTC text, so a conditional "cursor < new" compares instants.
    cursor = UTCDateTimeAttribute()
    assets_queued = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(default=utcnow)


class DepthMapRecord(Model):
    class Meta:
        table_name = os.environ.get("DEPTH_MAPS_TABLE", "immichvr-depth-maps")
        region = _region()

    media_item_id = UnicodeAttribute(hash_key=True)
    # Records written before versions existed carry no range key value of their own;
    # `version` reads them as full resolution.
    version_type = UnicodeAttribute(range_key=True, default=VersionType.FULL_RESOLUTION.value)
    file_path = UnicodeAttribute()
    file_size = NumberAttribute()
    format = UnicodeAttribute(default="png")
    width = NumberAttribute()
    height = NumberAttribute()
    model_name = UnicodeAttribute()
    model_version = UnicodeAttribute()
    processing_params = MapAttribute[str, Any](default=dict)
    checksum = UnicodeAttribute()
    generated_at = UTCDateTimeAttribute(default=utcnow)
    accessed_at = UTCDateTimeAttribute(null=True)
    access_count = NumberAttribute(default=0)
    # Each regeneration writes its file under the next generation's key, then moves the record to it;
    # records written before regeneration existed read as generation 0 (today's key).
    generation = NumberAttribute(default=0)
    # Set when the eviction deleted the file (full resolution only); a read regenerates it.
    evicted_at = UTCDateTimeAttribute(null=True)

    @property
    def version(self) -> VersionType:
        return VersionType.parse(self.version_type)
