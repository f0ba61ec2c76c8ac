"""POST /api/media/{id}/depth/regenerate: a depth map made again replaces the old one atomically, once
per request, however often or concurrently the request's message is delivered."""

from __future__ import annotations

import base64

import pytest

from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.keys import depth_map_key
from immichvr_depth.store.processing_queue import ProcessingMessage
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord
from immichvr_depth.store.versions import VersionType
from tests.support.concurrency import run_concurrently
from tests.support.depth import (
    ChangingBackend,
    call,
    completed_item,
    header,
    json_body,
    keys_under,
    receive_all,
    run_processor,
)

ITEM_ID = "6c1e4f0a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
MISSING_ID = "7e1d9a55-52b8-4d6f-9f61-2a0c4b3f8e10"
FULL = VersionType.FULL_RESOLUTION

pytestmark = pytest.mark.usefixtures("aws")


def full_record() -> DepthMapRecord:
    record = depth_maps.find(ITEM_ID, FULL)
    assert record is not None
    return record


def download(version: str = "full_resolution") -> dict[str, object]:
    return call("GET", f"/api/media/{ITEM_ID}/depth", query={"version": version})


def regenerate(version: str | None = None) -> dict[str, object]:
    query = {"version": version} if version else None
    return call("POST", f"/api/media/{ITEM_ID}/depth/regenerate", query=query)


def test_a_regeneration_is_accepted_and_queues_the_versions_with_the_generation_they_replace() -> None:
    completed_item(ITEM_ID, ChangingBackend())

    response = regenerate("full_resolution")

    assert response["statusCode"] == 202
    body = json_body(response)
    assert (body["mediaItemId"], body["processingStatus"], body["versions"]) == (
        ITEM_ID,
        "queued",
        ["full_resolution"],
    )
    assert body["replacingGenerations"] == {"full_resolution": 0}
    (message,) = receive_all()
    assert ProcessingMessage.from_json(message["Body"]) == ProcessingMessage(ITEM_ID, {FULL: 0})
    assert media_items.get_item(ITEM_ID).status == "queued"


