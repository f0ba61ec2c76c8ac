"""File names outside ASCII come back from the API exactly as they were given, whether the photo was
uploaded or imported from Immich; names with control characters (a CR-LF would inject a header) or
bidirectional controls (they disguise an extension) are refused by the upload ticket with a 400."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.media_api import app as media_api
from tests.fakes.fake_immich import FakeImmich
from tests.support.events import api_event, lambda_context
from tests.support.images import jpeg_bytes
from tests.support.immich import import_via_api
from tests.unit.intake.test_uploads import ingest, presign, s3_put_event, upload_through_ticket

# A stuck decode must fail the test, not hold the suite.
pytestmark = pytest.mark.timeout(60)

KEPT = {
    "emoji": "🌅 sunset at the lake.jpg",
    "japanese": "東京タワー.jpg",
    "arabic, right to left": "صورة العائلة.jpg",
    "accents, percent and hash": "Ünïcödé 100% #1.jpg",
    "a combining accent": "cafe\u0301.jpg",
    "quotes and a semicolon": 'it\'s "fine"; really.jpg',
}
REFUSED = {
    "a right-to-left override": "photo\u202egpj.exe",
    "a header injection": "a.jpg\r\nX-Injected: yes",
    "a tab": "holiday\tphoto.jpg",
    "a NUL": "a\x00.jpg",
    "a first-strong isolate": "\u2068gpj.exe",
    "DEL": "a\x7f.jpg",
}
IMMICH_KEY = "immich-unicode-key"


def get_item(media_item_id: str) -> dict[str, Any]:
    response = media_api.lambda_handler(
        api_event("GET", f"/api/media/{media_item_id}"), lambda_context("MediaApiFunction")
    )
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = json.loads(response["body"])
    return body


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("name", sorted(KEPT))
def test_an_uploaded_photo_keeps_its_name_exactly(name: str) -> None:
    photo = jpeg_bytes(64, 48)
    status, ticket = presign(filename=KEPT[name], contentType="image/jpeg", size=len(photo))
    assert status == 201
    assert upload_through_ticket(ticket, photo, "image/jpeg").status_code in {200, 204}

    (outcome,) = ingest(s3_put_event(ticket["key"]))["ingested"]

    assert outcome["status"] == "queued"
    assert get_item(ticket["mediaItemId"])["filename"] == KEPT[name]
    assert ticket["key"].isascii()


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_name_with_control_or_bidirectional_characters_gets_no_ticket(name: str) -> None:
    status, body = presign(filename=REFUSED[name], contentType="image/jpeg", size=100)

    assert status == 400
    assert body["error"] == "invalid_request"
    assert "control" in body["message"]


@pytest.mark.parametrize("name", sorted(KEPT))
def test_an_imported_photo_keeps_its_name_exactly(immich: FakeImmich, name: str) -> None:
    asset_id = immich.add_image(width=64, height=48, file_name=KEPT[name])

    status, body = import_via_api(asset_id)

    assert status == 202, body
    assert body["filename"] == KEPT[name]
    assert get_item(body["mediaItemId"])["filename"] == KEPT[name]
