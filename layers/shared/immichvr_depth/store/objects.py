"""Removing stored files by key prefix: an item's files when it is deleted, a map's derivatives when
the map is replaced or evicted."""

from __future__ import annotations

from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings

_DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes


def delete_under(prefix: str) -> int:
    """Delete every file whose key starts with `prefix`; returns how many were deleted."""
    s3 = aws.s3()
    bucket = get_settings().media_bucket
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [entry["Key"] for entry in page.get("Contents", [])]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            result = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            if result.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(result['Errors'])} files: {result['Errors']}")
            deleted += len(batch)
    return deleted
