"""Searching Immich page by page, and the scheduled sync that queues what is new since its last run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from functions.immich_import_worker import app as worker
from functions.immich_sync import app as sync_function
from immichvr_depth.intake.immich import ImmichClient
from immichvr_depth.intake.sync import CURSOR_OVERLAP, advance_cursor, read_cursor, run_sync
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.tables import MediaItem
from immichvr_local.worker import sqs_event
from tests.fakes.fake_immich import FakeImmich
from tests.fakes.immich_openapi import REPO_ROOT, validate_exchange, versions_with_spec
from tests.support.events import lambda_context

IMMICH_KEY = "immich-sync-key"
FAKE_IMMICH_VERSION = "3.1.0"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- the client's search


def add_images(fake: FakeImmich, count: int, updated_at: datetime, **knobs: Any) -> list[str]:
    return [fake.add_image(width=32, height=24, updated_at=updated_at, **knobs) for _ in range(count)]


@pytest.mark.parametrize("fake", versions_with_spec(), indirect=True)
def test_search_follows_every_page_and_each_exchange_fits_the_spec(
    fake: FakeImmich, client: ImmichClient, exchanges: list[requests.Response]
) -> None:
    images = add_images(fake, 5, T0)
    fake.add_video(width=32, height=24)

    found = [asset.id for asset in client.search_assets(page_size=2)]

    assert sorted(found) == sorted(images)
    pages = [json.loads(r.request.body or b"{}")["page"] for r in exchanges]
    assert pages == [1, 2, 3]
    assert [r.json()["assets"]["nextPage"] for r in exchanges] == ["2", "3", None]
    for exchange in exchanges:
        validate_exchange(fake.version, exchange)


def test_search_respects_updated_after(fake: FakeImmich, client: ImmichClient) -> None:
    add_images(fake, 2, T0 - timedelta(hours=1))
    recent = add_images(fake, 2, T0 + timedelta(minutes=1))

    found = {asset.id for asset in client.search_assets(updated_after=T0)}

    assert found == set(recent)
    sent = json.loads(fake.requests[-1].body)
    assert sent["updatedAfter"] == "2025-03-01T12:00:00.000Z"
    assert (sent["type"], sent["visibility"]) == ("IMAGE", "timeline")


@pytest.mark.parametrize("fake", versions_with_spec(), indirect=True)
def test_search_by_album_keeps_only_that_albums_photos(
    fake: FakeImmich, client: ImmichClient, exchanges: list[requests.Response]
) -> None:
    inside = add_images(fake, 3, T0)
    add_images(fake, 2, T0)
    album = fake.add_album("Holidays", inside[:2])

    found = {asset.id for asset in client.search_assets(album_ids=[album], page_size=1)}

    assert found == set(inside[:2])
    for exchange in exchanges:
        validate_exchange(fake.version, exchange)


def test_search_leaves_out_the_trash_and_the_archive_unless_asked(
    fake: FakeImmich, client: ImmichClient
) -> None:
    (shown,) = add_images(fake, 1, T0)
    (archived,) = add_images(fake, 1, T0, visibility="archive")
    add_images(fake, 1, T0, is_trashed=True)

    assert {a.id for a in client.search_assets()} == {shown}
    assert {a.id for a in client.search_assets(visibility=None)} == {shown, archived}


def test_a_next_page_that_points_backwards_is_refused(fake: FakeImmich, client: ImmichClient) -> None:
    looping = {"albums": {"total": 0, "count": 0, "items": [], "facets": []}}
    looping["assets"] = {"total": 0, "count": 0, "items": [], "facets": [], "nextPage": "1"}
    fake.fail_next("/api/search/metadata", status=200, body=json.dumps(looping).encode())

    with pytest.raises(Exception, match="points back"):
        list(client.search_assets())


# ---------------------------------------------------------------- the scheduled sync


def sync(now: datetime) -> int:
    settings = get_settings()
    with ImmichClient.from_settings(settings) as client:
        return run_sync(client, settings, now=now).queued


def drain_imports() -> list[str]:
    """Every queued import message's asset id, handed to the import worker as Lambda would."""
    queue = get_settings().import_queue_url
    arn = aws.sqs().get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    asset_ids = []
    while messages := aws.sqs().receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        asset_ids += [json.loads(message["Body"])["assetId"] for message in messages]
        response = worker.lambda_handler(
            sqs_event(messages, arn), lambda_context("ImmichImportWorkerFunction")
        )
        assert response["batchItemFailures"] == []
        for message in messages:
            aws.sqs().delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return asset_ids


