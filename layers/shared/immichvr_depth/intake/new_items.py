"""Writing a new media item all or nothing: files stored under a pending claim are removed again,
with the claim, if the writer fails before the item is queued."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from immichvr_depth.platform import aws
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_depth.store.tables import MediaItem


class StoredFiles:
    """S3 objects written on behalf of one pending item."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def put(self, key: str, body: IO[bytes], content_type: str, metadata: dict[str, str]) -> None:
        extra: dict[str, Any] = {"ContentType": content_type, "Metadata": metadata}
        aws.s3().upload_fileobj(body, get_settings().media_bucket, key, ExtraArgs=extra)
        self.keys.append(key)

    def remove_all(self) -> None:
        bucket = get_settings().media_bucket
        for key in self.keys:
            aws.s3().delete_object(Bucket=bucket, Key=key)


@contextmanager
def rolled_back_on_failure(item: MediaItem) -> Iterator[StoredFiles]:
    files = StoredFiles()
    try:
        yield files
    except BaseException:
        logger.warning("writing the item failed; removing what was written", files=files.keys)
        files.remove_all()
        media_items.delete_pending(item)
        raise
