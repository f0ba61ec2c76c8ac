"""Resolution tiers: thumbnail, preview and full resolution, made small to large at their sizes; a
small photo's preview served by its full-resolution map; a deployment with only the seed's two tiers;
bad tier names; items made before the preview tier existed."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from immichvr_depth.depth.backends import DepthPrediction
from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.serving import eviction
from immichvr_depth.store import depth_maps
from immichvr_depth.store.keys import original_key, thumbnail_key
from immichvr_depth.store.processing_queue import ProcessingMessage
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem
from immichvr_depth.store.versions import VersionType
from tests.support.depth import ChangingBackend, call, header, json_body, put, receive_all, run_processor
from tests.support.images import jpeg_bytes

ITEM = "8c1d2e3f-4a5b-4c6d-9e7f-0a1b2c3d4e5f"
THUMB, PREVIEW, FULL = VersionType.THUMBNAIL, VersionType.PREVIEW, VersionType.FULL_RESOLUTION

pytestmark = pytest.mark.usefixtures("aws")


class RecordingBackend(ChangingBackend):
    """Answers as ChangingBackend does, and keeps the model input size of each call, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.input_sizes: list[int] = []

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        self.input_sizes.append(input_size)
        return super().estimate(body, content_type, input_size)


def an_imported_photo(width: int, height: int, *, orientation: int = 1) -> MediaItem:
    """A photo as the import stores it: original, Immich's 1440-px preview, the upright size known."""
    upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    item = MediaItem(ITEM, source_type="immich", filename="IMG 0042.jpg", mime_type="image/jpeg")
    item.immich_asset_id = ITEM
    item.original_path = original_key(ITEM, item.filename, "image/jpeg")
    item.thumbnail_path = thumbnail_key(ITEM, item.filename, "image/jpeg")
    item.width, item.height = upright
    scale = min(1.0, 1440 / max(upright))
    put(item.original_path, jpeg_bytes(width, height, orientation=orientation, quality=70))
    put(item.thumbnail_path, jpeg_bytes(round(upright[0] * scale), round(upright[1] * scale)))
    item.status = ProcessingStatus.QUEUED.value
    item.save()
    return item


def map_sizes() -> dict[VersionType, tuple[int, int]]:
    return {record.version: (int(record.width), int(record.height)) for record in depth_maps.all_for(ITEM)}


def png_size(response: dict[str, Any]) -> tuple[int, int]:
    assert response["statusCode"] == 200, response["body"][:300]
    size: tuple[int, int] = Image.open(io.BytesIO(base64.b64decode(response["body"]))).size
    return size


def test_a_12_mp_photo_shot_sideways_gets_three_tiers_small_to_large_at_their_sizes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_INLINE_RESPONSE_BYTES", str(64 * 2**20))  # every file inline, to measure
    get_settings.cache_clear()
    an_imported_photo(4000, 3000, orientation=6)
    backend = RecordingBackend()

    outcome = process_media_item(ITEM, backend)

    assert outcome.made == (THUMB, PREVIEW, FULL)
    assert backend.input_sizes == [518, 770, 1036]
    assert map_sizes() == {THUMB: (1080, 1440), PREVIEW: (2304, 3072), FULL: (3000, 4000)}
    for version, size in map_sizes().items():
        query = {"version": version.value}
        assert png_size(call("GET", f"/api/media/{ITEM}/depth", query=query)) == size
        photo = call("GET", f"/api/media/{ITEM}/photo", query=query, headers={"Accept": "image/jpeg"})
        assert png_size(photo) == size  # the tier's photo is its map's size
    status = json_body(call("GET", f"/api/media/{ITEM}"))
    assert status["preview_depth_map_id"] == f"{ITEM}:preview"
    assert status["preview_depth_map_path"].endswith("_preview_depth.png")


def test_a_photo_no_larger_than_the_preview_has_its_preview_served_by_full_resolution() -> None:
    an_imported_photo(2000, 1500)

    assert process_media_item(ITEM, ChangingBackend()).made == (THUMB, FULL)

    preview = call("GET", f"/api/media/{ITEM}/depth", query={"version": "preview"})
    assert header(preview, "X-Depth-Map-Version") == "full_resolution"
    assert png_size(preview) == (2000, 1500)
    info = json_body(call("GET", f"/api/media/{ITEM}/depth/info"))
    assert info["servedBy"] == {
        "thumbnail": "thumbnail",
        "preview": "full_resolution",
        "full_resolution": "full_resolution",
    }
    assert [entry["version_type"] for entry in info["depthMaps"]] == ["thumbnail", "full_resolution"]
    status = json_body(call("GET", f"/api/media/{ITEM}"))
    assert status["preview_depth_map_id"] == f"{ITEM}:full_resolution"


def test_with_only_the_seeds_two_tiers_the_preview_is_neither_made_nor_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPTH_TIERS", "thumbnail,full_resolution")
    get_settings.cache_clear()
    an_imported_photo(4000, 3000)
    backend = RecordingBackend()

    assert process_media_item(ITEM, backend).made == (THUMB, FULL)

    assert backend.input_sizes == [518, 1036]
    for path in ("depth", "photo", "stereo", "urls"):
        refused = call("GET", f"/api/media/{ITEM}/{path}", query={"version": "preview"})
        assert refused["statusCode"] == 400, path
        assert json_body(refused)["message"] == "version must be one of: thumbnail, full_resolution"
    info = json_body(call("GET", f"/api/media/{ITEM}/depth/info"))
    assert info["servedBy"] == {"thumbnail": "thumbnail", "full_resolution": "full_resolution"}
    assert json_body(call("GET", f"/api/media/{ITEM}"))["preview_depth_map_id"] is None