def test_a_first_sync_looks_back_one_interval_and_stores_its_start(immich: FakeImmich) -> None:
    interval = timedelta(minutes=get_settings().immich_sync_interval_minutes)
    (recent,) = add_images(immich, 1, T0 - interval / 2)
    add_images(immich, 1, T0 - interval - CURSOR_OVERLAP - timedelta(minutes=1))  # before the look-back
    immich.add_video(width=32, height=24, updated_at=T0)

    assert sync(T0) == 1

    assert drain_imports() == [recent]
    assert read_cursor() == T0


def test_a_second_sync_queues_only_what_changed_since_and_nothing_is_imported_twice(
    immich: FakeImmich,
) -> None:
    first = add_images(immich, 3, T0 - timedelta(minutes=5))
    assert sync(T0) == 3
    drain_imports()

    later = T0 + timedelta(minutes=15)
    (new,) = add_images(immich, 1, T0 + timedelta(minutes=10))
    (edge,) = add_images(immich, 1, T0 - CURSOR_OVERLAP / 2)  # seen by both runs: inside the overlap
    assert sync(later) == 2
    assert sorted(drain_imports()) == sorted([new, edge])
    assert read_cursor() == later

    # Nothing new: a third run queues nothing; every asset is one media item.
    assert sync(later + timedelta(minutes=15)) == 0
    items = {item.immich_asset_id for item in MediaItem.scan()}
    assert items == {*first, new, edge}
    assert MediaItem.count() == 5


def test_the_cursor_never_moves_backwards(immich: FakeImmich) -> None:
    assert advance_cursor(T0, queued=0) is True
    assert (
        advance_cursor(T0 - timedelta(minutes=1), queued=0) is False
    )  # an overlapping run that began earlier
    assert read_cursor() == T0
    assert advance_cursor(T0 + timedelta(minutes=1), queued=0) is True


def test_the_sync_can_be_limited_to_albums(immich: FakeImmich, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = add_images(immich, 4, T0 - timedelta(minutes=1))
    holidays = immich.add_album("Holidays", photos[:1])
    family = immich.add_album("Family", photos[1:3])
    monkeypatch.setenv("IMMICH_SYNC_ALBUM_IDS", f"{holidays}, {family}")
    get_settings.cache_clear()

    assert sync(T0) == 3

    assert sorted(drain_imports()) == sorted(photos[:3])


def test_the_scheduled_function_runs_the_sync_and_skips_without_immich(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = json.loads((REPO_ROOT / "events" / "immich_sync_schedule.json").read_text())
    monkeypatch.setenv("IMMICH_URL", "")
    get_settings.cache_clear()

    assert sync_function.lambda_handler(event, lambda_context("ImmichSyncFunction")) == {
        "skipped": True,
        "queued": 0,
    }


def test_the_scheduled_function_reports_what_it_queued(immich: FakeImmich) -> None:
    add_images(immich, 2, datetime.now(UTC) - timedelta(minutes=1))

    result = sync_function.lambda_handler(
        {"detail-type": "Scheduled Event"}, lambda_context("ImmichSyncFunction")
    )

    assert (result["skipped"], result["found"], result["queued"], result["cursorMoved"]) == (
        False,
        2,
        2,
        True,
    )
