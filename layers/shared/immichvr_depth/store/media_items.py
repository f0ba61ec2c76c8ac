"""Reading and changing media items, with every status change made as a conditional update."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pynamodb.constants import DATETIME_FORMAT
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from immichvr_depth.platform.errors import Conflict, InvalidRequest, NotFound
from immichvr_depth.store.conditions import condition_failed
from immichvr_depth.store.status import ProcessingStatus, sources_of
from immichvr_depth.store.tables import LISTING_PARTITION, MediaItem, utcnow
from immichvr_depth.store.versions import VersionType

MAX_PAGE_SIZE = 100


class StatusConflict(Conflict):
    """The item was not in a status from which the requested change is allowed."""

    code = "status_conflict"


def _not_found(media_item_id: str) -> NotFound:
    return NotFound(f"media item {media_item_id} not found", mediaItemId=media_item_id)


_DELETED = ProcessingStatus.DELETED.value
# The item's record is there and is not a tombstone.
_LIVE = MediaItem.media_item_id.exists() & (MediaItem.status != _DELETED)


def get_item(media_item_id: str) -> MediaItem:
    """The item; NotFound when there is none or it was deleted (a tombstone)."""
    item = find_item(media_item_id)
    if item is None:
        raise _not_found(media_item_id)
    return item


def source_key(item: MediaItem, version: VersionType) -> str | None:
    """The stored photo a version is made from, and shown as: the thumbnail for the thumbnail
    version, the original for the preview and full resolution; None while it is not stored (or has
    no thumbnail)."""
    return item.thumbnail_path if version is VersionType.THUMBNAIL else item.original_path


def long_side(item: MediaItem) -> int | None:
    """The upright photo's long side in pixels; None while its size is not known."""
    if item.width is None or item.height is None:
        return None
    return int(max(item.width, item.height))


def reload(item: MediaItem) -> None:
    """Read `item` again as stored; NotFound when it was deleted meanwhile."""
    try:
        item.refresh(consistent_read=True)
    except DoesNotExist:
        raise _not_found(item.media_item_id) from None
    if item.status == _DELETED:
        raise _not_found(item.media_item_id)


def find_item(media_item_id: str) -> MediaItem | None:
    """The item, or None when there is none or it was deleted (a tombstone)."""
    item = _stored(media_item_id)
    return None if item is None or item.status == _DELETED else item


def is_deleted(media_item_id: str) -> bool:
    """The item was deleted here: its tombstone is stored."""
    item = _stored(media_item_id)
    return item is not None and item.status == _DELETED


def _stored(media_item_id: str) -> MediaItem | None:
    try:
        return MediaItem.get(media_item_id, consistent_read=True)
    except DoesNotExist:
        return None


class Claim(StrEnum):
    CLAIMED = "claimed"  # the item is new (or taken over) and `pending`: the caller writes it
    HELD = "held"  # another writer holds it, or it is already written
    DELETED = "deleted"  # it was deleted here and the caller may not make it again


def claim(item: MediaItem, *, stale_after: timedelta, lift_deletion: bool = False) -> Claim:
    """Create `item` in `pending` unless it exists; a pending claim older than `stale_after` was
    abandoned by a crashed writer and may be taken over, and with `lift_deletion` a tombstone is
    replaced. Says whether the caller now holds the claim, or why not."""
    abandoned_before = utcnow() - stale_after
    condition = MediaItem.media_item_id.does_not_exist() | (
        (MediaItem.status == ProcessingStatus.PENDING.value) & (MediaItem.updated_at < abandoned_before)
    )
    if lift_deletion:
        condition = condition | (MediaItem.status == _DELETED)
    item.status = ProcessingStatus.PENDING.value
    item.created_at = item.updated_at = utcnow()
    try:
        item.save(condition=condition)
    except PutError as error:
        if not condition_failed(error):
            raise
        return Claim.DELETED if is_deleted(item.media_item_id) else Claim.HELD
    return Claim.CLAIMED


# Everything a tombstone drops: its files, what they were, where it was in the work and the listing.
_DROPPED_BY_DELETE = (
    MediaItem.original_path,
    MediaItem.thumbnail_path,
    MediaItem.thumbnail_mime_type,
    MediaItem.file_size,
    MediaItem.thumbnail_size,
    MediaItem.width,
    MediaItem.height,
    MediaItem.checksum,
    MediaItem.thumbnail_params,
    MediaItem.attempts,
    MediaItem.last_error,
    MediaItem.queue_message_id,
    MediaItem.pending_versions,
    MediaItem.listing_partition,
)


