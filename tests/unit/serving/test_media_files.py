"""What a viewer loads for each version of an item: the photo, the 8-bit map, the stereo pairs and
their URLs, made once from the stored photo and map, kept true to the map, refused clearly."""

from __future__ import annotations

import base64
import io
import json
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from PIL import Image

from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.serving import deletion, derivatives, eviction
from immichvr_depth.store import depth_maps
from immichvr_depth.store.keys import DERIVATIVES_PREFIX, original_key, thumbnail_key
from immichvr_depth.store.processing_queue import enqueue_processing
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem
from immichvr_depth.store.versions import VersionType
from tests.support.concurrency import atomic_conditional_writes, run_concurrently
from tests.support.depth import (
    ChangingBackend,
    call,
    header,
    keys_under,
    put,
    receive_all,
    run_processor,
)
from tests.support.images import jpeg_bytes

ITEM = "5b0f7c3a-2d4e-4f61-8a9b-0c1d2e3f4a5b"
IMAGE = {"Accept": "image/jpeg"}
PNG = {"Accept": "image/png"}

# The tiers a small photo gets: its preview is its full-resolution map.
MADE = (VersionType.THUMBNAIL, VersionType.FULL_RESOLUTION)

pytestmark = pytest.mark.usefixtures("aws")


def _bytes(response: dict[str, Any]) -> bytes:
    assert response["statusCode"] == 200, response.get("body")
    assert response["isBase64Encoded"] is True
    return base64.b64decode(response["body"])


def _image(response: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(_bytes(response)))


def _json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def _stored(key: str) -> bytes:
    body: bytes = aws.s3().get_object(Bucket=get_settings().media_bucket, Key=key)["Body"].read()
    return body


def queued_item(orientation: int = 1) -> MediaItem:
    """An imported photo (original and preview stored) queued for its depth maps."""
    made = MediaItem(ITEM, source_type="immich", filename="IMG 0001.jpg", mime_type="image/jpeg")
    made.immich_asset_id = ITEM
    made.original_path = original_key(ITEM, made.filename, "image/jpeg")
    made.thumbnail_path = thumbnail_key(ITEM, made.filename, "image/jpeg")
    put(made.original_path, jpeg_bytes(320, 240, orientation=orientation))
    put(made.thumbnail_path, jpeg_bytes(160, 120))
    made.status = ProcessingStatus.QUEUED.value
    made.save()
    return made


@pytest.fixture
def item() -> MediaItem:
    """A completed photo whose original carries EXIF orientation 6 (shown rotated a quarter turn)."""
    made = queued_item(orientation=6)
    assert process_media_item(ITEM, ChangingBackend()).status is ProcessingStatus.COMPLETED
    return made


def test_the_photo_is_upright_and_exactly_the_size_of_its_depth_map(item: MediaItem) -> None:
    for version in MADE:
        record = depth_maps.find(ITEM, version)
        assert record is not None

        photo = _image(
            call("GET", f"/api/media/{ITEM}/photo", query={"version": version.value}, headers=IMAGE)
        )

        assert photo.format == "JPEG"
        assert photo.size == (int(record.width), int(record.height))
    assert _image(call("GET", f"/api/media/{ITEM}/photo", headers=IMAGE)).size == (240, 320)


def test_an_upright_jpeg_is_served_as_stored_and_revalidates_with_its_etag(item: MediaItem) -> None:
    first = call("GET", f"/api/media/{ITEM}/photo", query={"version": "thumbnail"}, headers=IMAGE)

    assert _bytes(first) == _stored(item.thumbnail_path or "")
    etag = header(first, "ETag")
    assert etag
    again = call(
        "GET",
        f"/api/media/{ITEM}/photo",
        query={"version": "thumbnail"},
        headers=IMAGE | {"If-None-Match": etag},
    )
    assert again["statusCode"] == 304


def test_a_photo_is_served_before_its_depth_map_exists() -> None:
    pending = MediaItem(ITEM, source_type="upload", filename="IMG 0002.jpg", mime_type="image/jpeg")
    pending.original_path = original_key(ITEM, "IMG 0002.jpg", "image/jpeg")
    pending.status = ProcessingStatus.QUEUED.value
    pending.save()
    put(pending.original_path, jpeg_bytes(200, 100, orientation=8))

    photo = _image(call("GET", f"/api/media/{ITEM}/photo", headers=IMAGE))
    depth = call("GET", f"/api/media/{ITEM}/depth", query={"format": "png8"}, headers=PNG)

    assert photo.size == (100, 200)
    assert depth["statusCode"] == 404
    assert _json(depth)["details"]["processingStatus"] == "queued"


