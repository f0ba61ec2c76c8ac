"""Derivatives: what viewers need beside the 16-bit map, made once from the stored photo and map.

A version's browser photo, its 8-bit map and its stereo pairs are each made on their first request
(or right after the map, for the kinds a deployment lists in PREMADE_DERIVATIVES), stored under
`derivatives/` and served from there afterwards.

- Made once: whoever finds a derivative missing takes a lease (an S3 object created only if absent)
  and makes it; concurrent requests wait for the file instead of making it again.
- Kept true: the map's derivatives live under a prefix of the map's generation, so a regenerated map
  never serves the old generation's; replacing, evicting or deleting a map removes its prefix, and
  a derivative that lost a race with one of those (its map changed while it was being made) is
  removed by its maker rather than left behind.
- Within API Gateway's 29 s: a stereo pair of a photo larger than DERIVATIVE_INLINE_MAX_MEGAPIXELS
  is made by the processor from a queued job, and its request is answered 202 with Retry-After, as
  an evicted map is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from immichvr_depth.imaging import (
    DEFAULT_CONVERGENCE,
    DEFAULT_DIVERGENCE,
    StereoLayout,
    StereoParams,
    browser_photo,
    depth_png8,
    probe,
    render_stereo,
    stereo_filename,
)
from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidRequest, NotFound
from immichvr_depth.platform.observability import logger
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items, versions
from immichvr_depth.store.depth_maps import fact_metadata
from immichvr_depth.store.keys import map_derivative_key, photo_derivative_key, safe_stem
from immichvr_depth.store.processing_queue import enqueue_derivative
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType

if TYPE_CHECKING:  # type stubs only: the layer does not ship them
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

JPEG: Final = "image/jpeg"
PNG: Final = "image/png"
# A browser photo that needs no conversion is recorded as an empty object naming the stored source.
_SERVED_FROM: Final = "served-from"
_LEASE_SUFFIX: Final = ".making"
_QUEUED_SUFFIX: Final = ".queued"
# Longer than any maker may run (the processor's 120 s timeout): an older lease was left by a
# maker that died, and the next request takes over.
_LEASE_STALE_S: Final = 180
# A queued job older than this was lost (its message went to the dead-letter queue): queue it again.
_QUEUED_STALE_S: Final = 900
_POLL_S: Final = 0.25
# How long an API request waits for another request's maker before answering 202.
_API_WAIT_S: Final = 20.0
_JOB_WAIT_S: Final = 100.0


class DepthFormat(StrEnum):
    PNG16 = "png16"
    """the stored map: 16-bit greyscale, near bright"""
    PNG8 = "png8"
    """the same map in 8 bits, which browsers (WebGL, three.js) read directly"""


class DerivativeKind(StrEnum):
    PHOTO = "photo"
    PNG8 = "png8"
    STEREO = "stereo"


@dataclass(frozen=True)
class Derivative:
    """One derivative of one version of an item: the kind, and for stereo pairs their parameters."""

    media_item_id: str
    version: VersionType
    kind: DerivativeKind
    stereo: StereoParams | None = None

    @property
    def name(self) -> str:
        """The name clients see in answers and deployments list in PREMADE_DERIVATIVES."""
        return f"stereo-{self.stereo.layout.value}" if self.stereo else self.kind.value

    def to_job(self) -> dict[str, Any]:
        job: dict[str, Any] = {"version": self.version.value, "kind": self.kind.value}
        if self.stereo:
            job |= {
                "layout": self.stereo.layout.value,
                "divergence": self.stereo.divergence,
                "convergence": self.stereo.convergence,
            }
        return job

    @classmethod
    def from_job(cls, media_item_id: str, job: dict[str, Any]) -> Derivative:
        try:
            kind = DerivativeKind(job["kind"])
            stereo = (
                StereoParams.of(
                    StereoLayout(job["layout"]), float(job["divergence"]), float(job["convergence"])
                )
                if kind is DerivativeKind.STEREO
                else None
            )
            return cls(media_item_id, VersionType(job["version"]), kind, stereo)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidRequest(f"not a derivative job: {error}") from error


def premade(names: Iterable[str]) -> list[Callable[[str, VersionType], Derivative]]:
    """The derivatives PREMADE_DERIVATIVES names (photo, png8, stereo-<layout>), for any item and
    version; stereo pairs at the default divergence and convergence."""
    layouts = {f"stereo-{layout.value}": layout for layout in StereoLayout}
    makers: list[Callable[[str, VersionType], Derivative]] = []
    for name in names:
        if name in layouts:
            params = StereoParams.of(layouts[name], DEFAULT_DIVERGENCE, DEFAULT_CONVERGENCE)
            makers.append(partial(_derivative, kind=DerivativeKind.STEREO, stereo=params))
        elif name in {DerivativeKind.PHOTO.value, DerivativeKind.PNG8.value}:
            makers.append(partial(_derivative, kind=DerivativeKind(name), stereo=None))
        else:
            raise ValueError(f"PREMADE_DERIVATIVES names an unknown derivative {name!r}")
    return makers


def _derivative(
    media_item_id: str, version: VersionType, *, kind: DerivativeKind, stereo: StereoParams | None
) -> Derivative:
    return Derivative(media_item_id, version, kind, stereo)


class StillMaking(Exception):
    """The derivative is being made elsewhere (another request, or the processor from a job)."""

    def __init__(self, derivative: Derivative) -> None:
        super().__init__(derivative.name)
        self.derivative = derivative


@dataclass(frozen=True)
class Made:
    body: bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """A derivative as stored: its key, size, ETag and metadata (from S3's HEAD)."""

    key: str
    content_type: str
    size: int
    etag: str
    metadata: dict[str, str]


# ---------------------------------------------------------------- S3 primitives


def _bucket() -> str:
    return get_settings().media_bucket


def _head_object(key: str) -> HeadObjectOutputTypeDef | None:
    try:
        return aws.s3().head_object(Bucket=_bucket(), Key=key)
    except ClientError as error:
        if aws.missing_object(error):
            return None
        raise


def _head(key: str) -> Stored | None:
    head = _head_object(key)
    if head is None:
        return None
    return Stored(key, head.get("ContentType", ""), head["ContentLength"], head["ETag"], head["Metadata"])


def _create_once(key: str, body: bytes, content_type: str, metadata: dict[str, str]) -> bool:
    """Write `key` unless it exists; True when this call wrote it."""
    try:
        aws.s3().put_object(
            Bucket=_bucket(), Key=key, Body=body, ContentType=content_type, Metadata=metadata, IfNoneMatch="*"
        )
    except ClientError as error:
        if aws.precondition_failed(error):
            return False
        raise
    return True


def _age_s(key: str) -> float | None:
    head = _head_object(key)
    return None if head is None else (datetime.now(UTC) - head["LastModified"]).total_seconds()


def _take_marker(key: str, stale_after_s: float) -> bool:
    """Create the marker `key` (a lease or a queued job), taking over one older than `stale_after_s`."""
    if _create_once(key, b"", "application/octet-stream", {}):
        return True
    age = _age_s(key)
    if age is not None and age < stale_after_s:
        return False
    aws.s3().delete_object(Bucket=_bucket(), Key=key)
    return _create_once(key, b"", "application/octet-stream", {})


def _read(key: str) -> bytes:
    body: bytes = aws.s3().get_object(Bucket=_bucket(), Key=key)["Body"].read()
    return body


def _unless_deleted_meanwhile(derivative: Derivative, key: str) -> None:
    """A derivative written after its item's delete removed the item's files would outlive it: its
    maker removes it again and answers as for any deleted item."""
    item = media_items.find_item(derivative.media_item_id)
    if item is not None and item.status != ProcessingStatus.DELETING.value:
        return
    aws.s3().delete_object(Bucket=_bucket(), Key=key)
    raise NotFound(f"media item {derivative.media_item_id} not found", mediaItemId=derivative.media_item_id)


def _obtain(key: str, make: Callable[[], Made], derivative: Derivative, wait_s: float) -> Stored:
    """The stored derivative at `key`, made by this call if nobody else is making it. StillMaking
    when another maker holds the lease past `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        stored = _head(key)
        if stored is not None:
            return stored
        lease = key + _LEASE_SUFFIX
        if _take_marker(lease, _LEASE_STALE_S):
            try:
                stored = _head(key)  # made by a holder that left just now
                if stored is None:
                    started = time.perf_counter()
                    made = make()
                    _create_once(key, made.body, made.content_type, made.metadata)
                    logger.info(
                        "derivative made",
                        derivative=derivative.name,
                        version=derivative.version.value,
                        key=key,
                        bytes=len(made.body),
                        ms=round((time.perf_counter() - started) * 1000),
                    )
                    _unless_deleted_meanwhile(derivative, key)
                    stored = _head(key)
            finally:
                aws.s3().delete_object(Bucket=_bucket(), Key=lease)
            if stored is not None:
                return stored
            continue
        if time.monotonic() >= deadline:
            raise StillMaking(derivative)
        time.sleep(_POLL_S)


# ---------------------------------------------------------------- what each derivative is made from


def _source_key(item: MediaItem, version: VersionType) -> str:
    key = media_items.source_key(item, version)
    if not key:
        raise NotFound(
            f"media item {item.media_item_id} has no stored photo for the {version.value} version",
            mediaItemId=item.media_item_id,
            version=version.value,
            processingStatus=item.status,
        )
    return key


def current_map(item: MediaItem, version: VersionType) -> DepthMapRecord:
    """The version's depth map record; NotFound (with the item's status) while it is not made."""
    record = depth_maps.find(item.media_item_id, version)
    if record is None:
        raise NotFound(
            f"the {version.value} depth map of media item {item.media_item_id} is not made yet",
            mediaItemId=item.media_item_id,
            version=version.value,
            processingStatus=item.status,
            lastError=item.last_error,
        )
    return record


def _preview_size(item: MediaItem) -> tuple[int, int] | None:
    """The size the preview's photo is made at: its map's when made (so a photo never mismatches the
    map it is paired with, whatever PreviewLongSide became since), else the size the map will have."""
    record = depth_maps.find(item.media_item_id, VersionType.PREVIEW)
    if record is not None:
        return int(record.width), int(record.height)
    if item.width is None or item.height is None:
        return None
    return versions.map_size(VersionType.PREVIEW, (int(item.width), int(item.height)))


def photo(item: MediaItem, version: VersionType, wait_s: float = _API_WAIT_S) -> Stored:
    """The version's photo as a browser shows it, at its map's size: the stored source itself when it
    is already an upright JPEG of that size, else its conversion."""
    source = _source_key(item, version)
    derivative = Derivative(item.media_item_id, version, DerivativeKind.PHOTO)
    target = _preview_size(item) if version is VersionType.PREVIEW else None

    def make() -> Made:
        data = _read(source)
        size = target
        if version is VersionType.PREVIEW and size is None:
            facts = probe(data)
            size = versions.map_size(version, (facts.oriented_width, facts.oriented_height))
        converted = browser_photo(data, size)
        made_size = {"width": str(converted.width), "height": str(converted.height)}
        if converted.body is None:
            return Made(b"", JPEG, made_size | {_SERVED_FROM: source})
        return Made(converted.body, JPEG, made_size)

    key = photo_derivative_key(item.media_item_id, version, max(target) if target else None)
    stored = _obtain(key, make, derivative, wait_s)
    if _SERVED_FROM not in stored.metadata:
        return stored
    original = _head(stored.metadata[_SERVED_FROM])
    if original is None:
        raise NotFound(f"the {version.value} photo of media item {item.media_item_id} is gone")
    return Stored(original.key, JPEG, original.size, original.etag, stored.metadata)


class MapChanged(Exception):
    """The map was replaced, evicted or removed while its derivative was being made."""


def _of_current_map(record: DepthMapRecord, stored: Stored) -> Stored:
    """`stored` if the map it was made from is still the current one; else it is removed."""
    now = depth_maps.find(record.media_item_id, record.version)
    if now is not None and now.generation == record.generation and now.evicted_at is None:
        return stored
    aws.s3().delete_object(Bucket=_bucket(), Key=stored.key)
    raise MapChanged(stored.key)


def png8(record: DepthMapRecord, wait_s: float = _API_WAIT_S) -> Stored:
    derivative = Derivative(record.media_item_id, record.version, DerivativeKind.PNG8)
    key = map_derivative_key(record.media_item_id, record.version, int(record.generation), "depth8.png")

    def make() -> Made:
        return Made(depth_png8(_read(record.file_path)), PNG, fact_metadata(record))

    return _of_current_map(record, _obtain(key, make, derivative, wait_s))


def stereo_download_name(item: MediaItem, layout: StereoLayout) -> str:
    return stereo_filename(safe_stem(item.filename), layout)


def _too_large_for_a_request(record: DepthMapRecord) -> bool:
    megapixels = int(record.width) * int(record.height) / 1e6
    return megapixels > get_settings().derivative_inline_max_megapixels


def _queue_job(derivative: Derivative, key: str) -> None:
    """Queue the processor to make the derivative, once however many requests ask meanwhile."""
    if _take_marker(key + _QUEUED_SUFFIX, _QUEUED_STALE_S):
        enqueue_derivative(derivative.media_item_id, derivative.to_job())
        logger.info("derivative queued for the processor", derivative=derivative.name, key=key)


def stereo(
    item: MediaItem, record: DepthMapRecord, params: StereoParams, *, in_request: bool = True
) -> Stored:
    """The stereo pair of the version in `params.layout`. In a request, a pair too large to make
    within API Gateway's limit is queued for the processor and StillMaking raised."""
    derivative = Derivative(item.media_item_id, record.version, DerivativeKind.STEREO, params)
    key = map_derivative_key(
        item.media_item_id, record.version, int(record.generation), f"stereo-{params.token()}.jpg"
    )
    if in_request and _too_large_for_a_request(record):
        stored = _head(key)
        if stored is None:
            _queue_job(derivative, key)
            raise StillMaking(derivative)
        return _of_current_map(record, stored)

    wait_s = _API_WAIT_S if in_request else _JOB_WAIT_S

    def make() -> Made:
        photo_bytes = _read(photo(item, record.version, wait_s).key)
        body = render_stereo(photo_bytes, _read(record.file_path), params)
        return Made(body, JPEG, fact_metadata(record))

    return _of_current_map(record, _obtain(key, make, derivative, wait_s))


