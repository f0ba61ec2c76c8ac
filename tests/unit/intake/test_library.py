"""GET /api/immich/assets: the Immich library's images, newest first, a page at a time, each with what
we hold of it, against a fake Immich that answers as its OpenAPI document says."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from pynamodb.connection.base import Connection

from functions.immich_import import app as import_api
from immichvr_depth.intake import library
from immichvr_depth.intake.immich import ImmichClient
from immichvr_depth.intake.immich_import import media_item_id_for_asset
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.keys import depth_map_key
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.versions import VersionType
from immichvr_local.gateway import build_event
from immichvr_local.template import Route, Template
from tests.conftest import REPO_ROOT
from tests.fakes.fake_immich import FakeImmich
from tests.fakes.immich_openapi import validate_exchange, versions_with_spec
from tests.support.events import lambda_context
from tests.support.immich import import_via_api

IMMICH_KEY = "immich-library-key"
IMMICH_SETTINGS = {"IMMICH_READ_TIMEOUT_S": "1", "IMMICH_CONNECT_TIMEOUT_S": "1"}
PATH = "/api/immich/assets"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FIELDS = {
    "assetId",
    "filename",
    "takenAt",
    "width",
    "height",
    "mediaItemId",
    "processingStatus",
    "depthVersions",
}


def _route() -> Route:
    """The template's route; until template.yaml declares it, the one it is to declare (the local
    runner's event builder needs a route, and api_event only knows the template's)."""
    for route in Template.load().routes():
        if route.match("GET", PATH) is not None:
            return route
    return Route("GET", PATH, "ImmichImportFunction", True, re.compile(re.escape(PATH)))


ROUTE = _route()


def list_via_api(**query: str | int) -> tuple[int, dict[str, Any]]:
    """GET /api/immich/assets through the import function, as API Gateway invokes it."""
    raw_path = PATH + ("?" + urlencode(query) if query else "")
    event = build_event("GET", raw_path, {"Accept": "application/json"}, b"", ROUTE, {}, "127.0.0.1")
    response = import_api.lambda_handler(event, lambda_context("ImmichImportFunction"))
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    return int(response["statusCode"]), json.loads(response["body"])


def ids(body: dict[str, Any]) -> list[str]:
    return [asset["assetId"] for asset in body["assets"]]


def photo(immich: FakeImmich, taken: datetime, **knobs: Any) -> str:
    return immich.add_image(width=32, height=24, created_at=taken, **knobs)


def store_depth_map(media_item_id: str, version: VersionType) -> None:
    """A made map, stored as the processor stores one (file first, record last)."""
    depth_maps.store(
        depth_maps.DepthMapFile(
            media_item_id=media_item_id,
            version=version,
            key=depth_map_key(media_item_id, "IMG.jpg", version),
            body=b"\x89PNG\r\n\x1a\nnot decoded here",
            width=32,
            height=24,
            sha256="0" * 64,
            model_name="depth-anything-v2",
            model_version="small",
            input_size=518,
        )
    )


def delete_here(media_item_id: str) -> None:
    """What DELETE /api/media/{id} leaves once its files are gone: the item's tombstone."""
    item = media_items.get_item(media_item_id)
    media_items.transition(item, ProcessingStatus.DELETING)
    media_items.leave_tombstone(item)


# ---------------------------------------------------------------- what a page lists


def test_the_librarys_images_are_listed_newest_first_with_their_fields(immich: FakeImmich) -> None:
    older = photo(immich, T0 - timedelta(days=2), file_name="older.jpg")
    # Stored 2400 x 1800 with EXIF orientation 6: shown upright, 1800 wide.
    newest = immich.add_image(width=2400, height=1800, orientation=6, created_at=T0, file_name="newest.jpg")
    middle = photo(immich, T0 - timedelta(days=1), file_name="middle.jpg")
    immich.add_video(width=32, height=24, created_at=T0 + timedelta(days=1))
    photo(immich, T0 + timedelta(days=2), visibility="archive")
    photo(immich, T0 + timedelta(days=3), is_trashed=True)

    status, body = list_via_api()

    assert status == 200
    assert list(body) == ["assets", "nextCursor"]
    assert ids(body) == [newest, middle, older], "timeline images only, newest first"
    assert body["nextCursor"] is None
    first = body["assets"][0]
    assert set(first) == FIELDS
    assert first == {
        "assetId": newest,
        "filename": "newest.jpg",
        "takenAt": "2025-03-01T12:00:00Z",
        "width": 1800,
        "height": 2400,
        "mediaItemId": None,
        "processingStatus": None,
        "depthVersions": [],
    }


