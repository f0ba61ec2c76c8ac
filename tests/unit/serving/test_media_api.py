"""The media API as ImmichVR calls it: status, listing, depth maps and their metadata."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_depth.store.depth_maps import DepthMapFile, store
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import VersionType
from tests.support.depth import call
from tests.support.images import depth_png16

ITEM_ID = "0d9c8f0e-3c1b-4a53-bc4a-6f6f7f1d2e01"
MISSING_ID = "7e1d9a55-52b8-4d6f-9f61-2a0c4b3f8e10"


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def an_item(status: ProcessingStatus = ProcessingStatus.COMPLETED, item_id: str = ITEM_ID) -> MediaItem:
    item = MediaItem(item_id, source_type="immich", filename="beach.jpg", mime_type="image/jpeg")
    item.immich_asset_id = "3f2a1c6e-7d8b-4e9f-a0b1-c2d3e4f5a6b7"
    item.thumbnail_path = f"thumbnails/{item_id}/beach_thumb.jpg"
    item.status = status.value
    item.save()
    return item


def a_depth_map(version: VersionType, body_bytes: bytes | None = None) -> DepthMapRecord:
    png = body_bytes or depth_png16(64, 48)
    return store(
        DepthMapFile(
            media_item_id=ITEM_ID,
            version=version,
            key=f"depth-maps/{ITEM_ID}/beach_{ITEM_ID}_{version.value}.png",
            body=png,
            width=64,
            height=48,
            sha256="ab" * 32 if version is VersionType.THUMBNAIL else "cd" * 32,
            model_name="depth-anything-v2",
            model_version="small",
            input_size=518,
        )
    )


pytestmark = pytest.mark.usefixtures("aws")


def test_media_status_shows_the_item_and_each_versions_depth_map() -> None:
    an_item()
    thumb = a_depth_map(VersionType.THUMBNAIL)

    response = call("GET", f"/api/media/{ITEM_ID}")

    assert response["statusCode"] == 200
    view = body(response)
    assert view["media_item_id"] == ITEM_ID
    assert view["processing_status"] == "completed"
    assert view["thumbnail_depth_map_id"] == f"{ITEM_ID}:thumbnail"
    assert view["thumbnail_depth_map_path"] == thumb.file_path
    assert view["thumbnail_depth_map_generated_at"].endswith("Z")
    assert view["full_res_depth_map_id"] is None
    assert view["full_res_depth_map_path"] is None


def test_unknown_media_is_a_json_404_and_a_bad_id_a_json_400() -> None:
    missing = call("GET", f"/api/media/{MISSING_ID}")
    bad = call("GET", "/api/media/not-a-uuid")

    assert missing["statusCode"] == 404
    assert body(missing)["error"] == "not_found"
    assert bad["statusCode"] == 400
    assert "UUID" in body(bad)["message"]


def test_depth_download_defaults_to_full_resolution_with_its_headers() -> None:
    an_item()
    png = depth_png16(64, 48)
    record = a_depth_map(VersionType.FULL_RESOLUTION, png)
    a_depth_map(VersionType.THUMBNAIL)

    response = call("GET", f"/api/media/{ITEM_ID}/depth", headers={"Accept": "image/png"})

    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == png
    headers = response["multiValueHeaders"] | {k: [v] for k, v in (response.get("headers") or {}).items()}
    flat = {key: values[0] for key, values in headers.items()}
    assert flat["Content-Type"] == "image/png"
    assert flat["X-Depth-Map-Version"] == "full_resolution"
    assert flat["X-Model-Name"] == "depth-anything-v2"
    assert flat["X-Model-Version"] == "small"
    assert flat["X-Generated-At"].endswith("Z")
    assert flat["ETag"] == f'"{record.checksum}"'
    assert "max-age" in flat["Cache-Control"]


def test_each_download_counts_an_access_atomically() -> None:
    an_item()
    a_depth_map(VersionType.THUMBNAIL)

    for _ in range(3):
        assert call("GET", f"/api/media/{ITEM_ID}/depth", query={"version": "thumbnail"})["statusCode"] == 200

    record = DepthMapRecord.get(ITEM_ID, "thumbnail")
    assert record.access_count == 3
    assert record.accessed_at is not None


@pytest.mark.parametrize("written", ["%7B{id}%7D", "{{{id}}}", "urn:uuid:{id}", "{upper}"])
def test_an_id_in_another_spelling_of_the_same_uuid_names_the_same_item(written: str) -> None:
    """API Gateway's REST proxy passes the path percent-encoded; an id is read as the UUID it spells."""
    an_item()

    path_id = written.format(id=ITEM_ID, upper=ITEM_ID.upper())
    response = call("GET", f"/api/media/{path_id}")

    assert response["statusCode"] == 200, response["body"]
    assert body(response)["media_item_id"] == ITEM_ID


