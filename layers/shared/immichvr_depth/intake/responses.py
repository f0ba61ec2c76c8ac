"""The intake flow's JSON answers, one model per body: Immich imports (one photo, an album), the Immich
library with our import status, Immich's workflow webhook and the upload ticket. Every key is
camelCase; timestamps are ISO 8601 UTC text ending in `Z`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from immichvr_depth.platform.http import CamelCaseAnswer, LeftOutWhenNone
from immichvr_depth.platform.instants import Timestamp
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.versions import VersionType

if TYPE_CHECKING:
    # Only named in annotations: the media API builds the upload ticket's answer, and its cold start
    # need not pay for the Immich import's modules.
    from immichvr_depth.intake.immich_import import ImportResult
    from immichvr_depth.intake.library import LibraryEntry, LibraryPage
    from immichvr_depth.intake.sync import AlbumImport
    from immichvr_depth.intake.upload_tickets import UploadTicket
    from immichvr_depth.intake.webhook import WebhookResult


class AssetImported(CamelCaseAnswer):
    """POST /api/immich/import/{assetId}: 202 when the photo was imported and queued for depth, 200
    (`alreadyImported`) when an earlier import made its media item."""

    success: Literal[True] = True
    media_item_id: str
    queue_id: str | None
    """the processing queue's message id; null when this import queued nothing"""
    asset_id: str
    """the Immich asset"""
    filename: str
    thumbnail_size: int | None
    """the stored preview's size in bytes; null when Immich had none"""
    full_res_size: int | None
    """the stored original's size in bytes"""
    status: ProcessingStatus
    message: str
    already_imported: bool

    @classmethod
    def of(cls, result: ImportResult, asset_id: str) -> AssetImported:
        item = result.item
        return cls(
            media_item_id=item.media_item_id,
            queue_id=result.queue_id,
            asset_id=asset_id,
            filename=item.filename,
            thumbnail_size=None if item.thumbnail_size is None else int(item.thumbnail_size),
            full_res_size=None if item.file_size is None else int(item.file_size),
            status=ProcessingStatus(item.status),
            message=(
                "asset was already imported"
                if result.already_imported
                else "asset imported and queued for depth processing"
            ),
            already_imported=result.already_imported,
        )


class ImmichLibraryAsset(CamelCaseAnswer):
    """One image of the Immich library and what was imported of it, an entry of GET /api/immich/assets."""

    asset_id: str
    """the Immich asset, as POST /api/immich/import/{assetId} takes it"""
    filename: str
    """the original's file name in Immich"""
    taken_at: Timestamp | None
    """when the photo was taken (Immich's fileCreatedAt); null when Immich's value is unreadable"""
    width: int | None
    """as shown, EXIF orientation applied; null where Immich's search does not say: always on Immich
    1.x, on 2.x and 3.x until Immich has read the photo's metadata"""
    height: int | None
    """as shown; null with the width"""
    media_item_id: str | None
    """the media item imported from it; null when never imported, or deleted here"""
    processing_status: ProcessingStatus | None
    """the media item's status; `deleted` when it was deleted here (only an explicit import brings it
    back); null when never imported"""
    depth_versions: list[VersionType]
    """the versions whose depth map is made (an evicted one included: a download makes it again),
    thumbnail first"""

    @classmethod
    def of(cls, entry: LibraryEntry) -> ImmichLibraryAsset:
        asset = entry.asset
        return cls(
            asset_id=asset.id,
            filename=asset.original_file_name,
            taken_at=asset.taken_at,
            width=asset.width,
            height=asset.height,
            media_item_id=entry.media_item_id,
            processing_status=entry.status,
            depth_versions=entry.depth_versions,
        )


class ImmichLibraryPage(CamelCaseAnswer):
    """GET /api/immich/assets 200: a page of the Immich library's images, newest first."""

    assets: list[ImmichLibraryAsset]
    next_cursor: str | None
    """the `cursor` of the next page; null on the last"""

    @classmethod
    def of(cls, page: LibraryPage) -> ImmichLibraryPage:
        return cls(
            assets=[ImmichLibraryAsset.of(entry) for entry in page.entries], next_cursor=page.next_cursor
        )


class AlbumImportQueued(CamelCaseAnswer):
    """POST /api/immich/import/album/{albumId} 202: one import queued per image of the album."""

    success: Literal[True] = True
    album_id: str
    album_name: str
    queued: int
    """how many imports were queued"""
    message: str

    @classmethod
    def of(cls, result: AlbumImport) -> AlbumImportQueued:
        return cls(
            album_id=result.album.id,
            album_name=result.album.name,
            queued=result.queued,
            message=f"{result.queued} photo(s) of the album queued for import",
        )


class WebhookAnswer(CamelCaseAnswer):
    """POST /api/immich/webhook: 202 when the asset's import is queued, 200 when the payload is
    acknowledged and ignored (another trigger or workflow type, not an image, in the trash)."""

    success: Literal[True] = True
    queued: bool
    ignored: bool
    """the opposite of `queued`"""
    message: str
    """`import queued`, or why the payload was ignored"""
    asset_id: LeftOutWhenNone[str] = None
    """the asset the payload names; absent when it names none"""
    message_id: LeftOutWhenNone[str] = None
    """the import queue's message id; only when queued"""

    @classmethod
    def of(cls, result: WebhookResult) -> WebhookAnswer:
        return cls(
            queued=result.queued,
            ignored=not result.queued,
            message=result.reason,
            asset_id=result.asset_id or None,
            message_id=result.message_id or None,
        )


class PresignedPost(CamelCaseAnswer):
    """How to send the photo: a multipart/form-data POST to `url` with every one of `fields`, the file
    last."""

    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]


class UploadTicketIssued(CamelCaseAnswer):
    """POST /api/media/uploads 201: a presigned POST that S3 accepts only for this key, type and size."""

    media_item_id: str
    """the media item the upload becomes"""
    upload: PresignedPost
    key: str
    """the S3 key the photo is stored under"""
    expires_in: int
    """seconds the ticket is valid for"""
    max_bytes: int
    """the most bytes S3 accepts (the size asked for)"""

    @classmethod
    def of(cls, ticket: UploadTicket) -> UploadTicketIssued:
        return cls(
            media_item_id=ticket.media_item_id,
            upload=PresignedPost(url=ticket.url, fields=ticket.fields),
            key=ticket.key,
            expires_in=ticket.expires_in,
            max_bytes=ticket.max_bytes,
        )
