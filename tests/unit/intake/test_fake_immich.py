"""The fake Immich answers as Immich does: bodies that fit each version's OpenAPI document, Immich's
error bodies and status codes, previews made like Immich makes them, and the misbehaviours tests need."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest
import requests
from PIL import Image

from tests.fakes.fake_immich import DEMO_ASSETS, VERSIONS, FakeImmich, preview_size
from tests.fakes.immich_openapi import (
    REPO_ROOT,
    load_spec_dict,
    openapi,
    spec_path,
    validate_exchange,
    versions_with_spec,
)

IMMICH_KEY = "fake-test-key"


def get(fake: FakeImmich, path: str, key: str | None = IMMICH_KEY, **params: str) -> requests.Response:
    headers = {"x-api-key": key} if key is not None else {}
    return requests.get(f"{fake.url}{path}", params=params, headers=headers, timeout=5)


# --- the OpenAPI documents ------------------------------------------------------------------------


@pytest.mark.parametrize("fake", versions_with_spec(), indirect=True)
def test_every_answer_fits_the_spec_of_the_emulated_version(fake: FakeImmich) -> None:
    photo = fake.add_image(width=640, height=480, orientation=6)
    webp = fake.add_image(width=320, height=240, preview_format="webp", is_trashed=True)
    offline = fake.add_image(width=64, height=48, is_offline=True)
    video = fake.add_video(width=320, height=180, seconds=2.5)

    answers = [get(fake, "/api/server/version", key=None)]
    for asset_id in (photo, webp, offline, video):
        answers.append(get(fake, f"/api/assets/{asset_id}"))
        answers.append(get(fake, f"/api/assets/{asset_id}/thumbnail", size="preview"))
    answers.append(get(fake, f"/api/assets/{photo}/thumbnail", size="thumbnail"))
    answers += [get(fake, f"/api/assets/{asset_id}/original") for asset_id in (photo, webp, video)]

    assert [a.status_code for a in answers] == [200] * len(answers)
    for answer in answers:
        validate_exchange(fake.version, answer)


@pytest.mark.parametrize("version", versions_with_spec())
def test_spec_validation_does_catch_a_body_that_breaks_the_document(version: str) -> None:
    with FakeImmich(version, IMMICH_KEY) as fake:
        answer = get(fake, f"/api/assets/{fake.add_image(width=64, height=48)}")
    broken = {k: v for k, v in answer.json().items() if k != "originalFileName"}
    answer._content = json.dumps(broken).encode()

    with pytest.raises(Exception, match="originalFileName"):
        validate_exchange(version, answer)


@pytest.mark.parametrize("version", versions_with_spec())
def test_spec_validation_does_check_the_api_key_requirement(version: str) -> None:
    from openapi_core.contrib.requests import RequestsOpenAPIRequest
    from openapi_core.validation.request.exceptions import SecurityValidationError

    asset = "http://immich.local/api/assets/0e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6"
    without_key = requests.Request("GET", asset).prepare()
    with pytest.raises(SecurityValidationError):
        openapi(version).validate_request(RequestsOpenAPIRequest(without_key))
    with_key = requests.Request("GET", asset, headers={"x-api-key": IMMICH_KEY}).prepare()
    openapi(version).validate_request(RequestsOpenAPIRequest(with_key))


@pytest.mark.parametrize("version", versions_with_spec())
def test_the_documents_bearer_scheme_is_only_valid_once_its_stray_in_key_is_dropped(version: str) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    def document(bearer: dict[str, Any]) -> dict[str, Any]:
        return {
            "openapi": "3.0.0",
            "info": {"title": "Immich", "version": version},
            "paths": {},
            "components": {"securitySchemes": {"bearer": bearer}},
        }

    raw = json.loads(spec_path(version).read_text(encoding="utf-8"))
    with pytest.raises(OpenAPIValidationError):
        validate(document(raw["components"]["securitySchemes"]["bearer"]))
    validate(document(load_spec_dict(version)["components"]["securitySchemes"]["bearer"]))


# --- auth and errors, as Immich answers them ------------------------------------------------------


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_no_key_or_a_wrong_key_is_401_in_the_versions_error_shape(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=64, height=48)

    missing = get(fake, f"/api/assets/{asset_id}", key=None)
    wrong = get(fake, f"/api/assets/{asset_id}", key="nope")

    assert (missing.status_code, missing.json()["message"]) == (401, "Authentication required")
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Invalid API key")
    if fake.version.startswith("3."):
        assert set(wrong.json()) == {"message"}
    else:
        assert wrong.json()["statusCode"] == 401
        assert wrong.json()["error"] == "Unauthorized"


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_a_denied_permission_is_403_naming_it(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=64, height=48)
    fake.assets[asset_id].denied_permissions.add("asset.download")

    denied = get(fake, f"/api/assets/{asset_id}/original")

    assert denied.status_code == 403
    assert denied.json()["message"] == "Missing required permission: asset.download"
    assert get(fake, f"/api/assets/{asset_id}").status_code == 200


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_an_unknown_asset_is_400_not_found_or_no_access(fake: FakeImmich) -> None:
    unknown = "0e1d2c3b-4a59-4687-9a0b-c1d2e3f4a5b6"

    for path, permission in [
        ("", "asset.read"),
        ("/thumbnail", "asset.view"),
        ("/original", "asset.download"),
    ]:
        answer = get(fake, f"/api/assets/{unknown}{path}")
        assert answer.status_code == 400
        assert answer.json()["message"] == f"Not found or no {permission} access"


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_an_id_that_is_no_uuid_fails_validation_in_the_versions_shape(fake: FakeImmich) -> None:
    answer = get(fake, "/api/assets/not-a-uuid")

    assert answer.status_code == 400
    if fake.version.startswith("3."):
        assert answer.json()["message"] == "Validation failed"
        assert answer.json()["errors"][0]["path"] == ["id"]
    else:
        assert answer.json()["message"] == ["id must be a UUID"]


def test_an_offline_assets_original_is_a_500_like_a_missing_file(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=64, height=48, is_offline=True)

    assert get(fake, f"/api/assets/{asset_id}/original").status_code == 500
    assert get(fake, f"/api/assets/{asset_id}/thumbnail", size="preview").status_code == 200


def test_scripted_failures_come_first_then_normal_answers_and_every_request_is_counted(
    fake: FakeImmich,
) -> None:
    asset_id = fake.add_image(width=64, height=48)
    path = f"/api/assets/{asset_id}"
    fake.fail_next(path, times=2, status=503)

    assert [get(fake, path).status_code for _ in range(3)] == [503, 503, 200]
    assert fake.count(path) == 3
    assert fake.count("/api/server/version") == 0


# --- files ----------------------------------------------------------------------------------------


def test_the_preview_is_made_like_immichs_upright_and_covering_1440(fake: FakeImmich) -> None:
    # fit "outside": the short side becomes 1440, the long side follows; EXIF 6 turns 4000x3000 upright.
    asset_id = fake.add_image(width=4000, height=3000, orientation=6)

    answer = get(fake, f"/api/assets/{asset_id}/thumbnail", size="preview")

    assert answer.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(answer.content)) as preview:
        assert preview.format == "JPEG"
        assert preview.size == preview_size(4000, 3000, orientation=6) == (1440, 1920)


def test_a_small_photo_is_not_enlarged_for_its_preview(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=1000, height=700, preview_format="webp")

    answer = get(fake, f"/api/assets/{asset_id}/thumbnail", size="preview")

    assert answer.headers["Content-Type"] == "image/webp"
    with Image.open(io.BytesIO(answer.content)) as preview:
        assert (preview.format, preview.size) == ("WEBP", (1000, 700))


def test_the_original_is_sent_as_stored_with_its_mime_type_and_length(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=800, height=600, orientation=6)

    answer = get(fake, f"/api/assets/{asset_id}/original")

    assert answer.content == fake.assets[asset_id].original
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert int(answer.headers["Content-Length"]) == len(answer.content)
    with Image.open(io.BytesIO(answer.content)) as original:
        assert original.size == (800, 600)
        assert original.getexif()[0x0112] == 6


def test_a_chunked_asset_is_sent_without_a_content_length(fake: FakeImmich) -> None:
    asset_id = fake.add_image(width=400, height=300, chunked=True)

    answer = get(fake, f"/api/assets/{asset_id}/original")

    assert "Content-Length" not in answer.headers
    assert answer.headers["Transfer-Encoding"] == "chunked"
    assert answer.content == fake.assets[asset_id].original


@pytest.mark.parametrize("fake", VERSIONS, indirect=True)
def test_asset_json_carries_each_versions_own_fields(fake: FakeImmich) -> None:
    video = get(fake, f"/api/assets/{fake.add_video(width=1280, height=720, seconds=2.5)}").json()

    assert video["type"] == "VIDEO"
    assert video["exifInfo"]["exifImageWidth"] == 1280
    if fake.version.startswith("1."):
        assert "width" not in video
        assert "createdAt" not in video
    else:
        assert (video["width"], video["height"]) == (1280, 720)
    if fake.version.startswith("3."):
        assert video["duration"] == 2500
        assert "deviceId" not in video
    else:
        assert video["duration"] == "0:00:02.500000"


@pytest.mark.slow
def test_it_runs_standalone_and_prints_its_port_and_seeded_assets() -> None:
    command = [
        sys.executable,
        "-m",
        "tests.fakes.fake_immich",
        "--port",
        "0",
        "--api-key",
        IMMICH_KEY,
        "--seed-demo",
    ]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["assets"] == DEMO_ASSETS
        assert started["url"] == f"http://127.0.0.1:{started['port']}"
        answer = requests.get(
            f"{started['url']}/api/assets/{DEMO_ASSETS['portrait_exif6']}",
            headers={"x-api-key": IMMICH_KEY},
            timeout=5,
        )
        assert answer.json()["exifInfo"]["orientation"] == "6"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0
