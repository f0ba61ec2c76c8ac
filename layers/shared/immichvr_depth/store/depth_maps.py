"""Depth-map files and their records: written file first, record last, each exactly once.

A regeneration writes the new file under the next generation's key, moves the record to it with one
conditional write, and only then deletes the file it replaced: a reader finds the old map or the new
one, never a record naming a file not yet written. Every record write is checked, in the same
transaction, against the media item still being there and not `deleting`, so a processor that
finishes after a delete began leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import AppError, NotFound
from immichvr_depth.platform.instants import instant_text
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import objects
from immichvr_depth.store.conditions import condition_failed, transaction_condition_failed
from immichvr_depth.store.keys import map_derivatives_prefix
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem, utcnow
from immichvr_depth.store.versions import VersionType

PNG = "image/png"

# The facts about a map that every answer made from it carries, by the API header that carries them
# and the S3 metadata key that carries them on every file the API serves from the map (the map
# itself and each derivative made from it). S3 answers metadata only as `x-amz-meta-<key>` headers
# (metadata_header): a client that a redirect sends to S3 reads X-Model-Name as
# x-amz-meta-model-name. The bucket's CORS rule exposes those names to browsers as the API's CORS
# exposes its own headers (template.yaml, MediaBucket; tests/unit/deployment/test_binary_media_types.py
# holds the rule to this mapping).
FACT_METADATA: Final[Mapping[str, str]] = MappingProxyType(
    {
        "X-Depth-Map-Version": "depth-map-version",
        "X-Model-Name": "model-name",
        "X-Model-Version": "model-version",
        "X-Generated-At": "generated-at",
    }
)
S3_METADATA_HEADER_PREFIX: Final = "x-amz-meta-"


class ItemGone(NotFound):
    """The media item was deleted, or is being deleted, while one of its maps was being stored."""

    code = "item_gone"


class Evicted(AppError):
    """The map's file was evicted; its record stays, marked, until a read regenerates it."""

    code = "evicted"

    def __init__(self, record: DepthMapRecord) -> None:
        super().__init__(f"the {record.version.value} depth map of {record.media_item_id} was evicted")
        self.record = record


@dataclass(frozen=True)
class DepthMapFile:
    """What the processor made for one version, before it is stored."""

    media_item_id: str
    version: VersionType
    key: str
    body: bytes
    width: int
    height: int
    sha256: str
    model_name: str
    model_version: str
    input_size: int
    generation: int = 0


def find(media_item_id: str, version: VersionType) -> DepthMapRecord | None:
    try:
        return DepthMapRecord.get(media_item_id, version.value, consistent_read=True)
    except DoesNotExist:
        return None


def all_for(media_item_id: str) -> list[DepthMapRecord]:
    records = DepthMapRecord.query(media_item_id, consistent_read=True)
    order = {version: index for index, version in enumerate(VersionType)}
    return sorted(records, key=lambda record: order[record.version])


def generation_is(generation: int) -> Condition:
    """The record is at `generation`; a record without the attribute is at generation 0."""
    condition = DepthMapRecord.generation == generation
    if generation == 0:
        condition = condition | DepthMapRecord.generation.does_not_exist()
    return condition


def metadata_header(header: str) -> str:
    """The header S3 answers a fact with: `x-amz-meta-model-name` for X-Model-Name."""
    return S3_METADATA_HEADER_PREFIX + FACT_METADATA[header]


def _facts(
    version: VersionType, model_name: str, model_version: str, generated_at: datetime
) -> dict[str, str]:
    """A map's facts as S3 metadata, each under its FACT_METADATA key."""
    by_header = {
        "X-Depth-Map-Version": version.value,
        "X-Model-Name": model_name,
        "X-Model-Version": model_version,
        "X-Generated-At": instant_text(generated_at),
    }
    return {FACT_METADATA[header]: value for header, value in by_header.items()}


def fact_metadata(record: DepthMapRecord) -> dict[str, str]:
    """The S3 metadata of a file served from the stored map `record`: its facts, as its answers'
    headers carry them."""
    return _facts(record.version, record.model_name, record.model_version, record.generated_at)


def _metadata(made: DepthMapFile) -> dict[str, str]:
    # The facts of the record travel with the file, so a record lost to a crash between the two
    # writes can be rebuilt from the file alone; the ones the API answers with also reach a client
    # that a redirect sends to the file.
    return _facts(made.version, made.model_name, made.model_version, utcnow()) | {
        "sha256": made.sha256,
        "width": str(made.width),
        "height": str(made.height),
        "input-size": str(made.input_size),
        "generation": str(made.generation),
    }


def _put_file_once(made: DepthMapFile) -> bool:
    """Store the PNG unless a file is already there; True when this call wrote it."""
    try:
        aws.s3().put_object(
            Bucket=get_settings().media_bucket,
            Key=made.key,
            Body=made.body,
            ContentType=PNG,
            Metadata=_metadata(made),
            IfNoneMatch="*",
        )
    except ClientError as error:
        if aws.precondition_failed(error):
            return False
        raise
    return True


def delete_file(key: str) -> None:
    """Remove a map's file; removing one already gone is not an error (S3 deletes are idempotent)."""
    aws.s3().delete_object(Bucket=get_settings().media_bucket, Key=key)


def _record_from_stored_file(media_item_id: str, version: VersionType, key: str) -> DepthMapRecord:
    head = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=key)
    meta = head["Metadata"]
    return DepthMapRecord(
        media_item_id,
        version.value,
        file_path=key,
        file_size=head["ContentLength"],
        format="png",
        width=int(meta["width"]),
        height=int(meta["height"]),
        model_name=meta["model-name"],
        model_version=meta["model-version"],
        processing_params={"input_size": int(meta["input-size"]), "model": meta["model-name"]},
        checksum=meta["sha256"],
        generated_at=datetime.fromisoformat(meta["generated-at"]),
        access_count=0,
        generation=int(meta.get("generation", "0")),
    )