def test_an_imported_asset_shows_its_item_its_status_and_the_depth_versions_made(
    immich: FakeImmich,
) -> None:
    both = photo(immich, T0)
    one = photo(immich, T0 - timedelta(days=1))
    never = photo(immich, T0 - timedelta(days=2))
    for asset_id in (both, one):
        assert import_via_api(asset_id)[0] == 202
    store_depth_map(media_item_id_for_asset(both), VersionType.FULL_RESOLUTION)
    store_depth_map(media_item_id_for_asset(both), VersionType.THUMBNAIL)
    store_depth_map(media_item_id_for_asset(one), VersionType.THUMBNAIL)

    status, body = list_via_api()

    assert status == 200
    ours = {
        asset["assetId"]: (asset["mediaItemId"], asset["processingStatus"], asset["depthVersions"])
        for asset in body["assets"]
    }
    assert ours == {
        both: (media_item_id_for_asset(both), "queued", ["thumbnail", "full_resolution"]),
        one: (media_item_id_for_asset(one), "queued", ["thumbnail"]),
        never: (None, None, []),
    }


def test_an_asset_deleted_here_reads_deleted_without_an_item_until_imported_again(
    immich: FakeImmich,
) -> None:
    asset_id = photo(immich, T0)
    import_via_api(asset_id)
    store_depth_map(media_item_id_for_asset(asset_id), VersionType.THUMBNAIL)
    delete_here(media_item_id_for_asset(asset_id))

    deleted = list_via_api()[1]["assets"][0]
    assert import_via_api(asset_id)[0] == 202
    again = list_via_api()[1]["assets"][0]

    # The tombstone's id would name nothing any route answers; `deleted` says an import is explicit.
    assert (deleted["mediaItemId"], deleted["processingStatus"], deleted["depthVersions"]) == (
        None,
        "deleted",
        [],
    )
    assert (again["mediaItemId"], again["processingStatus"]) == (media_item_id_for_asset(asset_id), "queued")


def test_a_page_costs_a_few_batch_reads_however_many_assets_it_lists(
    immich: FakeImmich, monkeypatch: pytest.MonkeyPatch
) -> None:
    assets = [photo(immich, T0 - timedelta(minutes=n)) for n in range(250)]
    for asset_id in assets[:3]:
        import_via_api(asset_id)
    calls: list[str] = []
    make_api_call = Connection._make_api_call

    def counted(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        calls.append(operation_name)
        return make_api_call(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counted)

    status, body = list_via_api(size=250)

    assert status == 200
    assert ids(body) == assets
    reads = [call for call in calls if call != "DescribeTable"]
    # Items: 250 keys in BatchGetItem's pages of 100; depth maps: 3 items x 2 versions in one.
    assert reads == ["BatchGetItem"] * 4


# ---------------------------------------------------------------- paging


def walk(**query: str | int) -> list[dict[str, Any]]:
    pages = []
    cursor: str | None = None
    while True:
        status, body = list_via_api(**query, **({"cursor": cursor} if cursor else {}))
        assert status == 200, body
        pages.append(body)
        cursor = body["nextCursor"]
        if cursor is None:
            return pages


def test_paging_with_size_and_cursor_walks_the_whole_library_once(immich: FakeImmich) -> None:
    library_ids = [photo(immich, T0 - timedelta(hours=n)) for n in range(7)]

    pages = walk(size=3)

    assert [len(page["assets"]) for page in pages] == [3, 3, 1]
    assert [asset_id for page in pages for asset_id in ids(page)] == library_ids


def test_a_photo_uploaded_during_a_walk_waits_for_the_next_walk(immich: FakeImmich) -> None:
    library_ids = [photo(immich, T0 - timedelta(hours=n)) for n in range(4)]
    status, first = list_via_api(size=2)
    assert status == 200
    # Taken last, so newest first it would push every later page down by one; it reaches Immich
    # just after the walk began.
    walk_began = library.position(None, first["nextCursor"]).listed_before
    late = photo(immich, T0 + timedelta(hours=1), uploaded_at=walk_began + timedelta(milliseconds=1))

    status, second = list_via_api(cursor=first["nextCursor"])

    assert status == 200
    assert ids(first) + ids(second) == library_ids
    assert second["nextCursor"] is None
    assert ids(list_via_api(size=2)[1])[0] == late, "a new walk starts with it"


def test_a_cursor_goes_on_with_its_own_size_and_refuses_another(immich: FakeImmich) -> None:
    library_ids = [photo(immich, T0 - timedelta(hours=n)) for n in range(5)]
    cursor = list_via_api(size=2)[1]["nextCursor"]

    without_size = list_via_api(cursor=cursor)
    same_size = list_via_api(cursor=cursor, size=2)
    other_size = list_via_api(cursor=cursor, size=3)

    assert ids(without_size[1]) == ids(same_size[1]) == library_ids[2:4]
    assert other_size[0] == 400
    assert other_size[1]["error"] == "invalid_request"
    assert "size" in other_size[1]["message"]


@pytest.mark.parametrize(
    "cursor",
    [
        "2",
        "abc",
        "0.100.1735732800000",
        "2.0.1735732800000",
        "2.1001.1735732800000",
        "02.100.1735732800000",
        "-2.100.1735732800000",
        "2.100.1735732800000.1",
        "2.100.",
        "9007199254740992.100.1735732800000",  # one past the last page Immich accepts
        "\uff12.100.1735732800000",  # a full-width digit, which Python's int() would read as 2
        "2.100.1735732800000\n",
        "x" * 65,
    ],
)
def test_a_cursor_this_api_did_not_hand_out_is_a_400_naming_it(immich: FakeImmich, cursor: str) -> None:
    status, body = list_via_api(cursor=cursor)

    assert status == 400
    assert body["error"] == "invalid_request"
    assert "cursor" in body["message"]
    assert immich.count("/api/search/metadata") == 0, "refused before Immich is asked"


@pytest.mark.parametrize("size", ["0", "1001", "-1", "ten", "2.5"])
def test_a_size_outside_1_to_1000_is_a_400_naming_it(immich: FakeImmich, size: str) -> None:
    status, body = list_via_api(size=size)

    assert status == 400
    assert body["error"] == "invalid_request"
    assert "size" in body["message"]


def test_sizes_1_and_1000_are_taken(immich: FakeImmich) -> None:
    library_ids = [photo(immich, T0 - timedelta(hours=n)) for n in range(2)]

    assert ids(list_via_api(size=1)[1]) == library_ids[:1]
    assert ids(list_via_api(size=1000)[1]) == library_ids


def test_the_sample_event_asks_for_a_page_the_function_answers(immich: FakeImmich) -> None:
    event = json.loads((REPO_ROOT / "events" / "immich_assets.json").read_text())
    photo(immich, T0)

    response = import_api.lambda_handler(event, lambda_context("ImmichImportFunction"))

    # Its cursor asks for the second page of 100: a library of one photo has none.
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"assets": [], "nextCursor": None}


