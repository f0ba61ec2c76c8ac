"""Serving what a viewer loads of one version of an item: the depth map (16-bit, or 8-bit for
browsers), the photo, the stereo pairs, or short-lived URLs of them all.

A map-derived answer of an evicted map queues the map to be made again and is answered 202, as is a
derivative still being made; reading the map, its 8-bit form or a stereo pair, or asking for their
URLs, counts as a use of the map, so eviction spares it."""

from __future__ import annotations

from collections.abc import Callable

from immichvr_depth.imaging import DEFAULT_CONVERGENCE, DEFAULT_DIVERGENCE, StereoLayout, StereoParams
from immichvr_depth.platform.errors import NotFound
from immichvr_depth.platform.http import already_held
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.serving import derivatives, regeneration
from immichvr_depth.serving.derivatives import DepthFormat, MapChanged, StillMaking
from immichvr_depth.serving.file_responses import MediaUrls, NotReady
from immichvr_depth.serving.files import (
    FileAnswer,
    FileMoved,
    StoredFile,
    deliver,
    presigned_url,
)
from immichvr_depth.serving.responses import depth_headers
from immichvr_depth.store import depth_maps, media_items, versions
from immichvr_depth.store.depth_maps import Evicted
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType

PNG = "image/png"
JPEG = "image/jpeg"
# A regeneration deletes the file it replaced right after moving the record: a reader that read the
# record just before finds the file gone and reads the record again.
_READ_ATTEMPTS = 3


def _regenerating(record: DepthMapRecord) -> FileAnswer:
    item = regeneration.regenerate_evicted(record)
    retry_after = get_settings().regenerate_retry_after_s
    return FileAnswer(
        headers={"Retry-After": str(retry_after)},
        accepted=NotReady.evicted(record, item, retry_after),
    )


def _making_tier(item: MediaItem, version: VersionType) -> FileAnswer:
    retry_after = get_settings().regenerate_retry_after_s
    return FileAnswer(
        headers={"Retry-After": str(retry_after)},
        accepted=NotReady.missing_tier(item, version, retry_after),
    )


def served(media_item_id: str, version: VersionType) -> VersionType:
    """The tier that answers for `version` of the item: InvalidRequest for a tier this deployment
    does not make; a small photo's preview is its full-resolution map."""
    versions.require_enabled(version)
    if version is not VersionType.PREVIEW:
        return version
    return versions.served_by(version, media_items.long_side(media_items.get_item(media_item_id)))


def _in_progress(making: StillMaking) -> FileAnswer:
    retry_after = get_settings().regenerate_retry_after_s
    return FileAnswer(
        headers={"Retry-After": str(retry_after)},
        accepted=NotReady.being_made(making.derivative, retry_after),
    )


def _used_map(media_item_id: str, version: VersionType, count: bool = True) -> DepthMapRecord | FileAnswer:
    """The version's map, its read counted (once per request: not again when a retry reads the map
    that replaced it); the 202 answer when it was evicted. The item is read only to say why a map is
    missing."""
    record = depth_maps.find(media_item_id, version)
    if record is None:
        item = media_items.get_item(media_item_id)
        if regeneration.make_missing(item, version):
            return _making_tier(item, version)
        derivatives.current_map(item, version)
        raise NotFound(f"the {version.value} depth map of media item {media_item_id} is gone")
    if record.evicted_at is not None:
        return _regenerating(record)
    if not count:
        return record
    try:
        return depth_maps.record_access(media_item_id, version)
    except Evicted as evicted:
        return _regenerating(evicted.record)


def _with_retries(answer: Callable[[bool], FileAnswer], what: str) -> FileAnswer:
    """`answer(first)`, again while the file it found moves away (a regeneration or an eviction
    replaced it meanwhile); `first` is False on the retries."""
    for attempt in range(_READ_ATTEMPTS):
        try:
            return answer(attempt == 0)
        except (FileMoved, MapChanged):
            continue
        except StillMaking as making:
            return _in_progress(making)
    raise NotFound(f"{what} keeps moving; retry")


def depth_map(
    media_item_id: str, version: VersionType, fmt: DepthFormat, accept: str | None, if_none_match: str | None
) -> FileAnswer:
    version = served(media_item_id, version)

    def answer(first: bool) -> FileAnswer:
        if fmt is DepthFormat.PNG16 and if_none_match:
            # A client revalidating the map it holds needs no count and no read of the file.
            held = depth_maps.find(media_item_id, version)
            if held and held.evicted_at is None and already_held(if_none_match, depth_maps.etag(held)):
                return deliver(_map_file(held), accept, if_none_match)
        used = _used_map(media_item_id, version, count=first)
        if isinstance(used, FileAnswer):
            return used
        if fmt is DepthFormat.PNG16:
            return deliver(_map_file(used), accept, if_none_match)
        made = derivatives.png8(used)
        stored = StoredFile(made.key, PNG, made.size, made.etag, depth_headers(used))
        return deliver(stored, accept, if_none_match)

    return _with_retries(answer, f"the {version.value} depth map of media item {media_item_id}")


