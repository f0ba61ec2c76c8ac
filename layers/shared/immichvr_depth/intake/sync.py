"""Finding Immich photos to import in bulk: new ones since the last scheduled sync, or a whole album.

Both only queue (one import message per asset); the import worker imports each with `import_asset`,
so an asset found twice (by the webhook, an overlapping sync, an album) is still one media item.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from immichvr_depth.intake.immich import ImmichAlbum, ImmichClient
from immichvr_depth.intake.import_queue import ImportSource, enqueue_imports
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.settings import Settings
from immichvr_depth.store.conditions import condition_failed
from immichvr_depth.store.tables import ImmichSyncState, utcnow

SYNC_ID = "immich-metadata-sync"
# Each run looks this far before the previous run's start: clock skew between Immich and AWS, and
# assets whose update was being written while the previous run searched.
CURSOR_OVERLAP = timedelta(minutes=2)


@dataclass(frozen=True)
class SyncResult:
    since: datetime
    cursor: datetime
    found: int
    queued: int
    cursor_moved: bool


@dataclass(frozen=True)
class AlbumImport:
    album: ImmichAlbum
    queued: int


def read_cursor() -> datetime | None:
    try:
        return ImmichSyncState.get(SYNC_ID, consistent_read=True).cursor
    except ImmichSyncState.DoesNotExist:
        return None


def advance_cursor(cursor: datetime, queued: int) -> bool:
    """Store ``cursor`` unless a run that started later already stored its own: two overlapping runs
    can never move it backwards. Returns whether it moved."""
    state = ImmichSyncState(SYNC_ID, cursor=cursor, assets_queued=queued, updated_at=utcnow())
    try:
        state.save(condition=ImmichSyncState.cursor.does_not_exist() | (ImmichSyncState.cursor < cursor))
    except PutError as error:
        if condition_failed(error):
            logger.info("a later sync already moved the cursor", cursor=cursor.isoformat())
            return False
        raise
    return True


def _images_updated_since(client: ImmichClient, since: datetime, album_ids: tuple[str, ...]) -> Iterator[str]:
    # Immich's albumIds keeps assets in *all* the albums named; the sync wants those in any of them.
    scopes: list[tuple[str, ...]] = [(album_id,) for album_id in album_ids] or [()]
    for scope in scopes:
        for asset in client.search_assets(
            asset_type="IMAGE", visibility="timeline", updated_after=since, album_ids=scope
        ):
            yield asset.id


def run_sync(client: ImmichClient, settings: Settings, *, now: datetime | None = None) -> SyncResult:
    """Queue every image added or changed since the last run (a first run looks back one interval),
    then store this run's start as the cursor."""
    started = now or utcnow()
    previous = read_cursor()
    since = (previous or started - timedelta(minutes=settings.immich_sync_interval_minutes)) - CURSOR_OVERLAP
    asset_ids = list(dict.fromkeys(_images_updated_since(client, since, settings.immich_sync_album_ids)))
    queued = enqueue_imports(asset_ids, ImportSource.SYNC)
    moved = advance_cursor(started, queued)
    logger.info(
        "immich sync done",
        since=since.isoformat(),
        cursor=started.isoformat(),
        found=len(asset_ids),
        queued=queued,
        albums=list(settings.immich_sync_album_ids),
    )
    return SyncResult(since=since, cursor=started, found=len(asset_ids), queued=queued, cursor_moved=moved)


def queue_album_import(album_id: str, client: ImmichClient) -> AlbumImport:
    """Queue an import for every image of an album (``ImmichAlbumNotFound`` for an unknown album).
    Immich 3 lists an album's assets only through search, so every version is read that way."""
    album = client.get_album(album_id)
    asset_ids = [
        asset.id for asset in client.search_assets(asset_type="IMAGE", visibility=None, album_ids=[album.id])
    ]
    queued = enqueue_imports(asset_ids, ImportSource.ALBUM)
    logger.info("album import queued", album_id=album.id, queued=queued)
    return AlbumImport(album=album, queued=queued)
