"""The Immich client, against a fake Immich that answers as each supported server version would."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from immichvr_depth.intake.immich import (
    ImmichAsset,
    ImmichAssetNotFound,
    ImmichAuthError,
    ImmichClient,
    ImmichDownloadTooLarge,
    ImmichServerError,
    ImmichUnavailable,
    ImmichUpstreamError,
)
from immichvr_depth.intake.immich.assets import parse_asset
from immichvr_depth.intake.immich.errors import ImmichErrorBody
from immichvr_depth.platform.errors import AppError, InvalidRequest, UpstreamError
from immichvr_depth.platform.settings import Settings
from tests.fakes.fake_immich import VERSIONS, FakeAsset, FakeImmich, preview_size
from tests.fakes.immich_openapi import validate_exchange, versions_with_spec

IMMICH_KEY = "s3cr3t-immich-key-0123456789"


def asset_path(asset_id: str, rest: str = "") -> str:
    return f"/api/assets/{asset_id}{rest}"


# --- against Immich's OpenAPI documents -----------------------------------------------------------


@pytest.mark.parametrize("fake", versions_with_spec(), indirect=True)
def test_every_request_and_answer_validates_against_the_spec_of_that_version(
    fake: FakeImmich, client: ImmichClient, exchanges: list[requests.Response]
) -> None:
    photo = fake.add_image(width=640, height=480, orientation=6)
    video = fake.add_video(width=320, height=180)

    client.server_version()
    client.get_asset(photo)
    client.get_asset(video)
    files = {}
    with client.download_thumbnail(photo) as preview:
        files[asset_path(photo, "/thumbnail")] = preview.file.read()
    with client.download_original(photo) as original:
        files[asset_path(photo, "/original")] = original.file.read()

    assert [r.status_code for r in exchanges] == [200] * 5
    for response in exchanges:
        validate_exchange(fake.version, response, files.get(urlsplit(response.url).path))


@pytest.mark.parametrize("fake", versions_with_spec(), indirect=True)
def test_the_api_key_header_is_what_satisfies_the_specs_security_requirement(
    fake: FakeImmich, client: ImmichClient, exchanges: list[requests.Response]
) -> None:
    client.get_asset(fake.add_image(width=64, height=48))

    sent = exchanges[0].request
    assert sent.headers["x-api-key"] == IMMICH_KEY
    assert "Authorization" not in sent.headers
    assert "Cookie" not in sent.headers
    validate_exchange(fake.version, exchanges[0])


# --- metadata -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_metadata_is_read_for_every_version(fake: FakeImmich, client: ImmichClient) -> None:
    asset_id = fake.add_image(width=800, height=600, orientation=6, file_name="IMG_0042.JPG")

    asset = client.get_asset(asset_id)

    assert asset == ImmichAsset(
        id=asset_id,
        type="IMAGE",
        original_file_name="IMG_0042.JPG",
        original_mime_type="image/jpeg",
        # As a viewer shows it: the sideways original is 800 x 600 stored pixels.
        width=600,
        height=800,
        orientation=6,
        is_trashed=False,
        is_offline=False,
    )
    assert asset.stored_size == (800, 600)


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_trashed_and_offline_assets_say_so(fake: FakeImmich, client: ImmichClient) -> None:
    trashed = fake.add_image(width=64, height=48, is_trashed=True)
    offline = fake.add_image(width=64, height=48, is_offline=True)

    assert client.get_asset(trashed).is_trashed
    assert not client.get_asset(trashed).is_offline
    assert client.get_asset(offline).is_offline


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_a_video_is_reported_as_a_video(fake: FakeImmich, client: ImmichClient) -> None:
    asset = client.get_asset(fake.add_video(width=1280, height=720))

    assert (asset.type, asset.is_image, asset.original_mime_type) == ("VIDEO", False, "video/mp4")
    assert (asset.width, asset.height, asset.orientation) == (1280, 720, None)


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_the_server_version_is_asked_once(fake: FakeImmich, client: ImmichClient) -> None:
    expected = tuple(int(part) for part in fake.version.split("."))

    assert client.server_version() == expected
    assert client.server_version() == expected
    assert fake.count("/api/server/version") == 1


def test_metadata_needs_only_the_fields_it_uses_and_ignores_the_rest() -> None:
    body = {
        "type": "image",
        "originalFileName": "holiday.webp",
        "exifInfo": {"exifImageWidth": 4000.0, "exifImageHeight": 3000.0, "orientation": "8"},
        "somethingImmich4Adds": {"nested": True},
    }

    asset = parse_asset(body, "9b2e0f5c-3c1d-4a8e-b9f0-1a2b3c4d5e6f")

    assert asset.id == "9b2e0f5c-3c1d-4a8e-b9f0-1a2b3c4d5e6f"
    assert asset.type == "IMAGE"
    assert asset.original_mime_type == "image/webp"  # guessed from the name when Immich leaves it out
    assert (asset.width, asset.height, asset.orientation) == (3000, 4000, 8)
    assert not asset.is_trashed
    assert not asset.is_offline


def test_top_level_size_of_newer_versions_wins_over_exif_and_odd_values_are_dropped() -> None:
    body = {
        "type": "IMAGE",
        "originalFileName": "a.jpg",
        "width": 1200,
        "height": 1600,
        "deletedAt": "2024-05-01T00:00:00.000Z",
        "exifInfo": {"exifImageWidth": 1600, "exifImageHeight": 1200, "orientation": "Rotate 90 CW"},
    }

    asset = parse_asset(body, "9b2e0f5c-3c1d-4a8e-b9f0-1a2b3c4d5e6f")

    assert (asset.width, asset.height, asset.orientation) == (1200, 1600, None)
    assert asset.is_trashed  # no isTrashed: Immich derives it from deletedAt


@pytest.mark.parametrize(
    "body", [[], {"originalFileName": "a.jpg"}, {"type": "IMAGE"}, {"type": "", "originalFileName": "a"}]
)
def test_an_answer_without_the_fields_we_need_is_an_upstream_error(body: object) -> None:
    with pytest.raises(ImmichUpstreamError) as caught:
        parse_asset(body, "9b2e0f5c-3c1d-4a8e-b9f0-1a2b3c4d5e6f")
    assert caught.value.status == 502


def test_an_html_page_instead_of_json_is_an_upstream_error(fake: FakeImmich, client: ImmichClient) -> None:
    # What a wrong IMMICH_URL pointing at some web page looks like: 200, but not JSON.
    fake.fail_next(
        "/api/server/version", status=200, headers={"Content-Type": "text/html"}, body=b"<html>Welcome</html>"
    )
    with pytest.raises(ImmichUpstreamError, match="JSON"):
        client.server_version()


# --- downloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("preview_format", ["jpeg", "webp"])
def test_the_preview_streams_with_its_content_type_size_and_sha256(
    fake: FakeImmich, client: ImmichClient, preview_format: str
) -> None:
    asset_id = fake.add_image(width=1000, height=700, preview_format=preview_format)
    expected = fake.assets[asset_id].preview
    assert expected is not None

    with client.download_thumbnail(asset_id) as download:
        data = download.file.read()

    assert download.content_type == f"image/{preview_format}"
    assert (download.size, download.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
    assert data == expected
    assert fake.requests[-1].query == {"size": ["preview"]}


def test_the_preview_of_a_sideways_photo_is_already_upright(fake: FakeImmich, client: ImmichClient) -> None:
    asset_id = fake.add_image(width=800, height=600, orientation=6)

    with client.download_thumbnail(asset_id) as download, Image.open(download.file) as preview:
        assert preview.size == preview_size(800, 600, orientation=6) == (600, 800)
        # The red block of the stored top-left corner is at the top right once turned 90 degrees clockwise.
        pixel = preview.convert("RGB").getpixel((590, 10))
        assert isinstance(pixel, tuple)
        assert (pixel[0] > 180, pixel[1] < 80) == (True, True)


def test_the_original_streams_as_stored_unrotated_with_its_mime_type(
    fake: FakeImmich, client: ImmichClient
) -> None:
    asset_id = fake.add_image(width=800, height=600, orientation=6)
    expected = fake.assets[asset_id].original

    with client.download_original(asset_id) as download:
        assert download.file.tell() == 0
        data = download.file.read()
        download.file.seek(0)
        with Image.open(download.file) as original:
            assert original.size == (800, 600)
            assert original.getexif()[0x0112] == 6

    assert download.content_type == "image/jpeg"
    assert (download.size, download.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
    assert data == expected


def test_the_downloaded_file_is_closed_when_the_block_ends(fake: FakeImmich, client: ImmichClient) -> None:
    with client.download_original(fake.add_image(width=64, height=48)) as download:
        assert not download.file.closed
    assert download.file.closed


def test_a_download_larger_than_the_cap_is_refused_from_its_content_length(fake: FakeImmich) -> None:
    asset_id = fake.add_asset(
        FakeAsset("7d0c1e2f-3a4b-4c5d-8e6f-708192a3b4c5", os.urandom(50_000), "image/jpeg", "big.jpg")
    )
    client = ImmichClient(fake.url, IMMICH_KEY, max_download_bytes=10_000, backoff_factor=0)

    with pytest.raises(ImmichDownloadTooLarge) as caught, client.download_original(asset_id):
        pytest.fail("the block must not run")

    assert caught.value.status == 422
    assert caught.value.details["limitBytes"] == 10_000
    assert caught.value.details["contentLength"] == 50_000


def test_a_chunked_download_is_cut_off_as_soon_as_it_passes_the_cap(fake: FakeImmich) -> None:
    # No Content-Length to go by: only counting the bytes as they come reveals the size.
    body = os.urandom(4 * 1024 * 1024)
    asset_id = fake.add_asset(
        FakeAsset("7d0c1e2f-3a4b-4c5d-8e6f-708192a3b4c6", body, "image/jpeg", "big.jpg", chunked=True)
    )
    client = ImmichClient(fake.url, IMMICH_KEY, max_download_bytes=100_000, backoff_factor=0)

    with pytest.raises(ImmichDownloadTooLarge) as caught, client.download_original(asset_id):
        pytest.fail("the block must not run")

    received = caught.value.details["receivedBytes"]
    assert 100_000 < received < len(body) // 4
    assert "contentLength" not in caught.value.details


def test_a_redirect_within_the_same_server_is_followed(fake: FakeImmich, client: ImmichClient) -> None:
    asset_id = fake.add_image(width=64, height=48)
    # As Immich may send a fullsize request on to the original.
    fake.fail_next(
        asset_path(asset_id, "/thumbnail"),
        status=302,
        headers={"Location": asset_path(asset_id, "/original")},
    )

    with client.download_thumbnail(asset_id) as download:
        assert download.file.read() == fake.assets[asset_id].original


def test_a_redirect_to_another_host_is_refused_so_the_key_stays_home(
    fake: FakeImmich, client: ImmichClient
) -> None:
    asset_id = fake.add_image(width=64, height=48)
    fake.fail_next(asset_path(asset_id), status=307, headers={"Location": "http://collector.invalid/steal"})

    with pytest.raises(ImmichUpstreamError, match="another server") as caught:
        client.get_asset(asset_id)
    assert caught.value.details["redirectHost"] == "collector.invalid"


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_an_unknown_asset_is_not_found(fake: FakeImmich, client: ImmichClient) -> None:
    # Immich answers 400 "Not found or no asset.read access" for an id it does not know.
    missing = "0e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6"
    with pytest.raises(ImmichAssetNotFound) as caught:
        client.get_asset(missing)
    assert caught.value.status == 404
    assert caught.value.details["assetId"] == missing

    with pytest.raises(ImmichAssetNotFound), client.download_original(missing):
        pass


def test_an_immich_404_is_not_found_too(fake: FakeImmich, client: ImmichClient) -> None:
    asset_id = fake.add_image(width=64, height=48)
    fake.fail_next(asset_path(asset_id, "/thumbnail"), status=404, message="Asset media not found")

    with pytest.raises(ImmichAssetNotFound), client.download_thumbnail(asset_id):
        pass


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_a_rejected_api_key_is_an_auth_error(fake: FakeImmich) -> None:
    client = ImmichClient(fake.url, "not-the-key", backoff_factor=0)

    with pytest.raises(ImmichAuthError) as caught:
        client.get_asset(fake.add_image(width=64, height=48))

    assert caught.value.status == 502
    assert "Invalid API key" in caught.value.message
    assert caught.value.details["reason"] == "unauthorized"


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
@pytest.mark.parametrize(
    ("permission", "call"),
    [
        ("asset.read", lambda c, a: c.get_asset(a)),
        ("asset.view", lambda c, a: c.download_thumbnail(a).__enter__()),
        ("asset.download", lambda c, a: c.download_original(a).__enter__()),
    ],
)
def test_a_missing_permission_is_named(fake: FakeImmich, client: ImmichClient, permission: str, call) -> None:
    asset_id = fake.add_image(width=64, height=48)
    fake.denied_permissions.add(permission)

    with pytest.raises(ImmichAuthError) as caught:
        call(client, asset_id)

    assert caught.value.status == 502
    assert caught.value.details["permission"] == permission
    assert f"'{permission}' permission" in caught.value.message


@pytest.mark.parametrize(
    ("body", "message", "errors"),
    [
        # 1.x / 2.x: NestJS's body with the status repeated.
        (
            {"message": "Missing required permission: asset.read", "error": "Forbidden", "statusCode": 403},
            "Missing required permission: asset.read",
            (),
        ),
        # 1.x / 2.x validation: class-validator lists the failures as the message.
        (
            {"message": ["id must be a UUID"], "error": "Bad Request", "statusCode": 400},
            "id must be a UUID",
            ("id must be a UUID",),
        ),
        # 3.x: only the message...
        ({"message": "Not found or no asset.read access"}, "Not found or no asset.read access", ()),
        # ... or a validation failure with zod's issues.
        (
            {
                "message": "Validation failed",
                "errors": [{"code": "invalid_format", "path": ["id"], "message": "Invalid UUID"}],
            },
            "Validation failed",
            ("id: Invalid UUID",),
        ),
        ("<html>Bad gateway</html>", "Bad Gateway", ()),
        ({}, "Bad Gateway", ()),
    ],
)
def test_both_error_body_shapes_are_understood(body: object, message: str, errors: tuple[str, ...]) -> None:
    parsed = ImmichErrorBody.parse(body, fallback="Bad Gateway")
    assert (parsed.message, parsed.errors) == (message, errors)


def test_server_errors_are_retried_until_one_succeeds(fake: FakeImmich, client: ImmichClient) -> None:
    asset_id = fake.add_image(width=64, height=48)
    fake.fail_next(asset_path(asset_id), times=2, status=503)

    assert client.get_asset(asset_id).id == asset_id
    assert fake.count(asset_path(asset_id)) == 3


def test_downloads_are_retried_on_server_errors_too(fake: FakeImmich, client: ImmichClient) -> None:
    asset_id = fake.add_image(width=64, height=48)
    fake.fail_next(asset_path(asset_id, "/original"), times=1, status=502)

    with client.download_original(asset_id) as download:
        assert download.size == len(fake.assets[asset_id].original)
    assert fake.count(asset_path(asset_id, "/original")) == 2


def test_a_server_that_keeps_failing_is_a_server_error_after_the_retries(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=64, height=48)
    fake.fail_next(asset_path(asset_id), times=100, status=500)
    client = ImmichClient(fake.url, IMMICH_KEY, retries=2, backoff_factor=0)

    with pytest.raises(ImmichServerError) as caught:
        client.get_asset(asset_id)

    assert caught.value.status == 502
    assert caught.value.details["immichStatus"] == 500
    assert fake.count(asset_path(asset_id)) == 3  # the first try and two retries


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(fake: FakeImmich, client: ImmichClient, status: int) -> None:
    asset_id = fake.add_image(width=64, height=48)
    fake.fail_next(asset_path(asset_id), times=5, status=status)

    with pytest.raises(AppError):
        client.get_asset(asset_id)
    assert fake.count(asset_path(asset_id)) == 1


def test_an_unreachable_immich_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nobody listens once the socket is closed
    client = ImmichClient(
        f"http://127.0.0.1:{closed_port}", IMMICH_KEY, connect_timeout=0.5, backoff_factor=0
    )

    with pytest.raises(ImmichUnavailable) as caught:
        client.get_asset("0e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6")

    assert caught.value.status == 504
    assert caught.value.details["reason"] == "connection"


def test_a_slow_answer_is_a_timeout_and_not_retried(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=64, height=48, delay_s=5)
    client = ImmichClient(fake.url, IMMICH_KEY, read_timeout=0.3, backoff_factor=0)

    with pytest.raises(ImmichUnavailable) as caught:
        client.get_asset(asset_id)

    assert caught.value.status == 504
    assert caught.value.details["reason"] == "timeout"
    assert fake.count(asset_path(asset_id)) == 1


def test_a_download_that_stalls_midway_is_a_timeout(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=400, height=300, stall_after_bytes=1000)
    client = ImmichClient(fake.url, IMMICH_KEY, read_timeout=0.3, backoff_factor=0)

    with pytest.raises(ImmichUnavailable) as caught, client.download_original(asset_id):
        pytest.fail("the block must not run")

    assert caught.value.status == 504
    assert caught.value.details["reason"] == "timeout"


def test_an_asset_id_that_is_no_uuid_is_refused_before_any_request(
    fake: FakeImmich, client: ImmichClient
) -> None:
    with pytest.raises(InvalidRequest):
        client.get_asset("../../users/me")
    with pytest.raises(InvalidRequest), client.download_original("abc"):
        pass
    assert fake.requests == []


def test_the_api_key_never_shows_in_errors_logs_or_repr(
    fake: FakeImmich, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    asset_id = fake.add_image(width=64, height=48, delay_s=5)
    fake.fail_next(asset_path(asset_id, "/original"), times=100, status=500)
    fake.denied_permissions.add("asset.view")
    client = ImmichClient(fake.url, IMMICH_KEY, read_timeout=0.3, retries=1, backoff_factor=0)
    wrong_key = ImmichClient(fake.url, IMMICH_KEY[::-1], backoff_factor=0)
    dead = ImmichClient("http://127.0.0.1:9", IMMICH_KEY, connect_timeout=0.3, retries=0)

    errors: list[BaseException] = []
    attempts: list[Callable[[], object]] = [
        lambda: client.get_asset(asset_id),  # timeout
        lambda: client.download_original(asset_id).__enter__(),  # 5xx after retries
        lambda: client.download_thumbnail(asset_id).__enter__(),  # 403
        lambda: wrong_key.get_asset(asset_id),  # 401
        lambda: dead.get_asset(asset_id),  # unreachable
    ]
    for attempt in attempts:
        with pytest.raises(AppError) as caught:
            attempt()
        errors.append(caught.value)

    for secret in (IMMICH_KEY, IMMICH_KEY[::-1]):
        for error in errors:
            chain: BaseException | None = error
            while chain is not None:
                assert secret not in f"{chain} {chain!r}"
                chain = chain.__cause__ or chain.__context__
            assert isinstance(error, AppError)
            assert secret not in repr(error.to_body())
        assert secret not in caplog.text
        for immich in (client, wrong_key, dead):
            assert secret not in f"{immich!r} {vars(immich)}"


def test_from_settings_uses_the_configured_timeouts_and_cap(fake: FakeImmich) -> None:
    settings = dataclasses.replace(
        Settings.from_env(),
        immich_url=fake.url,
        immich_api_key=IMMICH_KEY,
        immich_connect_timeout_s=0.5,
        immich_read_timeout_s=0.3,
        max_download_bytes=1000,
    )
    client = ImmichClient.from_settings(settings)
    slow = fake.add_image(width=64, height=48, delay_s=5)

    assert client.base_url == fake.url
    with pytest.raises(ImmichUnavailable):
        client.get_asset(slow)
    with (
        pytest.raises(ImmichDownloadTooLarge),
        client.download_original(fake.add_image(width=200, height=200)),
    ):
        pass


def test_from_settings_without_an_immich_says_what_to_configure() -> None:
    settings = dataclasses.replace(Settings.from_env(), immich_url="", immich_api_key=IMMICH_KEY)

    with pytest.raises(UpstreamError, match="no Immich configured: deploy with ImmichUrl"):
        ImmichClient.from_settings(settings)


@pytest.mark.parametrize("suffix", ["", "/", "/api", "/api/"])
def test_the_url_may_be_the_server_or_its_api(fake: FakeImmich, suffix: str) -> None:
    client = ImmichClient(fake.url + suffix, IMMICH_KEY)
    assert client.server_version() == (2, 7, 5)


def test_a_key_a_header_cannot_carry_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="API key") as caught:
        ImmichClient("http://immich.local", IMMICH_KEY + "\n")
    assert IMMICH_KEY not in str(caught.value)


def test_a_missing_version_endpoint_is_an_upstream_error_not_a_missing_asset(
    fake: FakeImmich, client: ImmichClient
) -> None:
    # Servers older than 1.106 had no /api/server/version: whatever answers 404 there is not our Immich.
    fake.fail_next("/api/server/version", status=404, message="Cannot GET /api/server/version")
    with pytest.raises(ImmichUpstreamError, match="404"):
        client.server_version()


def test_the_repr_names_the_server_but_no_credentials() -> None:
    client = ImmichClient("https://user:pw@photos.example.org/api", IMMICH_KEY)
    assert (
        repr(client)
        == "ImmichClient(base_url='https://photos.example.org', connect_timeout=5, read_timeout=30)"
    )


def test_every_immich_error_is_an_app_error_with_the_documented_status() -> None:
    assert ImmichAssetNotFound("x").status == 404
    assert ImmichAuthError("x").status == 502
    assert ImmichUnavailable("x").status == 504
    assert ImmichDownloadTooLarge("x").status == 422
    assert ImmichServerError("x").status == 502