def test_without_a_version_every_version_is_regenerated(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ChangingBackend()
    completed_item(ITEM_ID, backend)
    before = {record.version: record.checksum for record in DepthMapRecord.query(ITEM_ID)}

    assert json_body(regenerate())["versions"] == ["thumbnail", "full_resolution"]
    run_processor(receive_all(), backend, monkeypatch)

    after = {record.version: (record.checksum, record.generation) for record in DepthMapRecord.query(ITEM_ID)}
    assert after[VersionType.THUMBNAIL][1] == after[FULL][1] == 1
    assert after[VersionType.THUMBNAIL][0] != before[VersionType.THUMBNAIL]
    assert after[FULL][0] != before[FULL]
    assert media_items.get_item(ITEM_ID).status == "completed"


def test_the_new_map_replaces_the_old_atomically_and_readers_always_get_a_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = ChangingBackend()
    item = completed_item(ITEM_ID, backend)
    old = full_record()
    old_etag = header(download(), "ETag")
    old_png = base64.b64decode(str(download()["body"]))
    assert old.file_path == depth_map_key(ITEM_ID, item.filename, FULL, 0)  # today's key
    regenerate("full_resolution")

    # Read the map at each step of the replacement: after the new file is written (record not moved
    # yet), and after the record moved (old file not deleted yet).
    seen: dict[str, tuple[object, str | None]] = {}
    transactions: list[str] = []
    real_record_from_file = depth_maps._record_from_stored_file
    real_write = depth_maps._write_while_item_exists
    real_delete = depth_maps.delete_file

    def after_new_file(*args: object) -> DepthMapRecord:
        response = download()
        seen["new file written"] = (response["statusCode"], header(response, "ETag"))
        return real_record_from_file(*args)  # type: ignore[arg-type]

    def one_write(*args: object) -> None:
        transactions.append("write")
        real_write(*args)  # type: ignore[arg-type]

    def before_old_file_deleted(key: str) -> None:
        response = download()
        seen["record moved"] = (response["statusCode"], header(response, "ETag"))
        real_delete(key)

    monkeypatch.setattr(depth_maps, "_record_from_stored_file", after_new_file)
    monkeypatch.setattr(depth_maps, "_write_while_item_exists", one_write)
    monkeypatch.setattr(depth_maps, "delete_file", before_old_file_deleted)
    run_processor(receive_all(), backend, monkeypatch)

    new = full_record()
    assert new.generation == 1
    assert new.file_path == depth_map_key(ITEM_ID, item.filename, FULL, 1)
    assert transactions == ["write"]  # the record moved in one conditional write
    assert keys_under(f"depth-maps/{ITEM_ID}/") == {
        depth_map_key(ITEM_ID, item.filename, VersionType.THUMBNAIL, 0),
        new.file_path,
    }
    assert seen["new file written"] == (200, old_etag)  # still the old map
    assert seen["record moved"] == (200, f'"{new.checksum}"')  # already the new one
    after = download()
    assert header(after, "ETag") == f'"{new.checksum}"' != old_etag
    assert base64.b64decode(str(after["body"])) != old_png


def test_a_reader_holding_the_replaced_record_reads_the_new_file(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ChangingBackend()
    completed_item(ITEM_ID, backend)
    old = full_record()
    regenerate("full_resolution")
    run_processor(receive_all(), backend, monkeypatch)
    new = full_record()

    # The reader counted its access on the old record just before the switch; its file is gone since.
    monkeypatch.setattr(depth_maps, "record_access", lambda *_: old)
    response = download()

    assert response["statusCode"] == 200
    assert header(response, "ETag") == f'"{new.checksum}"'


def test_redelivered_and_concurrent_deliveries_make_one_new_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = ChangingBackend()
    completed_item(ITEM_ID, backend)
    regenerate("full_resolution")
    (message,) = receive_all()
    request = ProcessingMessage.from_json(message["Body"])
    # A lost race is a status conflict, which SQS retries.
    errors = run_concurrently(lambda: process_media_item(ITEM_ID, backend, request.regenerate), times=3)
    calls_after_race = backend.calls
    outcome = process_media_item(ITEM_ID, backend, request.regenerate)  # a later redelivery

    assert all(isinstance(error, media_items.StatusConflict) for error in errors), errors
    assert outcome.made == ()
    assert backend.calls == calls_after_race  # nothing made again
    record = full_record()
    assert record.generation == 1
    files = keys_under(f"depth-maps/{ITEM_ID}/")
    assert len(files) == 2  # the thumbnail's and the new full-resolution map: no orphan
    assert record.file_path in files
    head = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=record.file_path)
    assert head["Metadata"]["sha256"] == record.checksum
    assert media_items.get_item(ITEM_ID).status == "completed"


def test_an_old_request_delivered_late_skips_what_a_newer_one_still_replaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = ChangingBackend()
    completed_item(ITEM_ID, backend)
    regenerate("full_resolution")
    (first,) = receive_all()
    run_processor([first], backend, monkeypatch)
    aws.sqs().delete_message(
        QueueUrl=get_settings().processing_queue_url, ReceiptHandle=first["ReceiptHandle"]
    )
    assert json_body(regenerate("full_resolution"))["replacingGenerations"] == {"full_resolution": 1}
    (second,) = receive_all()

    late = process_media_item(ITEM_ID, backend, ProcessingMessage.from_json(first["Body"]).regenerate)
    assert late.made == ()
    assert full_record().generation == 1
    run_processor([second], backend, monkeypatch)

    assert full_record().generation == 2
    assert len(keys_under(f"depth-maps/{ITEM_ID}/")) == 2
    assert media_items.get_item(ITEM_ID).status == "completed"


def test_a_crash_after_the_switch_leaves_no_orphan_once_redelivered(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ChangingBackend()
    item = completed_item(ITEM_ID, backend)
    regenerate("full_resolution")
    (message,) = receive_all()
    request = ProcessingMessage.from_json(message["Body"])

    def crash(key: str) -> None:
        raise ConnectionError("worker lost before deleting the old file")

    with monkeypatch.context() as patched:
        patched.setattr(depth_maps, "delete_file", crash)
        with pytest.raises(ConnectionError):
            process_media_item(ITEM_ID, backend, request.regenerate)
    assert depth_map_key(ITEM_ID, item.filename, FULL, 0) in keys_under(f"depth-maps/{ITEM_ID}/")

    process_media_item(ITEM_ID, backend, request.regenerate)  # the redelivery

    assert keys_under(f"depth-maps/{ITEM_ID}/") == {
        depth_map_key(ITEM_ID, item.filename, VersionType.THUMBNAIL, 0),
        depth_map_key(ITEM_ID, item.filename, FULL, 1),
    }
    assert full_record().generation == 1
    assert media_items.get_item(ITEM_ID).status == "completed"


def test_an_unknown_item_is_a_404_and_a_bad_version_a_400() -> None:
    completed_item(ITEM_ID, ChangingBackend())

    missing = call("POST", f"/api/media/{MISSING_ID}/depth/regenerate")
    bad = regenerate("huge")
    bad_id = call("POST", "/api/media/not-a-uuid/depth/regenerate")

    assert missing["statusCode"] == 404
    assert bad["statusCode"] == 400
    assert "'thumbnail', 'preview' or 'full_resolution'" in json_body(bad)["message"]
    assert bad_id["statusCode"] == 400
    assert receive_all() == []


@pytest.mark.parametrize("status", [ProcessingStatus.QUEUED, ProcessingStatus.PROCESSING])
def test_an_item_already_queued_or_processing_is_a_409_that_says_so(status: ProcessingStatus) -> None:
    item = completed_item(ITEM_ID, ChangingBackend())
    item.update(actions=[item.__class__.status.set(status.value)])

    response = regenerate()

    assert response["statusCode"] == 409
    body = json_body(response)
    assert body["error"] == "status_conflict"
    assert status.value in body["message"]
    assert "once it is completed or failed" in body["message"]
    assert body["details"]["processingStatus"] == status.value
    assert receive_all() == []


def test_concurrent_regenerate_requests_queue_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # The race staged: every request read the item while it was still completed, then each tries to
    # queue it. The conditional status change lets exactly one through.
    completed_item(ITEM_ID, ChangingBackend())
    snapshots = [media_items.get_item(ITEM_ID) for _ in range(3)]
    monkeypatch.setattr(media_items, "get_item", lambda _id: snapshots.pop())

    statuses = [regenerate("full_resolution")["statusCode"] for _ in range(3)]

    assert statuses == [202, 409, 409]
    assert len(receive_all()) == 1


def test_a_failed_item_may_be_regenerated_and_gets_its_missing_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ChangingBackend()
    item = completed_item(ITEM_ID, backend)
    full_record().delete()
    real_delete = depth_maps.delete_file
    real_delete(depth_map_key(ITEM_ID, item.filename, FULL, 0))
    item.update(actions=[item.__class__.status.set("failed")])

    response = regenerate()
    run_processor(receive_all(), backend, monkeypatch)

    assert response["statusCode"] == 202
    assert json_body(response)["replacingGenerations"] == {"thumbnail": 0}
    assert full_record().generation == 0  # made, not replaced: it was missing
    thumb = depth_maps.find(ITEM_ID, VersionType.THUMBNAIL)
    assert thumb is not None
    assert thumb.generation == 1
    assert media_items.get_item(ITEM_ID).status == "completed"