def make(derivative: Derivative) -> Stored:
    """Make a derivative outside a request (a queued job or a premade kind), waiting as long as
    a job may for another maker."""
    item = media_items.get_item(derivative.media_item_id)
    if derivative.kind is DerivativeKind.PHOTO:
        return photo(item, derivative.version, wait_s=_JOB_WAIT_S)
    record = current_map(item, derivative.version)
    if derivative.kind is DerivativeKind.PNG8:
        return png8(record, wait_s=_JOB_WAIT_S)
    assert derivative.stereo is not None
    return stereo(item, record, derivative.stereo, in_request=False)


def make_queued(media_item_id: str, job: dict[str, Any]) -> None:
    """The processor's side of a queued job: make the derivative, then clear the job's marker. A job
    whose item or map went meanwhile (deleted, evicted, not made) is dropped: nothing asks for it."""
    derivative = Derivative.from_job(media_item_id, job)
    try:
        stored = make(derivative)
    except (NotFound, MapChanged) as gone:
        logger.info("derivative job dropped", derivative=derivative.name, reason=str(gone))
        return
    aws.s3().delete_object(Bucket=_bucket(), Key=stored.key + _QUEUED_SUFFIX)


def premake(media_item_id: str, versions: Iterable[VersionType]) -> None:
    """Make the derivatives the deployment lists, for each version just made. A failure is logged and
    left for the first request to retry: the map itself is stored and served either way."""
    try:
        makers = premade(get_settings().premade_derivatives)
    except ValueError:
        logger.exception("PREMADE_DERIVATIVES is not a list of derivatives; none premade")
        return
    for version in versions:
        for new in makers:
            derivative = new(media_item_id, version)
            try:
                make(derivative)
            except Exception:
                logger.exception(
                    "premaking a derivative failed", derivative=derivative.name, version=version.value
                )
