"""Importing an Immich asset: metadata, preview and original into S3, one media item, one queue message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from pynamodb.expressions.update import Action

from immichvr_depth.imaging import probe
from immichvr_depth.intake import new_items
from immichvr_depth.intake.immich import Download, ImmichAsset, ImmichClient
from immichvr_depth.platform.errors import Conflict, InvalidImage, Unprocessable
from immichvr_depth.platform.observability import logger
from immichvr_depth.store import media_items
from immichvr_depth.store.keys import original_key, thumbnail_key
from immichvr_depth.store.status import SourceType
from immichvr_depth.store.tables import MediaItem

# Longer than the import function's timeout: a claim this old belongs to a writer that died.
ABANDONED_CLAIM_AGE = timedelta(minutes=5)
_IMMICH_NAMESPACE = uuid.UUID("9a3c3f4e-5d0b-4c55-9f43-7f0a4b1f2e61")


def media_item_id_for_asset(asset_id: str) -> str:
    """One Immich asset always maps to the same media item, which makes the import claim a plain
    conditional write: two concurrent imports cannot both create it."""
    return str(uuid.uuid5(_IMMICH_NAMESPACE, f"immich-asset:{asset_id}"))


@dataclass(frozen=True)
class ImportResult:
    item: MediaItem
    already_imported: bool
    queue_id: str | None


def _refuse_unusable(asset: ImmichAsset) -> None:
    if asset.type != "IMAGE":
        raise Unprocessable(
            f"asset {asset.id} is a {asset.type.lower()}, not an image; only images get depth maps",
            assetType=asset.type,
        )
    if asset.is_trashed:
        raise Conflict(f"asset {asset.id} is in the trash; restore it in Immich first", reason="trashed")
    if asset.is_offline:
        raise Conflict(
            f"asset {asset.id} is offline (its file is missing from the external library)", reason="offline"
        )


def _existing_import(asset_id: str) -> MediaItem | None:
    item = media_items.find_item(media_item_id_for_asset(asset_id))
    if item is not None:
        return item
    # Items recorded under another id scheme are still found through the asset index.
    for match in MediaItem.immich_asset_index.query(asset_id):
        found = media_items.find_item(match.media_item_id)
        if found is not None:
            return found
    return None


class AssetDeletedHere(Conflict):
    """The asset's media item was deleted here; only an explicit import makes it again."""

    code = "deleted_here"


def import_asset(asset_id: str, client: ImmichClient, *, lift_deletion: bool) -> ImportResult:
    """Import the asset, or return its existing media item. An asset whose item was deleted here is
    imported again only with `lift_deletion` (a person asking for it); otherwise AssetDeletedHere."""
    if not lift_deletion and media_items.is_deleted(media_item_id_for_asset(asset_id)):
        raise AssetDeletedHere(
            f"asset {asset_id} was deleted here; import it explicitly to bring it back",
            assetId=asset_id,
            reason="deleted_here",
        )
    existing = _existing_import(asset_id)
    if existing is not None:
        return ImportResult(existing, already_imported=True, queue_id=existing.queue_message_id)

    asset = client.get_asset(asset_id)
    _refuse_unusable(asset)
    item = MediaItem(
        media_item_id_for_asset(asset_id),
        source_type=SourceType.IMMICH.value,
        immich_asset_id=asset_id,
        filename=asset.original_file_name,
        mime_type=asset.original_mime_type,
        width=asset.width,
        height=asset.height,
    )
    claimed = new_items.claim(item, stale_after=ABANDONED_CLAIM_AGE, lift_deletion=lift_deletion)
    if claimed is media_items.Claim.DELETED:
        raise AssetDeletedHere(
            f"asset {asset_id} was deleted here meanwhile", assetId=asset_id, reason="deleted_here"
        )
    if claimed is media_items.Claim.HELD:
        return ImportResult(media_items.get_item(item.media_item_id), already_imported=True, queue_id=None)

    with new_items.writing(item) as files:
        with client.download_thumbnail(asset_id) as preview:
            preview_key = thumbnail_key(item.media_item_id, asset.original_file_name, preview.content_type)
            _store(files, preview_key, preview)
            preview_size = preview.size
            preview_type = preview.content_type
        with client.download_original(asset_id) as original:
            width, height = _oriented_size(original, asset)
            stored_original = original_key(
                item.media_item_id, asset.original_file_name, original.content_type
            )
            _store(files, stored_original, original)
            original_size, checksum = original.size, original.sha256
        queue_id = files.queue_for_depth(
            MediaItem.thumbnail_path.set(preview_key),
            MediaItem.thumbnail_mime_type.set(preview_type),
            MediaItem.thumbnail_size.set(preview_size),
            MediaItem.original_path.set(stored_original),
            MediaItem.file_size.set(original_size),
            MediaItem.checksum.set(checksum),
            *_known_size(width, height),
        )
    logger.info("asset imported", asset_id=asset_id, queue_id=queue_id)
    return ImportResult(item, already_imported=False, queue_id=queue_id)


def _oriented_size(original: Download, asset: ImmichAsset) -> tuple[int | None, int | None]:
    """The original's size as a viewer shows it; Immich's own figures where we cannot decode it
    (a RAW file, say: its preview still gets a depth map)."""
    try:
        facts = probe(original.file)
    except InvalidImage:
        return asset.width, asset.height
    finally:
        original.file.seek(0)
    return facts.oriented_width, facts.oriented_height


def _store(files: new_items.NewItemWrite, key: str, download: Download) -> None:
    files.put(key, download.file, download.content_type, {"sha256": download.sha256})


def _known_size(width: int | None, height: int | None) -> list[Action]:
    if width is None or height is None:
        return []
    return [MediaItem.width.set(width), MediaItem.height.set(height)]
