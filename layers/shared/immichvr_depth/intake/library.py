"""The Immich library as a viewer browses it: Immich's images, newest first, a page at a time, each
with what we hold of it (its media item, that item's status and the depth versions it has), so the
person can pick what to import.

Immich's metadata search pages by number: page `n` of size `s` is the `s` assets after the first
`(n - 1) * s`. A photo uploaded while someone pages (a phone's backup runs at any time) would push
every later page down by one and show an asset twice; so every page of one walk asks only for assets
that reached Immich before the walk began, and the cursor carries that instant with the page and its
size. A photo trashed mid-walk still pulls later pages up by one: offsets cannot avoid that.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from immichvr_depth.intake.immich import ImmichAsset, ImmichClient
from immichvr_depth.intake.immich.client import MAX_SEARCH_PAGE, MAX_SEARCH_PAGE_SIZE
from immichvr_depth.intake.immich_import import media_item_id_for_asset
from immichvr_depth.platform.errors import InvalidRequest, echoed
from immichvr_depth.platform.observability import logger
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem, utcnow
from immichvr_depth.store.versions import VersionType

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = MAX_SEARCH_PAGE_SIZE
# What the listing shows: the images of Immich's timeline, as the scheduled sync imports them (not
# archived, hidden or locked; trashed ones Immich leaves out by itself).
ASSET_TYPE = "IMAGE"
VISIBILITY = "timeline"

# `<page>.<size>.<walk start, epoch ms>`, each a plain decimal without leading zeros: a cursor we did
# not write is refused before it reaches Immich, which would answer its own 400 (our 502).
_CURSOR = re.compile(r"([1-9][0-9]{0,15})\.([1-9][0-9]{0,3})\.([1-9][0-9]{0,12})")
_FOREIGN_CURSOR = "is not one this API handed out"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Position:
    """Where a page of one walk through the library starts."""

    page: int
    size: int
    listed_before: datetime
    """the walk's start: assets that reached Immich later are left to the next walk"""

    def cursor(self) -> str:
        return f"{self.page}.{self.size}.{_epoch_ms(self.listed_before)}"


# Integer arithmetic both ways: a float timestamp times 1000 can land a millisecond short.
def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MILLISECOND


def _at_epoch_ms(milliseconds: int) -> datetime:
    return _EPOCH + milliseconds * _MILLISECOND


def position(size: int | None, cursor: str | None, *, now: datetime | None = None) -> Position:
    """The page a request asks for: the first of a new walk, or the one its cursor names. A cursor
    keeps the size it was made with (the offsets depend on it): `size` may repeat it or be left out.
    InvalidRequest for a cursor we did not hand out, or a size that contradicts it."""
    if size is not None and not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"size must be between 1 and {MAX_PAGE_SIZE}, got {size}")
    if not cursor:
        # Whole milliseconds, as the cursor carries it: every page of the walk sends the same instant.
        start = _at_epoch_ms(_epoch_ms(now or utcnow()))
        return Position(1, size or DEFAULT_PAGE_SIZE, start)
    found = _CURSOR.fullmatch(cursor)
    if found is None:
        raise InvalidRequest(f"cursor {echoed(cursor)} {_FOREIGN_CURSOR}")
    page, cursor_size, started_ms = (int(part) for part in found.groups())
    if page > MAX_SEARCH_PAGE or cursor_size > MAX_PAGE_SIZE:
        raise InvalidRequest(f"cursor {echoed(cursor)} {_FOREIGN_CURSOR}")
    if size is not None and size != cursor_size:
        raise InvalidRequest(
            f"size {size} differs from the size {cursor_size} the cursor was made for; "
            "leave size out to go on with the cursor's"
        )
    return Position(page, cursor_size, _at_epoch_ms(started_ms))


@dataclass(frozen=True)
class LibraryEntry:
    """One Immich image and what we hold of it."""

    asset: ImmichAsset
    media_item_id: str | None
    """the media item made of it; None when never imported, or deleted here"""
    status: ProcessingStatus | None
    """the item's status (`deleted` for a tombstone); None when never imported"""
    depth_versions: list[VersionType]
    """the versions that have a depth map record (an evicted map included: a read makes it again)"""


@dataclass(frozen=True)
class LibraryPage:
    entries: list[LibraryEntry]
    next_cursor: str | None


def list_page(client: ImmichClient, at: Position) -> LibraryPage:
    """One page of the library's images, newest first (by when taken), with our side of each."""
    found = client.search_page(
        at.page,
        asset_type=ASSET_TYPE,
        visibility=VISIBILITY,
        created_before=at.listed_before,
        order="desc",
        page_size=at.size,
    )
    entries = _with_our_side(found.assets)
    logger.info(
        "immich library page listed",
        page=at.page,
        size=at.size,
        found=len(entries),
        imported=sum(entry.media_item_id is not None for entry in entries),
    )
    next_cursor = None if found.next_page is None else replace(at, page=found.next_page).cursor()
    return LibraryPage(entries=entries, next_cursor=next_cursor)


def _with_our_side(assets: Sequence[ImmichAsset]) -> list[LibraryEntry]:
    """Each asset with its media item and depth versions, read in batches (BatchGetItem, 100 keys a
    request: a page of 1000 costs at most 10 for the items and 20 for their maps), never one query
    per asset: an import derives the item's id from the asset's. An item recorded under another id
    (the import still looks for such through the asset index; nothing here writes one) reads as not
    imported. Strongly consistent, as every read of items is: an asset imported a moment ago is
    listed as imported."""
    item_ids = {asset.id: media_item_id_for_asset(asset.id) for asset in assets}
    items = {
        item.media_item_id: item for item in MediaItem.batch_get(set(item_ids.values()), consistent_read=True)
    }
    live = [item_id for item_id, item in items.items() if item.status != ProcessingStatus.DELETED.value]
    versions: defaultdict[str, set[VersionType]] = defaultdict(set)
    keys = [(item_id, version.value) for item_id in live for version in VersionType]
    for record in DepthMapRecord.batch_get(keys, consistent_read=True):
        versions[record.media_item_id].add(record.version)
    return [_entry(asset, items.get(item_ids[asset.id]), versions) for asset in assets]


def _entry(
    asset: ImmichAsset, item: MediaItem | None, versions: Mapping[str, set[VersionType]]
) -> LibraryEntry:
    if item is None:
        return LibraryEntry(asset, media_item_id=None, status=None, depth_versions=[])
    status = ProcessingStatus(item.status)
    if status is ProcessingStatus.DELETED:
        # A tombstone's id names nothing any route answers (404 everywhere): the asset reads as not
        # imported, and `deleted` says that only an explicit import brings it back.
        return LibraryEntry(asset, media_item_id=None, status=status, depth_versions=[])
    made = versions.get(item.media_item_id, set())
    return LibraryEntry(
        asset,
        media_item_id=item.media_item_id,
        status=status,
        # In the order they are made, thumbnail first.
        depth_versions=[version for version in VersionType if version in made],
    )
