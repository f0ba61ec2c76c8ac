"""The runner's S3 trigger, as LocalSystem builds it from template.yaml: each upload event is invoked on
its own, as Lambda's asynchronous invocation does, a failing one is retried the template's number of
times and then sent to the function's OnFailure destination, and none waits behind another.

The function is scripted (it never runs the real ingest): which events fail and which one blocks is up
to the test, so the concurrency is staged, not hoped for."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest
from moto import mock_aws

from immichvr_local.app import LocalSystem
from immichvr_local.stack import LocalStack
from immichvr_local.template import FunctionSpec, Template
from tests.conftest import reset_shared_caches

FUNCTION = "UploadIngestFunction"
WAIT_S = 20  # a guard: far longer than anything here takes when the delivery works


class ScriptedFunction:
    """Stands in for a FunctionPool: records each invocation's object key; keys under uploads/bad/ raise;
    the first invocation of a key in `blocking` waits until `release` is set."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.size = 4
        self.calls: Counter[str] = Counter()
        self.done: set[str] = set()
        self.blocking: set[str] = set()
        self.release = threading.Event()
        self.lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        if "Records" not in event:  # S3's test event, sent when the bucket's notifications are set
            return {"ingested": []}
        key = unquote_plus(event["Records"][0]["s3"]["object"]["key"])  # S3 sends keys URL-encoded
        with self.lock:
            self.calls[key] += 1
            first = self.calls[key] == 1
        if first and key in self.blocking:
            self.release.wait(WAIT_S)
        if key.startswith("uploads/bad/"):
            raise RuntimeError(f"ingest of {key} failed")
        with self.lock:
            self.done.add(key)
        return {"ingested": [key]}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    monkeypatch.setenv("IMMICHVR_LOCAL_ASYNC_RETRY_DELAY_S", "0.05")
    with mock_aws():
        local = LocalStack(Template.load(), endpoint_url="", queue_visibility_timeout_s=1)
        local.provision()
        for name, value in local.function_environment().items():
            monkeypatch.setenv(name, value)
        reset_shared_caches()
        yield local
    reset_shared_caches()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {WAIT_S} s")


def failure_queue_url(stack: LocalStack) -> str:
    """The OnFailure destination template.yaml gives the function, resolved in the local stack."""
    props = stack.template.resources[FUNCTION]["Properties"]
    destination = stack.resolver().resolve(props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"])
    assert destination["Type"] == "SQS"
    assert destination["Destination"] == stack.attributes[("UploadIngestFailureQueue", "Arn")]
    return stack.queue_url_for_arn(destination["Destination"])


def test_a_failing_upload_event_is_tried_three_times_then_kept_and_holds_up_no_other(
    stack: LocalStack,
) -> None:
    template = stack.template
    functions = {spec.logical_id: ScriptedFunction(spec) for spec in template.functions()}
    ingest = functions[FUNCTION]
    system = LocalSystem(start_workers=False, stack=stack)
    workers = [w for w in system._queue_workers(template, functions) if FUNCTION in w.name]  # type: ignore[arg-type]
    assert workers, "no delivery of the function's S3 events"
    bucket = stack.refs["MediaBucket"]
    s3, sqs = stack.client("s3"), stack.client("sqs")
    bad = ["uploads/bad/stuck.jpg", "uploads/bad/broken.jpg"]
    good = [f"uploads/good/{n}.jpg" for n in range(5)]
    ingest.blocking.add(bad[0])  # its first try hangs until released, as a slow failure does
    for key in bad + good:
        s3.put_object(Bucket=bucket, Key=key, Body=b"photo")

    for worker in workers:
        worker.start()
    try:
        # Every good upload is ingested while the first bad one is still stuck in its first try.
        wait_for(lambda: ingest.done >= set(good), "the good uploads ingested beside the stuck one")
        assert ingest.calls[bad[0]] == 1
        ingest.release.set()
        kept: list[dict[str, Any]] = []

        def both_kept() -> bool:
            answer = sqs.receive_message(QueueUrl=failure_queue_url(stack), MaxNumberOfMessages=10)
            kept.extend(json.loads(message["Body"]) for message in answer.get("Messages", []))
            return len(kept) >= len(bad)

        wait_for(both_kept, "both bad uploads in the failure queue")
    finally:
        ingest.release.set()
        for worker in workers:
            worker.stop()

    assert {key: ingest.calls[key] for key in bad + good} == dict.fromkeys(bad, 3) | dict.fromkeys(good, 1)
    assert sorted(
        unquote_plus(record["requestPayload"]["Records"][0]["s3"]["object"]["key"]) for record in kept
    ) == sorted(bad)
    for record in kept:
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 3
        assert record["requestContext"]["functionArn"].endswith(f":function:{FUNCTION}:$LATEST")
        assert record["responseContext"]["functionError"] == "Unhandled"
        assert record["responsePayload"]["errorType"] == "RuntimeError"
    # Nothing is left for a later redelivery: each event was taken once, and ended once.
    events_queue = sqs.list_queues(QueueNamePrefix="immichvr-local-uploadingestfunction-events")["QueueUrls"][
        0
    ]
    assert "Messages" not in sqs.receive_message(QueueUrl=events_queue, WaitTimeSeconds=0)
