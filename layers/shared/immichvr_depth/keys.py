"""The S3 key scheme. Each prefix belongs to one writer so no event handler can trigger itself."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePosixPath

from immichvr_depth.versions import VersionType

UPLOADS_PREFIX = "uploads/"
ORIGINALS_PREFIX = "originals/"
THUMBNAILS_PREFIX = "thumbnails/"
DEPTH_MAPS_PREFIX = "depth-maps/"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

_EXTENSION_BY_MIME = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
}


def safe_stem(filename: str) -> str:
    """A file name's stem reduced to characters that need no escaping in a URL or a shell."""
    stem = _UNSAFE.sub("_", PurePosixPath(filename).stem).strip("._")
    return stem[:100] or "image"


def extension_for(mime_type: str, filename: str = "") -> str:
    return _EXTENSION_BY_MIME.get(mime_type.lower(), PurePosixPath(filename).suffix.lower() or ".bin")


def original_key(media_item_id: str, filename: str, mime_type: str) -> str:
    return f"{ORIGINALS_PREFIX}{media_item_id}/{safe_stem(filename)}{extension_for(mime_type, filename)}"


def thumbnail_key(media_item_id: str, filename: str, mime_type: str) -> str:
    return (
        f"{THUMBNAILS_PREFIX}{media_item_id}/{safe_stem(filename)}_thumb{extension_for(mime_type, filename)}"
    )


def upload_key(media_item_id: str, filename: str, mime_type: str) -> str:
    return f"{UPLOADS_PREFIX}{media_item_id}/{safe_stem(filename)}{extension_for(mime_type, filename)}"


def depth_map_key(media_item_id: str, filename: str, version: VersionType) -> str:
    suffix = "_thumb_depth.png" if version is VersionType.THUMBNAIL else "_depth.png"
    return f"{DEPTH_MAPS_PREFIX}{media_item_id}/{safe_stem(filename)}_{media_item_id}{suffix}"


def media_item_id_from_upload_key(key: str) -> str | None:
    """The media item id an upload key carries, or None for a key outside the scheme."""
    parts = PurePosixPath(key).parts
    if len(parts) != 3 or f"{parts[0]}/" != UPLOADS_PREFIX:
        return None
    try:
        return str(uuid.UUID(parts[1]))
    except ValueError:
        return None
