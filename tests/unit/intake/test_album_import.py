"""POST /api/immich/import/album/{albumId}: one queued import per image of the album."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from functions.immich_import import app as import_api
from immichvr_depth.intake.immich import ImmichAlbumNotFound, ImmichClient
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from tests.fakes.fake_immich import VERSIONS, FakeImmich
from tests.fakes.immich_openapi import validate_exchange, versions_with_spec
from tests.support.events import api_event, lambda_context
from tests.support.immich import immich_for_functions

KEY = "immich-album-key"


@pytest.fixture(params=VERSIONS)
def immich(
    request: pytest.FixtureRequest, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeImmich]:
    with immich_for_functions(monkeypatch, version=request.param, api_key=KEY) as fake:
        yield fake


def import_album(album_id: str) -> tuple[int, dict[str, Any]]:
    response = import_api.lambda_handler(
        api_event("POST", f"/api/immich/import/album/{album_id}", headers={"x-api-key": "k"}),
        lambda_context("ImmichImportFunction"),
    )
    return response["statusCode"], json.loads(response["body"])


def queued_imports() -> list[dict[str, Any]]:
    url, found = get_settings().import_queue_url, []
    while messages := aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += [json.loads(message["Body"]) for message in messages]
    return found


def test_every_image_of_the_album_is_queued_once(immich: FakeImmich) -> None:
    photos = [immich.add_image(width=32, height=24) for _ in range(12)]
    video = immich.add_video(width=32, height=24)
    immich.add_image(width=32, height=24)  # not in the album
    album = immich.add_album("Summer", [*photos, video])

    status, body = import_album(album)

    assert status == 202
    assert (body["albumId"], body["albumName"], body["queued"]) == (album, "Summer", 12)
    queued = queued_imports()
    assert sorted(message["assetId"] for message in queued) == sorted(photos)
    assert {message["source"] for message in queued} == {"album"}
    # The album is read without its asset list (1.x/2.x would send every asset otherwise).
    (read,) = [r for r in immich.requests if r.path == f"/api/albums/{album}"]
    assert read.query.get("withoutAssets", ["true"]) == ["true"]


def test_archived_photos_of_the_album_are_imported_too(immich: FakeImmich) -> None:
    archived = immich.add_image(width=32, height=24, visibility="archive")
    album = immich.add_album("Old", [archived])

    assert import_album(album)[1]["queued"] == 1


def test_an_unknown_album_is_a_404_and_queues_nothing(immich: FakeImmich) -> None:
    status, body = import_album(str(uuid.uuid4()))

    assert status == 404
    assert body["error"] == "not_found"
    assert "album" in body["message"]
    assert queued_imports() == []


def test_an_album_id_that_is_not_a_uuid_is_a_400(immich: FakeImmich) -> None:
    status, body = import_album("summer-2024")

    assert (status, body["error"]) == (400, "invalid_request")
    assert immich.requests == []


def test_a_key_without_album_read_names_the_permission(immich: FakeImmich) -> None:
    immich.denied_permissions.add("album.read")
    album = immich.add_album("Private", [immich.add_image(width=32, height=24)])

    status, body = import_album(album)

    assert status == 502
    assert body["details"]["permission"] == "album.read"


@pytest.mark.parametrize("version", versions_with_spec())
def test_reading_an_album_fits_the_spec_of_each_version(version: str) -> None:
    exchanges: list[requests.Response] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: exchanges.append(response))
    with FakeImmich(version, KEY) as fake, ImmichClient(fake.url, KEY, session=session) as client:
        album_id = fake.add_album("Summer", [fake.add_image(width=32, height=24)])
        album = client.get_album(album_id)
        with pytest.raises(ImmichAlbumNotFound):
            client.get_album(str(uuid.uuid4()))

    assert (album.id, album.name, album.asset_count) == (album_id, "Summer", 1)
    assert [r.status_code for r in exchanges] == [200, 200, 400]  # version, album, unknown album
    for exchange in exchanges:
        validate_exchange(version, exchange)
