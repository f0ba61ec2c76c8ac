"""Faults the other suites do not inject, each followed by an audit of the stores.

Already covered elsewhere, and not repeated here: repeated and concurrent delivery, a worker killed
between file and record, a transient endpoint failure (test_processing.py); one poison message in a
batch and the dead-letter queue after three receives (test_pipeline.py); a download that stalls
(test_import.py); throttling and 5xx from SageMaker (test_sagemaker_backend.py).

Each test drives the processor through the real queue (moto's SQS with the template's redrive
policy) the way Lambda's event source mapping does, then audits: no item lost, no duplicate, no
record without its file, every item completed or failed with a reason, and the dead-letter queue
holding exactly the items that could not be processed. Each audit is printed (`pytest -s`) for
docs/reliability.md."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image
from pynamodb.exceptions import TransactWriteError

from functions.depth_processor import app as processor
from functions.immich_import import app as import_api
from immichvr_depth.depth.backends import DepthPrediction
from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.keys import DEPTH_MAPS_PREFIX, original_key, thumbnail_key
from immichvr_depth.store.processing_queue import enqueue_processing
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import DepthMapRecord, MediaItem
from immichvr_local.worker import sqs_event
from tests.fakes.fake_immich import FakeImmich
from tests.support.audit import Audit, audit_stores, dead_letter_queue_url
from tests.support.events import api_event, lambda_context
from tests.support.images import depth_png16, jpeg_bytes


class ShapedBackend:
    """Answers like the endpoint, instantly: a depth PNG at the size of what it was sent. The faults
    here are in the stores, not in the model."""

    def estimate(self, body: bytes, content_type: str, input_size: int) -> DepthPrediction:
        size = Image.open(io.BytesIO(body)).size
        return DepthPrediction(depth_png16(*size), "depth-anything-v2", "small", input_size)


@pytest.fixture
def backend(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ShapedBackend:
    fake = ShapedBackend()
    monkeypatch.setattr(processor, "backend_from_settings", lambda: fake)
    return fake


def queued_items(count: int) -> list[str]:
    """Items as an import leaves them: original and preview stored, status queued, message sent."""
    bucket = get_settings().media_bucket
    ids = []
    for index in range(count):
        media_item_id = str(uuid.uuid4())
        item = MediaItem(
            media_item_id, source_type="immich", filename=f"IMG_{index}.jpg", mime_type="image/jpeg"
        )
        item.original_path = original_key(media_item_id, item.filename, "image/jpeg")
        item.thumbnail_path = thumbnail_key(media_item_id, item.filename, "image/jpeg")
        aws.s3().put_object(Bucket=bucket, Key=item.original_path, Body=jpeg_bytes(320, 240, seed=index))
        aws.s3().put_object(Bucket=bucket, Key=item.thumbnail_path, Body=jpeg_bytes(160, 120, seed=index))
        item.status = ProcessingStatus.QUEUED.value
        item.save()
        enqueue_processing(media_item_id)
        ids.append(media_item_id)
    return ids


def drain_queue(max_deliveries: int = 10) -> int:
    """What Lambda's SQS event source does until the queue is empty: receive a batch, invoke the
    processor, delete what succeeded; the reported failures come back (at once: visibility 0) until
    the redrive policy moves them to the dead-letter queue. Returns the number of batches."""
    sqs, url = aws.sqs(), get_settings().processing_queue_url
    batches = 0
    while batches < max_deliveries:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=5, AttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        if not messages:
            return batches
        batches += 1
        result = processor.lambda_handler(
            sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:processing"),
            lambda_context("DepthProcessorFunction"),
        )
        failed = {failure["itemIdentifier"] for failure in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError(f"the queue still had messages after {max_deliveries} batches")


def dead_lettered_items() -> set[str]:
    messages = (
        aws.sqs()
        .receive_message(QueueUrl=dead_letter_queue_url(), MaxNumberOfMessages=10, VisibilityTimeout=0)
        .get("Messages", [])
    )
    return {json.loads(message["Body"])["mediaItemId"] for message in messages}


def report(scenario: str, audit: Audit) -> None:
    print(f"\n[{scenario}] {audit.line()}")
    for reason in audit.reasons:
        print(f"    reason: {reason}")


def s3_error(code: str, status: int, operation: str = "PutObject") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


@pytest.fixture
def depth_puts(backend: ShapedBackend) -> Iterator[list[str]]:
    """Every depth-map PutObject the processor attempts, by key, as it reaches botocore."""
    attempts: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith(DEPTH_MAPS_PREFIX):
            attempts.append(params["Key"])

    aws.s3().meta.events.register("before-parameter-build.s3.PutObject", record)
    yield attempts
    aws.s3().meta.events.unregister("before-parameter-build.s3.PutObject", record)


def fail_depth_puts(when: str, should_fail: Callable[[str], bool]) -> None:
    """Raise from botocore's event hooks on depth-map PutObject calls that `should_fail(key)`.
    `before`: the call never reaches S3, as when botocore's own retries are spent. `after`: S3
    stored the file but the answer was lost (a timeout on the way back). The hooks live on this
    test's client, which the `aws` fixture discards afterwards."""

    def hook(**kwargs: Any) -> None:
        key = kwargs["params"]["Key"] if when == "before" else kwargs["context"]["depth_key"]
        if key.startswith(DEPTH_MAPS_PREFIX) and should_fail(key):
            raise s3_error("InternalError", 500)

    def remember_key(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["depth_key"] = params["Key"]

    events = aws.s3().meta.events
    if when == "before":
        events.register("before-parameter-build.s3.PutObject", hook)
    else:
        events.register("before-parameter-build.s3.PutObject", remember_key)
        events.register("after-call.s3.PutObject", hook)


# ---------------------------------------------------------------- S3 failures while storing a depth map


def test_an_s3_put_failure_during_the_depth_write_is_retried_by_the_queue_to_completion(
    depth_puts: list[str],
) -> None:
    ids = queued_items(3)
    failures = Counter[str]()

    def first_put_of_the_second_item(key: str) -> bool:
        if f"/{ids[1]}/" in key and not failures:
            failures[key] += 1
            return True
        return False

    fail_depth_puts("before", first_put_of_the_second_item)

    drain_queue()

    audit = audit_stores()
    report("S3 put fails once", audit)
    audit.assert_consistent()
    assert audit.items_by_status == {"completed": 3}
    assert (audit.depth_records, audit.depth_files, audit.files_without_record) == (6, 6, 0)
    assert (audit.queued_messages, audit.dead_letters) == (0, 0)
    assert [media_items.get_item(i).attempts for i in ids] == [1, 2, 1]
    assert sum(failures.values()) == 1


def test_an_item_whose_depth_writes_always_fail_ends_failed_in_the_dead_letter_queue_alone(
    depth_puts: list[str],
) -> None:
    ids = queued_items(3)
    fail_depth_puts("before", lambda key: f"/{ids[0]}/" in key)

    drain_queue()

    audit = audit_stores()
    report("S3 put always fails for one item", audit)
    audit.assert_consistent()
    assert audit.items_by_status == {"completed": 2, "failed": 1}
    assert (audit.depth_records, audit.depth_files) == (4, 4)
    assert audit.queued_messages == 0
    assert dead_lettered_items() == {ids[0]}
    failed = media_items.get_item(ids[0])
    assert failed.attempts == 3  # the template's maxReceiveCount
    assert failed.last_error is not None
    assert "InternalError" in failed.last_error


def test_a_put_that_stored_the_file_but_lost_the_answer_converges_on_that_file(
    depth_puts: list[str],
) -> None:
    (media_item_id,) = queued_items(1)
    answers = Counter[str]()

    def lose_the_very_first_answer(key: str) -> bool:
        answers[key] += 1
        return sum(answers.values()) == 1

    fail_depth_puts("after", lose_the_very_first_answer)

    drain_queue()

    audit = audit_stores()
    report("S3 stored the file, the answer was lost", audit)
    audit.assert_consistent()
    assert audit.items_by_status == {"completed": 1}
    assert (audit.depth_records, audit.depth_files, audit.files_without_record) == (2, 2, 0)
    assert audit.dead_letters == 0
    # The thumbnail's put was answered with an error after it stored the file; the redelivery's put
    # of that key met the stored file (412) and took it, rather than writing a second one.
    assert len(depth_puts) == 3
    for record in DepthMapRecord.query(media_item_id):
        head = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=record.file_path)
        assert head["Metadata"]["sha256"] == record.checksum