@pytest.mark.parametrize(
    "held",
    ["*", 'W/"{checksum}"', '"other", W/"{checksum}"', ' "{checksum}" '],
    ids=["any", "weak", "weak-in-a-list", "spaces"],
)
def test_if_none_match_compares_weakly_and_star_matches_any_map(held: str) -> None:
    an_item()
    record = a_depth_map(VersionType.FULL_RESOLUTION)

    header = held.replace("{checksum}", record.checksum)
    response = call("GET", f"/api/media/{ITEM_ID}/depth", headers={"If-None-Match": header})

    assert response["statusCode"] == 304
    assert not response["body"]


def test_an_if_none_match_of_another_map_gets_the_map() -> None:
    an_item()
    a_depth_map(VersionType.FULL_RESOLUTION)

    response = call(
        "GET",
        f"/api/media/{ITEM_ID}/depth",
        headers={"Accept": "image/png", "If-None-Match": 'W/"another-map"'},
    )

    assert response["statusCode"] == 200


def test_a_matching_if_none_match_gets_304_without_a_body() -> None:
    an_item()
    record = a_depth_map(VersionType.FULL_RESOLUTION)

    response = call("GET", f"/api/media/{ITEM_ID}/depth", headers={"If-None-Match": f'"{record.checksum}"'})

    assert response["statusCode"] == 304
    assert not response["body"]


def test_a_map_too_large_for_a_lambda_response_is_a_redirect_to_a_presigned_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_INLINE_RESPONSE_BYTES", "10")
    get_settings.cache_clear()
    an_item()
    a_depth_map(VersionType.FULL_RESOLUTION)

    response = call("GET", f"/api/media/{ITEM_ID}/depth")

    assert response["statusCode"] == 307
    headers = {k: v[0] for k, v in response["multiValueHeaders"].items()} | (response.get("headers") or {})
    assert "X-Amz-Signature=" in headers["Location"]
    assert headers["X-Depth-Map-Version"] == "full_resolution"


def test_an_invalid_version_is_a_400_naming_the_allowed_values() -> None:
    an_item()

    response = call("GET", f"/api/media/{ITEM_ID}/depth", query={"version": "huge"})

    assert response["statusCode"] == 400
    assert "'thumbnail', 'preview' or 'full_resolution'" in body(response)["message"]


def test_a_version_not_made_yet_is_a_404_with_the_processing_status() -> None:
    an_item(ProcessingStatus.PROCESSING)

    response = call("GET", f"/api/media/{ITEM_ID}/depth", query={"version": "thumbnail"})

    assert response["statusCode"] == 404
    assert body(response)["details"]["processingStatus"] == "processing"


def test_depth_info_lists_every_version_without_the_files() -> None:
    an_item()
    a_depth_map(VersionType.FULL_RESOLUTION)
    a_depth_map(VersionType.THUMBNAIL)

    response = call("GET", f"/api/media/{ITEM_ID}/depth/info")

    info = body(response)
    assert info["mediaItemId"] == ITEM_ID
    assert [entry["version_type"] for entry in info["depthMaps"]] == ["thumbnail", "full_resolution"]
    assert set(info["depthMaps"][0]) >= {
        "version_type",
        "file_size",
        "format",
        "width",
        "height",
        "model_name",
        "model_version",
        "generated_at",
        "access_count",
    }


