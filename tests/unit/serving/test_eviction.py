"""Scheduled eviction of full-resolution depth maps nobody reads, and their regeneration on the next read."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from functions.depth_eviction import app as eviction_function
from immichvr_depth.platform.observability import metrics
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.serving import eviction
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.keys import depth_map_key
from immichvr_depth.store.processing_queue import ProcessingMessage
from immichvr_depth.store.tables import DepthMapRecord, utcnow
from immichvr_depth.store.versions import VersionType
from tests.support.audit import audit_stores
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
from tests.support.events import lambda_context

EVENTS = Path(__file__).resolve().parents[3] / "events"
FULL = VersionType.FULL_RESOLUTION
THUMB = VersionType.THUMBNAIL
ITEM_ID = "1a2b3c4d-0000-4000-8000-000000000001"

pytestmark = pytest.mark.usefixtures("aws")


def aged(
    item_id: str, version: VersionType, *, made_days_ago: int, read_days_ago: int | None
) -> DepthMapRecord:
    """Backdate a map: made, and last read, that many days ago (None: never read)."""
    record = depth_maps.find(item_id, version)
    assert record is not None
    actions = [DepthMapRecord.generated_at.set(utcnow() - timedelta(days=made_days_ago))]
    if read_days_ago is not None:
        actions.append(DepthMapRecord.accessed_at.set(utcnow() - timedelta(days=read_days_ago)))
    record.update(actions=actions)
    return record


def record(item_id: str, version: VersionType = FULL) -> DepthMapRecord:
    found = depth_maps.find(item_id, version)
    assert found is not None
    return found


def item_id(n: int) -> str:
    return f"1a2b3c4d-0000-4000-8000-00000000000{n}"


def test_only_full_resolution_maps_unread_for_n_days_are_marked_and_deleted() -> None:
    backend = ChangingBackend()
    for n in range(1, 5):
        completed_item(item_id(n), backend)
        aged(item_id(n), THUMB, made_days_ago=400, read_days_ago=None)  # thumbnails are never evicted
    aged(item_id(1), FULL, made_days_ago=40, read_days_ago=None)  # never read: made 40 days ago
    aged(item_id(2), FULL, made_days_ago=40, read_days_ago=35)  # last read 35 days ago
    aged(item_id(3), FULL, made_days_ago=40, read_days_ago=2)  # read recently
    aged(item_id(4), FULL, made_days_ago=5, read_days_ago=None)  # made recently
    idle = [record(item_id(1)), record(item_id(2))]

    report = eviction.evict_idle(30)

    assert (report.candidates, report.evicted) == (2, 2)
    assert report.bytes_evicted == sum(int(r.file_size) for r in idle)
    remaining = keys_under("depth-maps/")
    for gone in idle:
        assert record(gone.media_item_id).evicted_at is not None
        assert gone.file_path not in remaining
    for n in (3, 4):
        assert record(item_id(n)).evicted_at is None
        assert record(item_id(n)).file_path in remaining
    for n in range(1, 5):
        assert record(item_id(n), THUMB).evicted_at is None
        assert record(item_id(n), THUMB).file_path in remaining
    audit_stores().assert_consistent()
    assert eviction.evict_idle(30).evicted == 0  # the next run finds nothing more


def test_a_map_read_between_the_scan_and_the_eviction_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    completed_item(ITEM_ID, ChangingBackend())
    aged(ITEM_ID, FULL, made_days_ago=40, read_days_ago=31)
    scan = eviction.idle_maps

    def scan_then_a_read(idle_since: object) -> list[DepthMapRecord]:
        found = scan(idle_since)  # type: ignore[arg-type]
        assert call("GET", f"/api/media/{ITEM_ID}/depth")["statusCode"] == 200
        return found

    monkeypatch.setattr(eviction, "idle_maps", scan_then_a_read)
    report = eviction.evict_idle(30)

    assert (report.candidates, report.evicted) == (1, 0)
    assert record(ITEM_ID).evicted_at is None
    assert record(ITEM_ID).file_path in keys_under(f"depth-maps/{ITEM_ID}/")


def test_zero_days_turns_eviction_off() -> None:
    completed_item(ITEM_ID, ChangingBackend())
    aged(ITEM_ID, FULL, made_days_ago=4000, read_days_ago=None)

    report = eviction.evict_idle(0)

    assert report.evicted == 0
    assert record(ITEM_ID).evicted_at is None


def test_the_scheduled_function_evicts_after_the_configured_days_and_emits_metrics(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    completed_item(ITEM_ID, ChangingBackend())
    idle = aged(ITEM_ID, FULL, made_days_ago=10, read_days_ago=None)
    monkeypatch.setenv("EVICT_AFTER_DAYS", "7")
    get_settings.cache_clear()
    capsys.readouterr()
    caplog.set_level("INFO")
    metrics.clear_metrics()  # what earlier tests added outside a handler

    result = eviction_function.lambda_handler(
        json.loads((EVENTS / "depth_eviction_schedule.json").read_text()),
        lambda_context("DepthEvictionFunction"),
    )

    assert result["evicted"] == 1
    assert result["bytesEvicted"] == idle.file_size
    (evicted_line,) = [r for r in caplog.records if r.getMessage() == "depth map evicted"]
    said = vars(evicted_line)
    assert (said["media_item_id"], said["version"], said["file_path"]) == (
        ITEM_ID,
        "full_resolution",
        idle.file_path,
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (emf,) = [line for line in lines if "_aws" in line]
    assert (emf["DepthMapsEvicted"], emf["BytesEvicted"]) == ([1.0], [float(idle.file_size)])


def test_reading_an_evicted_map_answers_202_then_serves_the_map_made_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = ChangingBackend()
    item = completed_item(ITEM_ID, backend)
    before = aged(ITEM_ID, FULL, made_days_ago=40, read_days_ago=None)
    eviction.evict_idle(30)

    first = call("GET", f"/api/media/{ITEM_ID}/depth")
    again = [call("GET", f"/api/media/{ITEM_ID}/depth") for _ in range(3)]
    info = json_body(call("GET", f"/api/media/{ITEM_ID}/depth/info"))
    thumbnail = call("GET", f"/api/media/{ITEM_ID}/depth", query={"version": "thumbnail"})

    assert first["statusCode"] == 202
    assert header(first, "Retry-After") == str(get_settings().regenerate_retry_after_s)
    body = json_body(first)
    assert (body["mediaItemId"], body["version"], body["processingStatus"]) == (
        ITEM_ID,
        "full_resolution",
        "queued",
    )
    assert body["evictedAt"].endswith("Z")
    assert [response["statusCode"] for response in again] == [202, 202, 202]
    (message,) = receive_all()  # queued once, however many reads
    assert ProcessingMessage.from_json(message["Body"]).regenerate == {FULL: 0}
    full_info = next(entry for entry in info["depthMaps"] if entry["version_type"] == "full_resolution")
    assert (full_info["evicted"], full_info["evicted_at"]) == (True, body["evictedAt"])
    assert thumbnail["statusCode"] == 200  # the thumbnail is still served

    run_processor([message], backend, monkeypatch)
    served = call("GET", f"/api/media/{ITEM_ID}/depth")

    assert served["statusCode"] == 200
    made = record(ITEM_ID)
    assert header(served, "ETag") == f'"{made.checksum}"' != f'"{before.checksum}"'
    assert (made.generation, made.evicted_at) == (1, None)
    assert made.file_path == depth_map_key(ITEM_ID, item.filename, FULL, 1)
    info_after = json_body(call("GET", f"/api/media/{ITEM_ID}/depth/info"))
    assert [entry["evicted"] for entry in info_after["depthMaps"]] == [False, False]
    assert media_items.get_item(ITEM_ID).status == "completed"
    audit_stores().assert_consistent()


def test_concurrent_reads_of_an_evicted_map_queue_one_regeneration(monkeypatch: pytest.MonkeyPatch) -> None:
    # The race staged: every reader found the item completed before any queued it.
    completed_item(ITEM_ID, ChangingBackend())
    aged(ITEM_ID, FULL, made_days_ago=40, read_days_ago=None)
    eviction.evict_idle(30)
    snapshots = [media_items.get_item(ITEM_ID) for _ in range(4)]
    monkeypatch.setattr(media_items, "get_item", lambda _id: snapshots.pop())

    statuses = [call("GET", f"/api/media/{ITEM_ID}/depth")["statusCode"] for _ in range(4)]

    assert statuses == [202, 202, 202, 202]
    assert len(receive_all()) == 1


def test_a_read_that_loses_the_race_to_the_eviction_is_answered_202(monkeypatch: pytest.MonkeyPatch) -> None:
    completed_item(ITEM_ID, ChangingBackend())
    idle = aged(ITEM_ID, FULL, made_days_ago=40, read_days_ago=None)
    find = depth_maps.find

    def found_then_evicted(media_item_id: str, version: VersionType) -> DepthMapRecord | None:
        seen = find(media_item_id, version)  # the reader sees the map still there...
        eviction.evict_idle(30)  # ...and the eviction runs before its access is counted
        return seen

    monkeypatch.setattr(depth_maps, "find", found_then_evicted)
    response = call("GET", f"/api/media/{ITEM_ID}/depth")
    monkeypatch.undo()

    assert response["statusCode"] == 202
    assert idle.file_path not in keys_under(f"depth-maps/{ITEM_ID}/")
    assert len(receive_all()) == 1