# ---------------------------------------------------------------- DynamoDB


def test_a_throttled_depth_record_write_leaves_a_file_the_redelivery_records(
    backend: ShapedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued_items(2)
    write = depth_maps._write_while_item_exists  # the record's write (a transaction with the item check)
    throttled: list[str] = []

    def throttle_once(media_item_id: str, *args: Any) -> Any:
        if not throttled:
            throttled.append(media_item_id)
            cause = s3_error("ProvisionedThroughputExceededException", 400, "TransactWriteItems")
            raise TransactWriteError("Failed to write the record", cause=cause)
        return write(media_item_id, *args)

    monkeypatch.setattr(depth_maps, "_write_while_item_exists", throttle_once)

    drain_queue()

    audit = audit_stores()
    report("DynamoDB throttles the depth record once", audit)
    audit.assert_consistent()
    assert audit.items_by_status == {"completed": 2}
    assert (audit.depth_records, audit.depth_files, audit.files_without_record) == (4, 4, 0)
    assert audit.dead_letters == 0
    assert media_items.get_item(throttled[0]).attempts == 2


def test_two_workers_racing_on_one_depth_record_leave_one_record_per_file(
    backend: ShapedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two deliveries of one message (a visibility timeout that ran out, say) on two workers, held
    # together so that both find no record, both store the file and both write the record at once.
    (media_item_id,) = queued_items(1)
    both_stored = threading.Barrier(2, timeout=30)
    build_record = depth_maps._record_from_stored_file
    write = depth_maps._write_while_item_exists
    lost_races: list[str] = []

    def after_both_stored(*args: Any) -> DepthMapRecord:
        both_stored.wait()
        return build_record(*args)

    def counting_write(media_item_id: str, save: Callable[[Any], None]) -> None:
        saved: list[str] = []

        def noting_the_version(transaction: Any) -> None:
            original = transaction.save

            def save_noted(record: DepthMapRecord, **kwargs: Any) -> None:
                saved.append(record.version_type)
                original(record, **kwargs)

            transaction.save = save_noted
            save(transaction)

        try:
            write(media_item_id, noting_the_version)
        except depth_maps._RecordConflict:  # the record was already written: this worker lost
            lost_races.extend(saved)
            raise

    monkeypatch.setattr(depth_maps, "_record_from_stored_file", after_both_stored)
    monkeypatch.setattr(depth_maps, "_write_while_item_exists", counting_write)
    outcomes: list[Any] = []

    def worker() -> None:
        try:
            outcomes.append(process_media_item(media_item_id, backend).status)
        except Exception as error:  # surfaced below: a lost race must not be an error
            outcomes.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    drain_queue()  # the message's own delivery comes last and finds the item completed

    audit = audit_stores()
    report("two workers race on the depth records", audit)
    audit.assert_consistent()
    assert outcomes == [ProcessingStatus.COMPLETED, ProcessingStatus.COMPLETED]
    assert sorted(lost_races) == ["full_resolution", "thumbnail"]  # one loser per version
    assert audit.items_by_status == {"completed": 1}
    assert (audit.depth_records, audit.depth_files, audit.files_without_record) == (2, 2, 0)
    for record in DepthMapRecord.query(media_item_id):
        head = aws.s3().head_object(Bucket=get_settings().media_bucket, Key=record.file_path)
        assert head["Metadata"]["sha256"] == record.checksum


# ---------------------------------------------------------------- Immich


def test_an_import_that_timed_out_mid_download_and_was_retried_leaves_one_item_and_no_strays(
    backend: ShapedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # test_import.py shows the stalled import leaves nothing; here the caller retries it.
    with FakeImmich(version="3.1.0", api_key="faults-immich-key") as immich:
        immich.stall_s = 3
        monkeypatch.setenv("IMMICH_URL", immich.url)
        monkeypatch.setenv("IMMICH_API_KEY", "faults-immich-key")
        monkeypatch.setenv("IMMICH_READ_TIMEOUT_S", "1")
        get_settings.cache_clear()
        asset_id = immich.add_image(width=800, height=600, stall_after_bytes=1000)

        def import_once() -> int:
            event = api_event("POST", f"/api/immich/import/{asset_id}")
            status: int = import_api.lambda_handler(event, lambda_context("ImmichImportFunction"))[
                "statusCode"
            ]
            return status

        first = import_once()
        immich.assets[asset_id].stall_after_bytes = None  # Immich recovers
        second = import_once()
    drain_queue()

    audit = audit_stores()
    report("Immich times out mid-download, the import is retried", audit)
    audit.assert_consistent()
    assert (first, second) == (504, 202)
    assert audit.items_by_status == {"completed": 1}
    assert (audit.depth_records, audit.depth_files, audit.dead_letters) == (2, 2, 0)
    listing = aws.s3().list_objects_v2(Bucket=get_settings().media_bucket)
    prefixes = Counter(entry["Key"].split("/", 1)[0] for entry in listing.get("Contents", []))
    assert prefixes == {"originals": 1, "thumbnails": 1, "depth-maps": 2}