@pytest.mark.parametrize("route", ["depth", "photo", "stereo", "urls"])
def test_a_tier_that_does_not_exist_is_a_json_400(route: str) -> None:
    an_imported_photo(800, 600)
    process_media_item(ITEM, ChangingBackend())

    response = call("GET", f"/api/media/{ITEM}/{route}", query={"version": "huge"})

    assert response["statusCode"] == 400
    assert "version" in response["body"]


def test_an_item_made_before_the_preview_tier_gets_it_on_first_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPTH_TIERS", "thumbnail,full_resolution")
    get_settings.cache_clear()
    an_imported_photo(4000, 3000)
    process_media_item(ITEM, ChangingBackend())
    before = {record.version: record.checksum for record in depth_maps.all_for(ITEM)}
    monkeypatch.setenv("DEPTH_TIERS", "thumbnail,preview,full_resolution")
    get_settings.cache_clear()

    first = call("GET", f"/api/media/{ITEM}/depth", query={"version": "preview"})

    assert first["statusCode"] == 202
    assert header(first, "Retry-After")
    assert json_body(first)["processingStatus"] == "queued"
    (message,) = receive_all()
    assert ProcessingMessage.from_json(message["Body"]).regenerate == {}
    run_processor([message], ChangingBackend(), monkeypatch)
    assert png_size(call("GET", f"/api/media/{ITEM}/depth", query={"version": "preview"})) == (3072, 2304)
    after = {record.version: record.checksum for record in depth_maps.all_for(ITEM)}
    assert {version: after[version] for version in before} == before  # the other tiers untouched


def test_regenerating_an_old_item_also_makes_its_missing_preview(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPTH_TIERS", "thumbnail,full_resolution")
    get_settings.cache_clear()
    an_imported_photo(4000, 3000)
    process_media_item(ITEM, ChangingBackend())
    monkeypatch.setenv("DEPTH_TIERS", "")
    get_settings.cache_clear()

    queued = call("POST", f"/api/media/{ITEM}/depth/regenerate")
    run_processor(receive_all(), ChangingBackend(), monkeypatch)

    assert json_body(queued)["versions"] == ["thumbnail", "preview", "full_resolution"]
    assert {record.version: int(record.generation) for record in depth_maps.all_for(ITEM)} == {
        THUMB: 1,
        PREVIEW: 0,
        FULL: 1,
    }


def test_the_evictable_tiers_are_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    an_imported_photo(4000, 3000)
    process_media_item(ITEM, ChangingBackend())
    later = max(record.generated_at for record in depth_maps.all_for(ITEM)) + timedelta(days=40)

    assert eviction.evict_idle(30, now=later).evicted == 1  # full resolution only, by default
    monkeypatch.setenv("EVICTABLE_TIERS", "preview,full_resolution")
    get_settings.cache_clear()
    assert eviction.evict_idle(30, now=later).evicted == 1  # now the preview too

    evicted = {record.version: record.evicted_at is not None for record in depth_maps.all_for(ITEM)}
    assert evicted == {THUMB: False, PREVIEW: True, FULL: True}


def test_a_failed_items_missing_tier_is_not_queued_again_by_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPTH_TIERS", "thumbnail,full_resolution")
    get_settings.cache_clear()
    item = an_imported_photo(4000, 3000)
    process_media_item(ITEM, ChangingBackend())
    item.refresh()
    item.status = ProcessingStatus.FAILED.value
    item.save()
    monkeypatch.setenv("DEPTH_TIERS", "")
    get_settings.cache_clear()

    response = call("GET", f"/api/media/{ITEM}/depth", query={"version": "preview"})

    assert response["statusCode"] == 404
    assert json_body(response)["details"]["processingStatus"] == "failed"
    assert receive_all() == []


def test_with_the_preview_tier_off_a_small_photos_status_names_no_preview(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPTH_TIERS", "thumbnail,full_resolution")
    get_settings.cache_clear()
    an_imported_photo(800, 600)
    process_media_item(ITEM, ChangingBackend())

    status = json_body(call("GET", f"/api/media/{ITEM}"))

    assert (status["preview_depth_map_id"], status["preview_depth_map_path"]) == (None, None)
    assert status["full_res_depth_map_id"] == f"{ITEM}:full_resolution"


def test_the_previews_photo_always_matches_its_map_when_the_preview_size_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_INLINE_RESPONSE_BYTES", str(64 * 2**20))
    get_settings.cache_clear()
    an_imported_photo(4000, 3000)
    process_media_item(ITEM, ChangingBackend())
    monkeypatch.setenv("PREVIEW_LONG_SIDE", "2048")
    get_settings.cache_clear()
    photo = {"version": "preview"}, {"Accept": "image/jpeg"}

    # The map made at 3,072 is still the preview: its photo is made at the map's size.
    assert png_size(call("GET", f"/api/media/{ITEM}/photo", query=photo[0], headers=photo[1])) == (3072, 2304)
    call("POST", f"/api/media/{ITEM}/depth/regenerate", query={"version": "preview"})
    run_processor(receive_all(), ChangingBackend(), monkeypatch)
    assert map_sizes()[PREVIEW] == (2048, 1536)
    assert png_size(call("GET", f"/api/media/{ITEM}/photo", query=photo[0], headers=photo[1])) == (2048, 1536)
    stereo = call("GET", f"/api/media/{ITEM}/stereo", query={"version": "preview"}, headers=photo[1])
    assert png_size(stereo) == (4096, 1536)