def _map_file(record: DepthMapRecord) -> StoredFile:
    return StoredFile(
        record.file_path, PNG, int(record.file_size), depth_maps.etag(record), depth_headers(record)
    )


def photo(
    media_item_id: str, version: VersionType, accept: str | None, if_none_match: str | None
) -> FileAnswer:
    version = served(media_item_id, version)

    def answer(_first: bool) -> FileAnswer:
        item = media_items.get_item(media_item_id)
        made = derivatives.photo(item, version)
        return deliver(StoredFile(made.key, JPEG, made.size, made.etag), accept, if_none_match)

    return _with_retries(answer, f"the {version.value} photo of media item {media_item_id}")


def stereo(
    media_item_id: str,
    version: VersionType,
    params: StereoParams,
    accept: str | None,
    if_none_match: str | None,
) -> FileAnswer:
    version = served(media_item_id, version)

    def answer(first: bool) -> FileAnswer:
        used = _used_map(media_item_id, version, count=first)
        if isinstance(used, FileAnswer):
            return used
        item = media_items.get_item(media_item_id)
        made = derivatives.stereo(item, used, params)
        stored = StoredFile(
            made.key,
            JPEG,
            made.size,
            made.etag,
            depth_headers(used),
            download_name=derivatives.stereo_download_name(item, params.layout),
        )
        return deliver(stored, accept, if_none_match)

    return _with_retries(answer, f"the {version.value} stereo pair of media item {media_item_id}")


def urls(media_item_id: str, version: VersionType) -> MediaUrls:
    """Presigned URLs of everything a viewer loads for the version, making what is missing; what is
    too large to make now is queued and named in `pending`, and what needs a map not made yet is
    null."""
    version = served(media_item_id, version)
    item = media_items.get_item(media_item_id)
    pending: list[str] = []
    photo_url: str | None = None
    try:
        photo_url = presigned_url(_stored_jpeg(derivatives.photo(item, version)))
    except StillMaking as making:
        pending.append(making.derivative.name)
    record = depth_maps.find(media_item_id, version)
    if record is not None and record.evicted_at is None:
        try:
            record = depth_maps.record_access(media_item_id, version)  # a viewer is about to load it
        except Evicted as evicted:
            record = evicted.record
    if record is not None and record.evicted_at is not None:
        regeneration.regenerate_evicted(record)
        pending.append(version.value)
        record = None
    elif record is None and regeneration.make_missing(item, version):
        pending.append(version.value)
    depth: dict[DepthFormat, str | None] = dict.fromkeys(DepthFormat)
    stereo_urls: dict[StereoLayout, str | None] = dict.fromkeys(StereoLayout)
    if record is not None:
        try:
            _map_urls(item, record, depth, stereo_urls, pending)
        except MapChanged:
            pending.append(version.value)  # replaced or evicted just now: ask again
    settings = get_settings()
    return MediaUrls(
        media_item_id=media_item_id,
        version=version,
        processing_status=ProcessingStatus(item.status),
        expires_in=settings.presigned_url_ttl_s,
        photo=photo_url,
        depth=depth,
        stereo=stereo_urls,
        pending=pending,
        retry_after=settings.regenerate_retry_after_s if pending else None,
    )


def _stored_jpeg(made: derivatives.Stored) -> StoredFile:
    return StoredFile(made.key, JPEG, made.size, made.etag)


def _map_urls(
    item: MediaItem,
    record: DepthMapRecord,
    depth: dict[DepthFormat, str | None],
    stereo_urls: dict[StereoLayout, str | None],
    pending: list[str],
) -> None:
    """Fill in the URLs of the files made from the map: its formats and stereo pairs."""
    depth[DepthFormat.PNG16] = presigned_url(_map_file(record))
    try:
        png8 = derivatives.png8(record)
        depth[DepthFormat.PNG8] = presigned_url(StoredFile(png8.key, PNG, png8.size, png8.etag))
    except StillMaking as making:
        pending.append(making.derivative.name)
    for layout in StereoLayout:
        params = StereoParams.of(layout, DEFAULT_DIVERGENCE, DEFAULT_CONVERGENCE)
        try:
            made = derivatives.stereo(item, record, params)
        except StillMaking as making:
            pending.append(making.derivative.name)
            continue
        stereo_urls[layout] = presigned_url(
            StoredFile(
                made.key,
                JPEG,
                made.size,
                made.etag,
                download_name=derivatives.stereo_download_name(item, layout),
            )
        )