def test_png8_is_the_same_map_in_eight_bits(item: MediaItem) -> None:
    sixteen = np.asarray(_image(call("GET", f"/api/media/{ITEM}/depth", headers=PNG)), dtype=np.int32)
    eight_response = call("GET", f"/api/media/{ITEM}/depth", query={"format": "png8"}, headers=PNG)
    eight = _image(eight_response)

    assert eight.mode == "L"
    assert eight.size == (sixteen.shape[1], sixteen.shape[0])
    assert np.abs(np.asarray(eight, dtype=np.int32) - (sixteen >> 8)).max() <= 1
    assert header(eight_response, "X-Depth-Map-Version") == "full_resolution"
    assert header(eight_response, "X-Model-Name") == "depth-anything-v2"


@pytest.mark.parametrize(
    ("layout", "scale", "suffix"),
    [
        ("sbs", (2, 1), "_LRF_Full_SBS.jpg"),
        ("half-sbs", (1, 1), "_3dh.jpg"),
        ("tb", (1, 2), "_TB.jpg"),
        ("anaglyph", (1, 1), "_anaglyph.jpg"),
    ],
)
def test_each_stereo_layout_has_its_size_and_a_name_players_recognise(
    item: MediaItem, layout: str, scale: tuple[int, int], suffix: str
) -> None:
    for version in MADE:
        record = depth_maps.find(ITEM, version)
        assert record is not None
        response = call(
            "GET",
            f"/api/media/{ITEM}/stereo",
            query={"version": version.value, "layout": layout},
            headers=IMAGE,
        )

        image = _image(response)
        assert image.size == (int(record.width) * scale[0], int(record.height) * scale[1])
        disposition = header(response, "Content-Disposition") or ""
        assert disposition.startswith('attachment; filename="IMG_0001')
        assert suffix in disposition
        assert "filename*=UTF-8''IMG_0001" in disposition
        assert header(response, "X-Depth-Map-Version") == version.value


def test_derivatives_are_made_once_for_repeated_and_concurrent_requests(
    item: MediaItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real_png8, real_stereo = derivatives.depth_png8, derivatives.render_stereo

    def counting_png8(data: bytes) -> bytes:
        made.append("png8")
        return real_png8(data)

    def counting_stereo(*args: Any) -> bytes:
        made.append("stereo")
        return real_stereo(*args)

    monkeypatch.setattr(derivatives, "depth_png8", counting_png8)
    monkeypatch.setattr(derivatives, "render_stereo", counting_stereo)
    atomic_conditional_writes(monkeypatch)

    def fetch_both() -> None:
        assert (
            call("GET", f"/api/media/{ITEM}/depth", query={"format": "png8"}, headers=PNG)["statusCode"]
            == 200
        )
        assert call("GET", f"/api/media/{ITEM}/stereo", headers=IMAGE)["statusCode"] == 200

    assert run_concurrently(fetch_both, 4) == []
    fetch_both()

    assert sorted(made) == ["png8", "stereo"]


def test_a_regenerated_map_supersedes_its_derivatives(
    item: MediaItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _bytes(call("GET", f"/api/media/{ITEM}/depth", query={"format": "png8"}, headers=PNG))
    old = depth_maps.find(ITEM, VersionType.FULL_RESOLUTION)
    assert old is not None
    old_prefix = f"{DERIVATIVES_PREFIX}{ITEM}/full_resolution/g{int(old.generation)}/"
    assert keys_under(old_prefix)

    assert (
        call("POST", f"/api/media/{ITEM}/depth/regenerate", query={"version": "full_resolution"})[
            "statusCode"
        ]
        == 202
    )
    run_processor(receive_all(), ChangingBackend(), monkeypatch)

    after = _bytes(call("GET", f"/api/media/{ITEM}/depth", query={"format": "png8"}, headers=PNG))
    assert after != before
    assert keys_under(old_prefix) == set()


def test_an_evicted_map_takes_its_derivatives_and_its_reads_are_answered_202(item: MediaItem) -> None:
    assert call("GET", f"/api/media/{ITEM}/stereo", headers=IMAGE)["statusCode"] == 200
    record = depth_maps.find(ITEM, VersionType.FULL_RESOLUTION)
    assert record is not None
    eviction.evict_idle(1, now=record.generated_at + timedelta(days=2))

    assert keys_under(f"{DERIVATIVES_PREFIX}{ITEM}/full_resolution/g0/") == set()
    for path, query in (("stereo", {}), ("depth", {"format": "png8"})):
        response = call("GET", f"/api/media/{ITEM}/{path}", query=query, headers=IMAGE)
        assert response["statusCode"] == 202
        assert header(response, "Retry-After")


def test_deleting_the_item_removes_its_derivatives(item: MediaItem) -> None:
    assert call("GET", f"/api/media/{ITEM}/stereo", headers=IMAGE)["statusCode"] == 200
    assert keys_under(f"{DERIVATIVES_PREFIX}{ITEM}/")

    deletion.delete_media_item(ITEM)

    assert keys_under(f"{DERIVATIVES_PREFIX}{ITEM}/") == set()
    for path in ("photo", "stereo", "urls"):
        response = call("GET", f"/api/media/{ITEM}/{path}", headers=IMAGE)
        assert response["statusCode"] == 404
        assert _json(response)["error"] == "not_found"


def test_a_derivative_made_while_its_item_is_deleted_does_not_outlive_it(
    item: MediaItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_browser_photo = derivatives.browser_photo

    def deleted_while_making(*args: Any) -> Any:
        made = real_browser_photo(*args)
        deletion.delete_media_item(ITEM)  # the DELETE runs while the photo is being made
        return made

    monkeypatch.setattr(derivatives, "browser_photo", deleted_while_making)

    response = call("GET", f"/api/media/{ITEM}/photo", headers=IMAGE)

    assert response["statusCode"] == 404
    assert keys_under(f"{DERIVATIVES_PREFIX}{ITEM}/") == set()


def test_a_client_whose_accept_api_gateway_would_encode_is_redirected_with_the_facts(item: MediaItem) -> None:
    for accept in ("*/*", None):
        response = call("GET", f"/api/media/{ITEM}/stereo", headers={"Accept": accept} if accept else {})

        assert response["statusCode"] == 307
        location = header(response, "Location") or ""
        assert "X-Amz-Signature" in location or "Signature" in location
        bucket = get_settings().media_bucket
        url = urlsplit(location)
        key = unquote(url.path.lstrip("/").removeprefix(f"{bucket}/"))
        stored = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=key)
        assert stored["Metadata"]["depth-map-version"] == header(response, "X-Depth-Map-Version")
        assert stored["Metadata"]["model-name"] == header(response, "X-Model-Name")
        assert stored["Metadata"]["generated-at"] == header(response, "X-Generated-At")


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"layout": "cross-eyed"}, "layout"),
        ({"format": "png32"}, "format"),
        ({"version": "huge"}, "version"),
        ({"divergence": "10.5"}, "divergence must be between 0 and 10"),
        ({"divergence": "-1"}, "divergence must be between 0 and 10"),
        ({"convergence": "1.5"}, "convergence must be between 0 and 1"),
        ({"divergence": "nan"}, "divergence"),
    ],
)
def test_bad_parameters_are_json_400s_naming_what_is_wrong(
    item: MediaItem, query: dict[str, str], names: str
) -> None:
    path = "depth" if "format" in query else "stereo"

    response = call("GET", f"/api/media/{ITEM}/{path}", query=query, headers=IMAGE)

    assert response["statusCode"] == 400
    assert names in response["body"]