# ---------------------------------------------------------------- Immich's errors, as the import's


def test_a_rejected_immich_key_is_the_imports_502_without_the_key(
    immich: FakeImmich, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMMICH_API_KEY", "wrong-key")
    get_settings.cache_clear()

    status, body = list_via_api()

    assert (
        (status, body["error"])
        == (import_via_api(immich.add_image())[0], "upstream_error")
        == (
            502,
            "upstream_error",
        )
    )
    assert "wrong-key" not in json.dumps(body)


def test_a_missing_search_permission_is_a_502_naming_it(immich: FakeImmich) -> None:
    immich.denied_permissions.add("asset.read")

    status, body = list_via_api()

    assert status == 502
    assert body["details"]["permission"] == "asset.read"


def test_immich_unreachable_is_the_imports_504(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMMICH_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("IMMICH_API_KEY", IMMICH_KEY)
    get_settings.cache_clear()

    status, body = list_via_api()

    assert (status, body["error"]) == (504, "upstream_timeout")


def test_without_an_immich_url_it_answers_as_the_import_does(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMMICH_URL", "")
    monkeypatch.setenv("IMMICH_API_KEY", IMMICH_KEY)
    get_settings.cache_clear()

    status, body = list_via_api()
    import_status, import_body = import_via_api("b6f0d5a2-4c3e-4f8a-9d1b-2e7c8a5f3d91")

    assert (status, body["error"]) == (import_status, import_body["error"])


# ---------------------------------------------------------------- each Immich version


@pytest.mark.parametrize("fake", versions_with_spec(), indirect=True)
def test_each_search_fits_the_spec_of_every_version_and_asks_for_newest_images_first(
    fake: FakeImmich, client: ImmichClient, exchanges: list[requests.Response], aws: dict[str, str]
) -> None:
    images = [fake.add_image(width=32, height=24, created_at=T0 - timedelta(hours=n)) for n in range(5)]
    fake.add_video(width=32, height=24)

    found: list[str] = []
    at: library.Position | None = library.position(2, None)
    while at is not None:
        page = library.list_page(client, at)
        found += [entry.asset.id for entry in page.entries]
        at = None if page.next_cursor is None else library.position(None, page.next_cursor)

    assert found == images
    sent = [json.loads(exchange.request.body or b"{}") for exchange in exchanges]
    assert [query["page"] for query in sent] == [1, 2, 3]
    for query in sent:
        assert (query["type"], query["visibility"], query["order"], query["size"]) == (
            "IMAGE",
            "timeline",
            "desc",
            2,
        )
    assert len({query["createdBefore"] for query in sent}) == 1, "one walk, one instant"
    for exchange in exchanges:
        validate_exchange(fake.version, exchange)


@pytest.mark.parametrize("fake", versions_with_spec(), indirect=True)
def test_taken_at_and_the_shown_size_are_read_in_every_version(
    fake: FakeImmich, client: ImmichClient, aws: dict[str, str]
) -> None:
    fake.add_image(width=64, height=48, orientation=6, created_at=T0)

    (entry,) = library.list_page(client, library.position(None, None)).entries

    # 1.137 keeps the size only in exifInfo, which search leaves out unless asked (see assets.py).
    shown = (None, None) if fake.version.startswith("1.") else (48, 64)
    assert (entry.asset.taken_at, (entry.asset.width, entry.asset.height)) == (T0, shown)
