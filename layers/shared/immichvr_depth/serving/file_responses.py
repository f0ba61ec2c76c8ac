"""The JSON answers of the file routes (depth, photo, stereo, urls), apart from the other answers so
that the media API, which serves none of them, never loads the imaging code they name."""

from __future__ import annotations

from immichvr_depth.imaging import StereoLayout
from immichvr_depth.platform.http import CamelCaseAnswer, LeftOutWhenNone
from immichvr_depth.platform.instants import Timestamp
from immichvr_depth.serving.derivatives import DepthFormat, Derivative
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType


class NotReady(CamelCaseAnswer):
    """202 of the file routes (depth, photo, stereo): the file is being made, so retry after
    `retryAfter` seconds (the Retry-After header repeats it). Either the map was evicted after going
    unread and is being made again (`evictedAt`, `processingStatus`), or a tier the item was made
    without (it predates the tier) is being made (`processingStatus`), or a derivative is being made
    by another request or by the processor (`derivative`)."""

    media_item_id: str
    version: VersionType
    processing_status: LeftOutWhenNone[ProcessingStatus] = None
    """the item's status, when its map is being made again"""
    evicted_at: LeftOutWhenNone[Timestamp] = None
    """when the evicted map's file was deleted"""
    derivative: LeftOutWhenNone[str] = None
    """what is being made: `photo`, `png8` or `stereo-<layout>`"""
    retry_after: int
    """seconds to wait before asking again"""
    message: str

    @classmethod
    def evicted(cls, record: DepthMapRecord, item: MediaItem, retry_after: int) -> NotReady:
        version = record.version.value
        return cls(
            media_item_id=record.media_item_id,
            version=record.version,
            processing_status=ProcessingStatus(item.status),
            evicted_at=record.evicted_at,
            retry_after=retry_after,
            message=(
                f"the {version} depth map was evicted after going unread and is being made again; "
                f"retry in {retry_after} s"
            ),
        )

    @classmethod
    def missing_tier(cls, item: MediaItem, version: VersionType, retry_after: int) -> NotReady:
        return cls(
            media_item_id=item.media_item_id,
            version=version,
            processing_status=ProcessingStatus(item.status),
            retry_after=retry_after,
            message=(
                f"the {version.value} depth map was not made for this item yet and is being made now; "
                f"retry in {retry_after} s"
            ),
        )

    @classmethod
    def being_made(cls, derivative: Derivative, retry_after: int) -> NotReady:
        return cls(
            media_item_id=derivative.media_item_id,
            version=derivative.version,
            derivative=derivative.name,
            retry_after=retry_after,
            message=(
                f"the {derivative.version.value} {derivative.name} is being made; retry in {retry_after} s"
            ),
        )


class MediaUrls(CamelCaseAnswer):
    """GET /api/media/{id}/urls 200: short-lived presigned URLs of what a viewer loads for one version,
    for `<img src>` and texture loaders, which cannot send the API key."""

    media_item_id: str
    version: VersionType
    processing_status: ProcessingStatus
    expires_in: int
    """seconds each URL stays valid"""
    photo: str | None
    """the upright photo as JPEG, the depth map's size; null while it is being made"""
    depth: dict[DepthFormat, str | None]
    """the depth map per format; null until the map is made"""
    stereo: dict[StereoLayout, str | None]
    """the stereo pair per layout at the default divergence and convergence; null until made"""
    pending: list[str]
    """what is still being made (ask again after `retryAfter`)"""
    retry_after: int | None