def leave_tombstone(item: MediaItem) -> None:
    """Turn a `deleting` item into its tombstone, in one write: what names it stays (source, file
    name, Immich asset, upload ETag), everything else goes, the listing index included. A concurrent
    delete that got there first changes nothing."""
    try:
        item.update(
            actions=[
                MediaItem.status.set(_DELETED),
                MediaItem.updated_at.set(utcnow()),
                *(attribute.remove() for attribute in _DROPPED_BY_DELETE),
            ],
            condition=MediaItem.status == ProcessingStatus.DELETING.value,
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise


def update(item: MediaItem, *actions: Action) -> None:
    """Change attributes of an item that still exists: an update of a deleted item must not bring a
    partial one back (DynamoDB's UpdateItem would create it) nor write onto its tombstone."""
    try:
        item.update(
            actions=[*actions, MediaItem.updated_at.set(utcnow())],
            condition=_LIVE,
        )
    except UpdateError as error:
        if condition_failed(error):
            raise NotFound(
                f"media item {item.media_item_id} was deleted meanwhile", mediaItemId=item.media_item_id
            ) from None
        raise


def transition(
    item: MediaItem,
    target: ProcessingStatus,
    *actions: Action,
    error: str | None = None,
    count_attempt: bool = False,
    only_from: Collection[ProcessingStatus] | None = None,
) -> None:
    """Move `item` to `target` if its stored status allows it, recording the error (or clearing it).
    `only_from` narrows the statuses it may leave (a subset of those the transitions allow).

    Refused: StatusConflict naming the status the item is in (`deleting` among them), or NotFound
    when the item was deleted meanwhile; either way `item` holds what is stored, if anything."""
    changes: list[Action] = [
        MediaItem.status.set(target.value),
        MediaItem.updated_at.set(utcnow()),
        MediaItem.last_error.set(error) if error else MediaItem.last_error.remove(),
        *actions,
    ]
    if count_attempt:
        changes.append(MediaItem.attempts.add(1))
    try:
        sources = [s for s in sources_of(target) if only_from is None or s in only_from]
        item.update(actions=changes, condition=MediaItem.status.is_in(*[s.value for s in sources]))
    except UpdateError as failure:
        if condition_failed(failure):
            reload(item)
            raise StatusConflict(
                f"media item {item.media_item_id} is {item.status}; cannot become {target.value}",
                status=item.status,
            ) from None
        raise


def delete_pending(item: MediaItem) -> None:
    """Remove a claim that never got all its files (a rolled-back import or upload)."""
    try:
        item.delete(condition=MediaItem.status == ProcessingStatus.PENDING.value)
    except DeleteError as error:
        if not condition_failed(error):
            raise


@dataclass(frozen=True)
class Page:
    items: list[MediaItem]
    next_cursor: str | None


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


_FOREIGN_CURSOR = "cursor is not one this API handed out"


def _decode_cursor(cursor: str) -> dict[str, Any]:
    """The listing position a cursor of ours holds. A cursor we did not issue (another shape, other
    keys, other types, another partition) is a 400, never a query DynamoDB would refuse."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, RecursionError):
        raise InvalidRequest(_FOREIGN_CURSOR) from None
    if not isinstance(key, dict) or set(key) != {"media_item_id", "listing_partition", "created_at"}:
        raise InvalidRequest(_FOREIGN_CURSOR)
    values = [key[name] for name in ("media_item_id", "listing_partition", "created_at")]
    if not all(
        isinstance(value, dict) and list(value) == ["S"] and isinstance(value["S"], str) for value in values
    ):
        raise InvalidRequest(_FOREIGN_CURSOR)
    media_item_id, partition, created_at = (value["S"] for value in values)
    try:
        uuid.UUID(media_item_id)
        datetime.strptime(created_at, DATETIME_FORMAT)
    except ValueError:
        raise InvalidRequest(_FOREIGN_CURSOR) from None
    if partition != LISTING_PARTITION:
        raise InvalidRequest(_FOREIGN_CURSOR)
    return key


def list_items(limit: int, cursor: str | None) -> Page:
    """Media items, newest first, a page at a time."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    result = MediaItem.listing_index.query(
        LISTING_PARTITION,
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=_decode_cursor(cursor) if cursor else None,
    )
    items = list(result)
    return Page(items=items, next_cursor=_encode_cursor(result.last_evaluated_key))