class _RecordConflict(Exception):
    """The record was not in the state the write expected: another writer got there first."""


def _write_while_item_exists(media_item_id: str, write: Callable[[TransactWrite], None]) -> None:
    """One transaction: the record write, and the check that the item is there, not `deleting` nor
    deleted."""
    item_alive = MediaItem.media_item_id.exists() & ~MediaItem.status.is_in(
        ProcessingStatus.DELETING.value, ProcessingStatus.DELETED.value
    )
    try:
        with TransactWrite(connection=DepthMapRecord._get_connection().connection) as transaction:
            transaction.condition_check(MediaItem, media_item_id, condition=item_alive)
            write(transaction)
    except TransactWriteError as error:
        if transaction_condition_failed(error, 0):
            raise ItemGone(f"media item {media_item_id} was deleted", mediaItemId=media_item_id) from None
        if transaction_condition_failed(error, 1):
            raise _RecordConflict from None
        raise


def store(made: DepthMapFile) -> DepthMapRecord:
    """Store the file, then its record, so that no record ever points at a missing file.

    A repeated or concurrent delivery finds the file or the record already there and converges
    on the first one written: one file, one record. Raises ItemGone (after removing the file) when
    the item was deleted meanwhile."""
    _put_file_once(made)
    record = _record_from_stored_file(made.media_item_id, made.version, made.key)
    try:
        _write_while_item_exists(
            made.media_item_id,
            lambda transaction: transaction.save(
                record, condition=DepthMapRecord.media_item_id.does_not_exist()
            ),
        )
    except ItemGone:
        delete_file(made.key)
        raise
    except _RecordConflict:
        existing = find(made.media_item_id, made.version)
        if existing is None:  # pragma: no cover - deleted between the two calls
            raise
        return existing
    return record


def replace(made: DepthMapFile, replacing: int) -> DepthMapRecord:
    """Replace generation `replacing` of the version by `made` (generation `replacing + 1`).

    The new file is written first under its own key; the record moves to it in one write that holds
    only while the record is still at `replacing`; the replaced file and its derivatives are deleted
    last. A delivery that finds the record already moved returns it untouched: concurrent or
    repeated deliveries of one request write one file (the key is the same) and one new generation."""
    current = find(made.media_item_id, made.version)
    if current is None:
        return store(made)
    if current.generation != replacing:
        return current
    _put_file_once(made)
    new = _record_from_stored_file(made.media_item_id, made.version, made.key)
    actions: list[Action] = [
        DepthMapRecord.file_path.set(new.file_path),
        DepthMapRecord.file_size.set(new.file_size),
        DepthMapRecord.width.set(new.width),
        DepthMapRecord.height.set(new.height),
        DepthMapRecord.model_name.set(new.model_name),
        DepthMapRecord.model_version.set(new.model_version),
        DepthMapRecord.processing_params.set(new.processing_params),
        DepthMapRecord.checksum.set(new.checksum),
        DepthMapRecord.generated_at.set(new.generated_at),
        DepthMapRecord.generation.set(new.generation),
        DepthMapRecord.evicted_at.remove(),
    ]
    target = DepthMapRecord(made.media_item_id, made.version.value)
    try:
        _write_while_item_exists(
            made.media_item_id,
            lambda transaction: transaction.update(
                target, actions, condition=DepthMapRecord.media_item_id.exists() & generation_is(replacing)
            ),
        )
    except ItemGone:
        delete_file(made.key)
        raise
    except _RecordConflict:
        # Another delivery of the same request moved it (to this very file) and deletes the old one.
        moved = find(made.media_item_id, made.version)
        return moved if moved is not None else current
    if current.file_path != made.key:
        delete_file(current.file_path)
    objects.delete_under(map_derivatives_prefix(made.media_item_id, made.version, replacing))
    moved = find(made.media_item_id, made.version)
    return moved if moved is not None else new


def record_access(media_item_id: str, version: VersionType) -> DepthMapRecord:
    """Count a download atomically (an update expression, no read-modify-write) and return the record
    as it now is. A map evicted meanwhile raises Evicted: the eviction and the read are ordered by
    this write, so a map read before the eviction's own conditional write is never evicted."""
    record = DepthMapRecord(media_item_id, version.value)
    try:
        record.update(
            actions=[DepthMapRecord.access_count.add(1), DepthMapRecord.accessed_at.set(utcnow())],
            condition=DepthMapRecord.media_item_id.exists() & DepthMapRecord.evicted_at.does_not_exist(),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise
        existing = find(media_item_id, version)
        if existing is not None and existing.evicted_at is not None:
            raise Evicted(existing) from None
        raise NotFound(f"no {version.value} depth map for media item {media_item_id}") from None
    return record


def mark_evicted(record: DepthMapRecord, idle_since: datetime) -> bool:
    """Mark the record evicted if it is still the map that was found idle: same generation, not read
    and not made since `idle_since`, not already evicted. True when this call marked it."""
    condition = (
        DepthMapRecord.media_item_id.exists()
        & generation_is(int(record.generation))
        & DepthMapRecord.evicted_at.does_not_exist()
        & (DepthMapRecord.generated_at < idle_since)
        & (DepthMapRecord.accessed_at.does_not_exist() | (DepthMapRecord.accessed_at < idle_since))
    )
    try:
        record.update(actions=[DepthMapRecord.evicted_at.set(utcnow())], condition=condition)
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True


def etag(record: DepthMapRecord) -> str:
    return f'"{record.checksum}"'
