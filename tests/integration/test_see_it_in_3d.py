"""Everything a 3D viewer or a headset loads, through the local runner as a user runs it: for an
imported EXIF-rotated JPEG and uploaded HEIC and PNG photos, both versions' upright photo, 16- and
8-bit depth and the four stereo layouts, the depth facts readable after a redirect, presigned URLs,
the Immich library with each asset's import status, and clear refusals."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pillow_heif
import pytest
import requests
from PIL import Image

from tests.fakes.fake_immich import FakeImmich
from tests.support.images import photo
from tests.support.runner import Runner

pytestmark = pytest.mark.slow

API_KEY = "see-it-api-key"
IMMICH_KEY = "see-it-immich-key"
IMAGE = {"Accept": "image/jpeg"}
FACTS = ("X-Depth-Map-Version", "X-Model-Name", "X-Model-Version", "X-Generated-At")
LAYOUTS = {"sbs": (2, 1), "half-sbs": (1, 1), "tb": (1, 2), "anaglyph": (1, 1)}
VERSIONS = ("thumbnail", "full_resolution")


def _image(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def _heic(width: int, height: int) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(photo(width, height, seed=7)).save(out, quality=90)
    return out.getvalue()


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    photo(width, height, seed=9).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def items(runner: Runner, immich: FakeImmich) -> dict[str, str]:
    """An imported JPEG shot sideways (EXIF 6), an uploaded HEIC and an uploaded PNG, all completed."""
    asset = immich.add_image(width=900, height=600, orientation=6, file_name="sideways.jpg")
    imported = runner.call("POST", f"/api/immich/import/{asset}")
    assert imported.status_code == 202, imported.text
    made = {
        "jpeg": str(imported.json()["mediaItemId"]),
        "heic": runner.upload("phone.heic", _heic(640, 480), "image/heic"),
        "png": runner.upload("screenshot.png", _png(500, 700), "image/png"),
    }
    for media_item_id in made.values():
        assert runner.wait_finished(media_item_id)["processing_status"] == "completed"
    return made


@pytest.mark.parametrize("kind", ["jpeg", "heic", "png"])
def test_each_version_has_an_upright_photo_the_size_of_its_depth_maps(
    runner: Runner, items: dict[str, str], kind: str
) -> None:
    media_item_id = items[kind]
    for version in VERSIONS:
        query = {"version": version}
        depth = runner.call(
            "GET", f"/api/media/{media_item_id}/depth", params=query, headers={"Accept": "image/png"}
        )
        sixteen = _image(depth)
        eight = _image(
            runner.call(
                "GET",
                f"/api/media/{media_item_id}/depth",
                params=query | {"format": "png8"},
                headers={"Accept": "image/png"},
            )
        )
        shown = _image(runner.call("GET", f"/api/media/{media_item_id}/photo", params=query, headers=IMAGE))

        assert shown.format == "JPEG"
        assert shown.size == sixteen.size == eight.size
        assert eight.mode == "L"
        difference = np.asarray(eight, np.int32) - (np.asarray(sixteen, np.int32) >> 8)
        assert np.abs(difference).max() <= 1
        assert depth.headers["X-Depth-Map-Version"] == version
        if kind == "jpeg":
            assert shown.height > shown.width  # turned upright
        for layout, (across, down) in LAYOUTS.items():
            stereo = runner.call(
                "GET", f"/api/media/{media_item_id}/stereo", params=query | {"layout": layout}, headers=IMAGE
            )
            assert _image(stereo).size == (shown.width * across, shown.height * down), layout
            assert "attachment; filename=" in stereo.headers["Content-Disposition"]


def test_the_depth_facts_survive_the_redirect_a_browser_follows(
    runner: Runner, items: dict[str, str]
) -> None:
    media_item_id = items["heic"]
    for path, query in (("depth", {}), ("depth", {"format": "png8"}), ("stereo", {"layout": "sbs"})):
        # fetch() sends */*, which API Gateway would answer in base64: the API redirects instead.
        first = runner.call(
            "GET",
            f"/api/media/{media_item_id}/{path}",
            params=query,
            headers={"Accept": "*/*"},
            allow_redirects=False,
        )
        assert first.status_code == 307, first.text
        followed = requests.get(first.headers["Location"], headers={"Origin": "null"}, timeout=30)

        assert followed.status_code == 200
        assert _image(followed).size[0] > 0
        for fact in FACTS:
            assert followed.headers[f"x-amz-meta-{fact.lower().removeprefix('x-')}"] == first.headers[fact], (
                fact
            )


def test_urls_lead_straight_to_every_file_a_viewer_loads(runner: Runner, items: dict[str, str]) -> None:
    urls = runner.call("GET", f"/api/media/{items['png']}/urls", params={"version": "thumbnail"}).json()

    assert urls["pending"] == []
    sizes = {
        name: _image(requests.get(url, timeout=30)).size
        for name, url in [("photo", urls["photo"]), *urls["depth"].items(), *urls["stereo"].items()]
    }
    width, height = sizes["photo"]
    assert sizes["png16"] == sizes["png8"] == (width, height)
    assert sizes["sbs"] == (2 * width, height)
    assert sizes["tb"] == (width, 2 * height)


def test_the_immich_library_lists_each_asset_with_its_import_status(
    runner: Runner, immich: FakeImmich, items: dict[str, str]
) -> None:
    never_imported = immich.add_image(width=300, height=200, file_name="later.jpg")

    page = runner.call("GET", "/api/immich/assets", params={"size": "50"})

    assert page.status_code == 200, page.text
    listed: dict[str, Any] = {asset["assetId"]: asset for asset in page.json()["assets"]}
    assert listed[never_imported]["mediaItemId"] is None
    imported = next(asset for asset in listed.values() if asset["mediaItemId"] == items["jpeg"])
    assert imported["processingStatus"] == "completed"
    assert imported["depthVersions"] == ["thumbnail", "full_resolution"]


def test_health_needs_the_key_and_asks_nothing_behind_it(runner: Runner) -> None:
    assert runner.call("GET", "/api/health").json()["status"] == "ok"
    assert requests.get(runner.url + "/api/health", timeout=10).status_code == 403


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("stereo", {"layout": "cross-eyed"}),
        ("stereo", {"divergence": "12"}),
        ("stereo", {"convergence": "-0.1"}),
        ("depth", {"format": "jpeg"}),
        ("photo", {"version": "huge"}),
    ],
)
def test_bad_parameters_are_json_400s(
    runner: Runner, items: dict[str, str], path: str, query: dict[str, str]
) -> None:
    response = runner.call("GET", f"/api/media/{items['png']}/{path}", params=query, headers=IMAGE)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_deleted_item_has_no_files_left_to_serve(runner: Runner) -> None:
    media_item_id = runner.upload("gone.png", _png(120, 90), "image/png")
    assert runner.wait_finished(media_item_id)["processing_status"] == "completed"
    assert runner.call("GET", f"/api/media/{media_item_id}/stereo", headers=IMAGE).status_code == 200

    assert runner.call("DELETE", f"/api/media/{media_item_id}").status_code == 204

    for path in ("photo", "stereo", "depth", "urls"):
        response = runner.call("GET", f"/api/media/{media_item_id}/{path}", headers=IMAGE)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


def test_an_imported_12_mp_photo_ends_with_three_tiers_fetched_by_name(
    runner: Runner, immich: FakeImmich
) -> None:
    asset = immich.add_image(width=4000, height=3000, file_name="wide.jpg")
    imported = runner.call("POST", f"/api/immich/import/{asset}")
    assert imported.status_code == 202, imported.text
    media_item_id = imported.json()["mediaItemId"]

    status = runner.wait_finished(media_item_id)

    assert status["processing_status"] == "completed", status
    assert status["preview_depth_map_id"] == f"{media_item_id}:preview"
    sizes = {}
    for version in ("thumbnail", "preview", "full_resolution"):
        depth = runner.call(
            "GET", f"/api/media/{media_item_id}/depth", params={"version": version}, headers={"Accept": "*/*"}
        )  # followed to S3 where large, as a browser's fetch() would
        assert depth.status_code == 200, depth.text
        assert (
            depth.headers.get("x-amz-meta-depth-map-version", depth.headers.get("X-Depth-Map-Version"))
            == version
        )
        sizes[version] = Image.open(io.BytesIO(depth.content)).size
    assert sizes["preview"] == (3072, 2304)
    assert sizes["full_resolution"] == (4000, 3000)
    assert max(sizes["thumbnail"]) < 3072
