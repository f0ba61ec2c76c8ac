"""The DynamoDB tables as pynamodb models, each bound to the table the settings name.

A model's table name is read from the settings whenever pynamodb makes or checks its connection, never
at import: the functions' environment (set by the template, or by the local runner and the tests) is
the one source, and pynamodb reconnects when the name it was given changes. The region is botocore's,
from the same environment."""

from __future__ import annotations

from collections.abc import Callable
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

from immichvr_depth.platform.settings import Settings, get_settings
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.versions import VersionType

# Every item shares one partition of the listing index so it can be read newest first.
LISTING_PARTITION = "media"


def utcnow() -> datetime:
    return datetime.now(UTC)


class _TableName:
    """A model's `Meta.table_name`, read from the settings each time pynamodb asks for it."""

    def __init__(self, name_in: Callable[[Settings], str]) -> None:
        self._name_in = name_in

    def __get__(self, instance: object, owner: type | None = None) -> str:
        return self._name_in(get_settings())


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
        table_name = _TableName(lambda settings: settings.media_table)

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
    # An upload's S3 ETag when it was ingested: a later object under the same key is another file.
    source_etag = UnicodeAttribute(null=True)
    # Asynchronous inference: the versions submitted to the endpoint whose maps are not stored yet.
    pending_versions = UnicodeSetAttribute(null=True)
    # Absent on a tombstone, which keeps it out of the listing index.
    listing_partition = UnicodeAttribute(null=True, default=LISTING_PARTITION)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)

    immich_asset_index = ImmichAssetIndex()
    listing_index = ListingIndex()


class ImmichSyncState(Model):
    """Where the scheduled Immich sync got to: one item per sync, holding the start time of the last
    run that finished."""

    class Meta:
        table_name = _TableName(lambda settings: settings.immich_sync_state_table)

    sync_id = UnicodeAttribute(hash_key=True)
    # Stored as fixed-width UTC text, so a conditional "cursor < new" compares instants.
    cursor = UTCDateTimeAttribute()
    assets_queued = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(default=utcnow)


class DepthMapRecord(Model):
    class Meta:
        table_name = _TableName(lambda settings: settings.depth_maps_table)

    media_item_id = UnicodeAttribute(hash_key=True)
    # A VersionType value; `version` reads it typed.
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
    # a record without the attribute is generation 0, whose file has the key without a suffix.
    generation = NumberAttribute(default=0)
    # Set when the eviction deleted the file (the tiers EVICTABLE_TIERS names); a read regenerates it.
    evicted_at = UTCDateTimeAttribute(null=True)

    @property
    def version(self) -> VersionType:
        # Records written before versions were named have an empty one: the full-resolution map.
        return VersionType(self.version_type or VersionType.FULL_RESOLUTION.value)
