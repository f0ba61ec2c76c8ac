"""An audit of the stores after a fault: what a person would check by hand in the console.

It counts media items by status (tombstones of deleted items apart), depth-map records and files, the
records whose file is missing (must never happen), the files no record names (allowed only between a
crash and the next delivery), completed items missing a version, failed items without a reason, and
what is left on the processing queue and its dead-letter queue."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import media_items
from immichvr_depth.store.keys import DEPTH_MAPS_PREFIX
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_depth.store.versions import versions_to_process


@dataclass(frozen=True)
class Audit:
    items_by_status: dict[str, int]
    tombstones: int
    depth_records: int
    depth_files: int
    records_without_file: int
    files_without_record: int
    completed_missing_a_version: int
    failed_without_reason: int
    queued_messages: int
    dead_letters: int
    reasons: list[str] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(self.items_by_status.values())

    def line(self) -> str:
        statuses = " ".join(f"{status}={count}" for status, count in sorted(self.items_by_status.items()))
        return (
            f"items {self.items} ({statuses or 'none'}) | records {self.depth_records} "
            f"files {self.depth_files} records-without-file {self.records_without_file} "
            f"files-without-record {self.files_without_record} "
            f"completed-missing-a-version {self.completed_missing_a_version} "
            f"failed-without-reason {self.failed_without_reason} | "
            f"queue {self.queued_messages} DLQ {self.dead_letters}"
        )

    def assert_consistent(self) -> None:
        """What must hold after any fault, whatever the counts."""
        assert self.records_without_file == 0, self.line()
        assert self.completed_missing_a_version == 0, self.line()
        assert self.failed_without_reason == 0, self.line()
        assert self.items_by_status.get("pending", 0) == 0, self.line()


def _queue_depth(url: str) -> int:
    attributes = aws.sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def dead_letter_queue_url() -> str:
    """The processing queue's dead-letter queue, found through its redrive policy."""
    sqs = aws.sqs()
    policy = sqs.get_queue_attributes(
        QueueUrl=get_settings().processing_queue_url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    name = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1]
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def audit_stores() -> Audit:
    settings = get_settings()
    stored = list(MediaItem.scan(consistent_read=True))
    items = [item for item in stored if item.status != "deleted"]
    records = list(DepthMapRecord.scan(consistent_read=True))
    pages = (
        aws.s3()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=settings.media_bucket, Prefix=DEPTH_MAPS_PREFIX)
    )
    files = {entry["Key"] for page in pages for entry in page.get("Contents", [])}
    # An evicted map keeps its record (marked) without its file until a read makes it again.
    named = {record.file_path for record in records if record.evicted_at is None}
    versions_of: dict[str, set[str]] = {}
    for record in records:
        versions_of.setdefault(record.media_item_id, set()).add(record.version_type)
    completed_missing = sum(
        1
        for item in items
        if item.status == "completed"
        and {v.value for v in versions_to_process(bool(item.thumbnail_path), media_items.long_side(item))}
        - versions_of.get(item.media_item_id, set())
    )
    return Audit(
        items_by_status=dict(Counter(item.status for item in items)),
        tombstones=len(stored) - len(items),
        depth_records=len(records),
        depth_files=len(files),
        records_without_file=len(named - files),
        files_without_record=len(files - named),
        completed_missing_a_version=completed_missing,
        failed_without_reason=sum(1 for item in items if item.status == "failed" and not item.last_error),
        queued_messages=_queue_depth(settings.processing_queue_url),
        dead_letters=_queue_depth(dead_letter_queue_url()),
        reasons=sorted({item.last_error for item in items if item.last_error}),
    )
