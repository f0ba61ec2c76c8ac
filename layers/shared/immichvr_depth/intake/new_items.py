"""Writing a new media item all or nothing, the way every intake path does it: claim the item
(`pending`), store its files, record their facts, queue it for depth. Files stored under the claim
are removed again, with the claim, if the writer fails before the item is queued."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import IO, Any

from pynamodb.expressions.update import Action

from immichvr_depth.platform import aws
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_depth.store.processing_queue import enqueue_processing
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem


def claim(item: MediaItem, *, stale_after: timedelta, lift_deletion: bool = False) -> media_items.Claim:
    """Create `item` in `pending` (see media_items.claim); once claimed, every later log line of this
    invocation names it."""
    claimed = media_items.claim(item, stale_after=stale_after, lift_deletion=lift_deletion)
    if claimed is media_items.Claim.CLAIMED:
        logger.append_keys(media_item_id=item.media_item_id)
    return claimed


class NewItemWrite:
    """The files stored for one claimed item, and its place on the processing queue once it has one."""

    def __init__(self, item: MediaItem) -> None:
        self.item = item
        self.keys: list[str] = []
        self.queue_id: str | None = None

    def put(self, key: str, body: IO[bytes], content_type: str, metadata: dict[str, str]) -> None:
        extra: dict[str, Any] = {"ContentType": content_type, "Metadata": metadata}
        aws.s3().upload_fileobj(body, get_settings().media_bucket, key, ExtraArgs=extra)
        self.keys.append(key)

    def queue_for_depth(self, *facts: Action) -> str:
        """Record the stored files' facts, move the item to `queued` and put it on the processing
        queue; returns the SQS message id."""
        media_items.update(self.item, *facts)
        media_items.transition(self.item, ProcessingStatus.QUEUED)
        self.queue_id = enqueue_processing(self.item.media_item_id)
        return self.queue_id

    def copy(self, source_key: str, key: str) -> None:
        """Copy an object already in the bucket (server-side) to `key`, which the item then owns."""
        bucket = get_settings().media_bucket
        aws.s3().copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key})
        self.keys.append(key)

    def remove_files(self) -> None:
        bucket = get_settings().media_bucket
        for key in self.keys:
            aws.s3().delete_object(Bucket=bucket, Key=key)


@contextmanager
def writing(item: MediaItem) -> Iterator[NewItemWrite]:
    """Write a claimed item's files and queue it. An exception before the end removes every file
    written and the claim; once queued, the queue's message id is recorded on the item."""
    write = NewItemWrite(item)
    try:
        yield write
    except BaseException:
        logger.warning("writing the item failed; removing what was written", files=write.keys)
        write.remove_files()
        media_items.delete_pending(item)
        raise
    if write.queue_id is not None:
        media_items.update(item, MediaItem.queue_message_id.set(write.queue_id))
