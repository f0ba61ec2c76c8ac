"""The S3 key scheme. Each prefix belongs to one writer so no event handler can trigger itself."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePosixPath

from immichvr_depth.store.versions import VersionType

UPLOADS_PREFIX = "uploads/"
ORIGINALS_PREFIX = "originals/"
THUMBNAILS_PREFIX = "thumbnails/"
DEPTH_MAPS_PREFIX = "depth-maps/"
# What the API makes from a version's photo and map for viewers (browser photos, 8-bit maps, stereo
# pairs), written and removed by the serving flow and by whatever replaces or deletes the map.
DERIVATIVES_PREFIX = "derivatives/"
# Asynchronous inference: the processor writes inputs, the endpoint writes outputs and failures, the
# completion function deletes each once its map is stored. None of them is under uploads/, the only
# prefix that triggers a function.
ASYNC_INFERENCE_PREFIX = "async-inference/"
ASYNC_INPUT_PREFIX = f"{ASYNC_INFERENCE_PREFIX}input/"
ASYNC_OUTPUT_PREFIX = f"{ASYNC_INFERENCE_PREFIX}output/"
ASYNC_FAILURES_PREFIX = f"{ASYNC_INFERENCE_PREFIX}failures/"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

_EXTENSION_BY_MIME = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "image/jxl": ".jxl",
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


def depth_map_key(media_item_id: str, filename: str, version: VersionType, generation: int = 0) -> str:
    """Generation 0 is the first map made (its key has no generation suffix); each regeneration writes
    the next generation under a key of its own, so the map it replaces stays readable until then."""
    stem = {
        VersionType.THUMBNAIL: "_thumb_depth",
        VersionType.PREVIEW: "_preview_depth",
        VersionType.FULL_RESOLUTION: "_depth",
    }[version]
    suffix = f"{stem}.png" if generation == 0 else f"{stem}_g{generation}.png"
    return f"{DEPTH_MAPS_PREFIX}{media_item_id}/{safe_stem(filename)}_{media_item_id}{suffix}"


def item_prefixes(media_item_id: str) -> list[str]:
    """Every key prefix under which files of the item may be stored, whoever wrote them."""
    return [
        f"{prefix}{media_item_id}/"
        for prefix in (
            UPLOADS_PREFIX,
            ORIGINALS_PREFIX,
            THUMBNAILS_PREFIX,
            DEPTH_MAPS_PREFIX,
            DERIVATIVES_PREFIX,
        )
    ]


def photo_derivative_key(media_item_id: str, version: VersionType, long_side: int | None = None) -> str:
    """The version's photo as a browser shows it; it depends on the stored source alone, and for a
    tier scaled to `long_side` (the preview) on that size too: a photo made for a map of one size is
    never served beside a map of another."""
    name = "photo.jpg" if long_side is None else f"photo-{long_side}.jpg"
    return f"{DERIVATIVES_PREFIX}{media_item_id}/{version.value}/{name}"


def map_derivatives_prefix(media_item_id: str, version: VersionType, generation: int) -> str:
    """Where the derivatives of one generation of a version's depth map live: removing the prefix
    removes them all when that generation is replaced or evicted."""
    return f"{DERIVATIVES_PREFIX}{media_item_id}/{version.value}/g{generation}/"


def map_derivative_key(media_item_id: str, version: VersionType, generation: int, name: str) -> str:
    return f"{map_derivatives_prefix(media_item_id, version, generation)}{name}"


def async_input_key(media_item_id: str, version: VersionType, token: str) -> str:
    """Where one submission's model input waits for the endpoint; `token` makes each submission's
    key its own, so a resubmission never overwrites an input the endpoint has yet to read."""
    return f"{ASYNC_INPUT_PREFIX}{media_item_id}/{version.value}-{token}"


def media_item_id_from_upload_key(key: str) -> str | None:
    """The media item id an upload key carries, or None for a key outside the scheme."""
    parts = PurePosixPath(key).parts
    if len(parts) != 3 or f"{parts[0]}/" != UPLOADS_PREFIX:
        return None
    try:
        return str(uuid.UUID(parts[1]))
    except ValueError:
        return None