def test_the_listing_is_newest_first_and_paginated_with_an_opaque_cursor() -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(5)]
    for item_id in ids:
        an_item(item_id=item_id)

    first = body(call("GET", "/api/media", query={"limit": "2"}))
    second = body(call("GET", "/api/media", query={"limit": "2", "cursor": first["nextCursor"]}))
    third = body(call("GET", "/api/media", query={"limit": "2", "cursor": second["nextCursor"]}))

    seen = [entry["media_item_id"] for page in (first, second, third) for entry in page["items"]]
    assert seen == list(reversed(ids))
    assert call("GET", "/api/media", query={"cursor": "garbage!"})["statusCode"] == 400
    assert call("GET", "/api/media", query={"limit": "0"})["statusCode"] == 400


def cursor_of(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def a_real_cursor() -> dict[str, Any]:
    for n in range(2):
        an_item(item_id=f"00000000-0000-4000-8000-00000000000{n}")
    issued = body(call("GET", "/api/media", query={"limit": "1"}))["nextCursor"]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))
    return decoded


def nested(depth: int) -> object:
    value: object = "bar"
    for _ in range(depth):
        value = {"foo": value}
    return value


# Each makes a cursor the API never issued, from a real one.
FOREIGN_CURSORS: dict[str, Callable[[dict[str, Any]], object]] = {
    "another object": lambda real: {"foo": "bar"},
    "another key typed as ours": lambda real: {"foo": {"S": "bar"}},
    "nested objects": lambda real: nested(50),
    "a list": lambda real: [1, 2, 3],
    "our keys with a number for the id": lambda real: real | {"media_item_id": {"N": "1"}},
    "our keys with a map for the date": lambda real: real | {"created_at": {"M": {}}},
    "our keys with an extra type": lambda real: real | {"listing_partition": {"S": "media", "N": "1"}},
    "another partition": lambda real: real | {"listing_partition": {"S": "secret"}},
    "an id that is no UUID": lambda real: real | {"media_item_id": {"S": "not-a-uuid"}},
    "a date in another format": lambda real: real | {"created_at": {"S": "yesterday"}},
}


@pytest.mark.parametrize("name", sorted(FOREIGN_CURSORS))
def test_a_cursor_the_api_did_not_issue_is_a_400(name: str) -> None:
    forged = FOREIGN_CURSORS[name](a_real_cursor())

    response = call("GET", "/api/media", query={"limit": "1", "cursor": cursor_of(forged)})

    assert response["statusCode"] == 400, response["body"]
    assert body(response)["error"] == "invalid_request"


def test_a_real_cursor_decoded_and_encoded_again_still_pages() -> None:
    response = call("GET", "/api/media", query={"limit": "1", "cursor": cursor_of(a_real_cursor())})

    assert response["statusCode"] == 200
    assert len(body(response)["items"]) == 1


def test_a_legacy_record_without_a_version_reads_as_full_resolution() -> None:
    record = DepthMapRecord(ITEM_ID, "")
    assert record.version is VersionType.FULL_RESOLUTION


def test_cors_exposes_the_depth_headers() -> None:
    an_item()
    a_depth_map(VersionType.FULL_RESOLUTION)

    response = call("GET", f"/api/media/{ITEM_ID}/depth", headers={"Origin": "https://vr.example"})

    headers = {k: v[0] for k, v in response["multiValueHeaders"].items()} | (response.get("headers") or {})
    exposed = headers["Access-Control-Expose-Headers"]
    for name in ("X-Depth-Map-Version", "X-Model-Name", "X-Model-Version", "X-Generated-At", "ETag"):
        assert name in exposed


def test_media_item_statuses_change_only_along_allowed_transitions() -> None:
    item = an_item(ProcessingStatus.COMPLETED)

    with pytest.raises(media_items.StatusConflict):
        media_items.transition(item, ProcessingStatus.PROCESSING)
