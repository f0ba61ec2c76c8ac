"""Depth-map files and their records: written file first, record last, each exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from immichvr_depth import aws
from immichvr_depth.errors import NotFound
from immichvr_depth.models import DepthMap, utcnow
from immichvr_depth.settings import get_settings
from immichvr_depth.versions import VersionType

PNG = "image/png"


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


def find(media_item_id: str, version: VersionType) -> DepthMap | None:
    try:
        return DepthMap.get(media_item_id, version.value, consistent_read=True)
    except DoesNotExist:
        return None


def all_for(media_item_id: str) -> list[DepthMap]:
    records = DepthMap.query(media_item_id, consistent_read=True)
    order = {version: index for index, version in enumerate(VersionType)}
    return sorted(records, key=lambda record: order[record.version])


def _metadata(made: DepthMapFile) -> dict[str, str]:
    # The facts of the record travel with the file, so a record lost to a crash between the two
    # writes can be rebuilt from the file alone.
    return {
        "sha256": made.sha256,
        "width": str(made.width),
        "height": str(made.height),
        "model-name": made.model_name,
        "model-version": made.model_version,
        "input-size": str(made.input_size),
        "generated-at": utcnow().isoformat(),
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
        if error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "412"}:
            return False
        raise
    return True


def _record_from_stored_file(media_item_id: str, version: VersionType, key: str) -> DepthMap:
    head = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=key)
    meta = head["Metadata"]
    return DepthMap(
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
    )


def store(made: DepthMapFile) -> DepthMap:
    """Store the file, then its record, so that no record ever points at a missing file.

    A repeated or concurrent delivery finds the file or the record already there and converges
    on the first one written: one file, one record."""
    _put_file_once(made)
    record = _record_from_stored_file(made.media_item_id, made.version, made.key)
    try:
        record.save(condition=DepthMap.media_item_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        existing = find(made.media_item_id, made.version)
        if existing is None:  # pragma: no cover - deleted between the two calls
            raise
        return existing
    return record


def record_access(media_item_id: str, version: VersionType) -> DepthMap:
    """Count a download atomically (an update expression, no read-modify-write)."""
    record = DepthMap(media_item_id, version.value)
    try:
        record.update(
            actions=[DepthMap.access_count.add(1), DepthMap.accessed_at.set(utcnow())],
            condition=DepthMap.media_item_id.exists(),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound(f"no {version.value} depth map for media item {media_item_id}") from None
        raise
    return record


def etag(record: DepthMap) -> str:
    return f'"{record.checksum}"'