def test_a_stereo_pair_too_large_for_a_request_is_made_by_the_processor(
    item: MediaItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DERIVATIVE_INLINE_MAX_MEGAPIXELS", "0.01")
    get_settings.cache_clear()

    first = call("GET", f"/api/media/{ITEM}/stereo", headers=IMAGE)
    second = call("GET", f"/api/media/{ITEM}/stereo", headers=IMAGE)

    assert first["statusCode"] == second["statusCode"] == 202
    assert _json(first)["derivative"] == "stereo-sbs"
    jobs = [json.loads(message["Body"]) for message in receive_all()]
    assert [job["derivative"]["layout"] for job in jobs] == ["sbs"]
    run_processor(receive_all(), ChangingBackend(), monkeypatch)
    assert _image(call("GET", f"/api/media/{ITEM}/stereo", headers=IMAGE)).size == (480, 320)
    assert not [key for key in keys_under(DERIVATIVES_PREFIX) if key.endswith((".queued", ".making"))]


def test_urls_point_at_every_file_of_the_version(item: MediaItem) -> None:
    response = call("GET", f"/api/media/{ITEM}/urls", query={"version": "thumbnail"})

    assert response["statusCode"] == 200
    urls = _json(response)
    assert urls["version"] == "thumbnail"
    assert urls["pending"] == []
    assert set(urls["depth"]) == {"png16", "png8"}
    assert set(urls["stereo"]) == {"sbs", "half-sbs", "tb", "anaglyph"}
    assert all(
        url.startswith("http") for url in [urls["photo"], *urls["depth"].values(), *urls["stereo"].values()]
    )


def test_a_deployment_can_have_derivatives_made_right_after_each_map(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREMADE_DERIVATIVES", "png8,stereo-half-sbs")
    get_settings.cache_clear()
    queued_item()
    enqueue_processing(ITEM)
    run_processor(receive_all(), ChangingBackend(), monkeypatch)

    names = {key.rsplit("/", 1)[1] for key in keys_under(f"{DERIVATIVES_PREFIX}{ITEM}/")}
    assert names == {"depth8.png", "stereo-half-sbs-d2.0-c0.50.jpg", "photo.jpg"}


def test_health_answers_without_asking_anything_behind_it() -> None:
    response = call("GET", "/api/health")

    assert response["statusCode"] == 200
    assert _json(response) == {"status": "ok", "version": "0.1.0"}
