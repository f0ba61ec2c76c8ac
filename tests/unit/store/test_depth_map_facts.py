"""A stored depth map's file carries, as its S3 metadata, the facts the API answers with as headers
(X-Depth-Map-Version, X-Model-Name, X-Model-Version, X-Generated-At), with the same text, so that a
client a redirect sends to S3 reads them there (as x-amz-meta-* headers)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.serving.responses import depth_headers
from immichvr_depth.store import depth_maps
from immichvr_depth.store.depth_maps import FACT_METADATA, DepthMapFile, fact_metadata
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType
from tests.support.images import depth_png16

pytestmark = pytest.mark.usefixtures("aws")

ITEM_ID = str(uuid.uuid4())


def an_item() -> None:
    MediaItem(
        ITEM_ID, source_type="upload", filename="beach.jpg", mime_type="image/jpeg", status="processing"
    ).save()


def made(version: VersionType) -> DepthMapFile:
    return DepthMapFile(
        media_item_id=ITEM_ID,
        version=version,
        key=f"depth-maps/{ITEM_ID}/beach_{ITEM_ID}_{version.value}.png",
        body=depth_png16(64, 48),
        width=64,
        height=48,
        sha256="ab" * 32,
        model_name="depth-anything-v2",
        model_version="small",
        input_size=518,
    )


def stored_metadata(record: DepthMapRecord) -> dict[str, str]:
    head = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=record.file_path)
    metadata: dict[str, str] = head["Metadata"]
    return metadata


@pytest.mark.parametrize("version", list(VersionType))
def test_the_stored_file_carries_each_fact_as_the_api_answers_it(version: VersionType) -> None:
    an_item()

    record = depth_maps.store(made(version))

    metadata = stored_metadata(record)
    answered = depth_headers(record)
    assert {header: metadata[key] for header, key in FACT_METADATA.items()} == answered
    assert answered["X-Depth-Map-Version"] == version.value
    assert answered["X-Generated-At"].endswith("Z")
    # What files made from the map (its derivatives) are stored with: the same facts.
    assert fact_metadata(record) == {key: answered[header] for header, key in FACT_METADATA.items()}


def test_the_record_rebuilt_from_the_file_keeps_what_the_record_needs() -> None:
    an_item()

    record = depth_maps.store(made(VersionType.FULL_RESOLUTION))

    metadata = stored_metadata(record)
    assert {"sha256", "width", "height", "input-size", "generation"} <= set(metadata)
    assert (record.model_name, record.model_version, record.width) == ("depth-anything-v2", "small", 64)


def test_a_file_stored_before_the_version_was_a_fact_still_makes_its_record() -> None:
    """A crash between file and record leaves a file for the next delivery to rebuild the record
    from; one written before depth-map-version and the `Z` form were in its metadata still does."""
    an_item()
    earlier = made(VersionType.THUMBNAIL)
    old_metadata: dict[str, Any] = {
        "sha256": earlier.sha256,
        "width": "64",
        "height": "48",
        "model-name": "depth-anything-v2",
        "model-version": "small",
        "input-size": "518",
        "generation": "0",
        "generated-at": "2026-01-02T03:04:05.678901+00:00",
    }
    aws.s3().put_object(
        Bucket=get_settings().media_bucket,
        Key=earlier.key,
        Body=earlier.body,
        ContentType="image/png",
        Metadata=old_metadata,
    )

    record = depth_maps.store(earlier)

    assert depth_headers(record)["X-Generated-At"] == "2026-01-02T03:04:05.678901Z"
    assert record.version is VersionType.THUMBNAIL
