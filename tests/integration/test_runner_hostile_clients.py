"""The local runner under hostile and unlucky clients, over real sockets: bursts of connections, broken
HTTP framing, uploads that break their ticket's policy, and upload events whose ingest fails every time.

Each case has a guard timeout on the client's side (a socket timeout, a bounded wait) so that a runner
that hangs fails the test instead of hanging it; no assertion is about how long anything took."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests

from immichvr_local.runtime import RuntimeInfo
from tests.support.images import jpeg_bytes
from tests.support.runner import Runner

pytestmark = pytest.mark.slow

API_KEY = "hostile-api-key"
IMMICH_KEY = "hostile-immich-key"
WEBHOOK_SECRET = "hostile-webhook-secret"
RUNNER_ENV = {
    "IMMICH_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "THUMBNAIL_INPUT_SIZE": "70",
    "FULL_RESOLUTION_INPUT_SIZE": "140",
    "OMP_NUM_THREADS": "1",
    # How long the gateway waits for a request's head or its body, and Lambda's retry delays (1 min,
    # 2 min on AWS): short here, so the cases below end quickly.
    "IMMICHVR_LOCAL_REQUEST_TIMEOUT_S": "1",
    "IMMICHVR_LOCAL_ASYNC_RETRY_DELAY_S": "0.2",
}
GUARD_S = 20  # the most a client waits for any answer here: far beyond the runner's timeouts above
CONCURRENT_CLIENTS = 64


def _wait_for(condition: Callable[[], Any], what: str, runner: Runner, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s; runner log:\n{runner.log_tail()}")


# ---------------------------------------------------------------- connections and framing


def _raw_exchange(runner: Runner, request: bytes, *, then_wait: bool = True) -> bytes:
    """Send `request` on a fresh connection and read until the server closes it or has answered;
    raises socket.timeout if the server neither answers nor closes within the guard."""
    host, port = runner.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=GUARD_S) as connection:
        connection.sendall(request)
        received = b""
        while then_wait:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
            if b"\r\n\r\n" in received:
                head, _, rest = received.partition(b"\r\n\r\n")
                lengths = [
                    line[15:] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
                ]
                length = int(lengths[0]) if lengths else None
                if length is not None and len(rest) >= length:
                    break
        return received


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), f"no HTTP answer, got {answer[:200]!r}"
    return int(answer.split(b" ", 2)[1])


def test_64_concurrent_clients_are_all_answered_without_a_reset(runner: Runner) -> None:
    # Everyone connects at once, as a burst of Immich webhooks does: none may be refused or reset.
    start = threading.Barrier(CONCURRENT_CLIENTS)
    statuses: list[int] = []
    failures: list[str] = []
    payload = {"type": "AssetV1", "trigger": "AssetCreate", "data": {"asset": {"id": str(uuid.uuid4())}}}

    def client() -> None:
        start.wait()
        try:
            answer = requests.post(
                runner.url + "/api/immich/webhook",
                json=payload,
                headers={"X-Immich-Webhook-Secret": "not-the-secret"},
                timeout=GUARD_S,
            )
        except requests.RequestException as error:
            failures.append(f"{type(error).__name__}: {error}")
        else:
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=client) for _ in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert statuses == [401] * CONCURRENT_CLIENTS  # each reached the function, which refused the secret


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", ""], ids=["a word", "negative", "a float", "empty"])
def test_a_content_length_that_is_no_length_gets_a_400(runner: Runner, length: str) -> None:
    request = f"POST /api/immich/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}"

    assert _status(_raw_exchange(runner, request.encode())) == 400


def test_a_body_shorter_than_its_content_length_gets_a_400_once_the_wait_is_over(runner: Runner) -> None:
    # The client declares 100 bytes, sends 2 and waits: the gateway stops waiting, answers, and closes.
    request = b"POST /api/immich/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    request += b"Content-Length: 100\r\n\r\n{}"

    answer = _raw_exchange(runner, request)

    assert _status(answer) == 400
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["message"]


def test_a_request_head_that_never_ends_is_dropped(runner: Runner) -> None:
    # A slow-headers client: the connection is closed (nothing to answer: no request was made).
    request = b"GET /api/media HTTP/1.1\r\nHost: x\r\nx-api-key: " + API_KEY.encode() + b"\r\n"

    assert _raw_exchange(runner, request) == b""


def test_a_body_over_api_gateways_10_mb_is_refused_unread(runner: Runner) -> None:
    request = b"POST /api/media/uploads HTTP/1.1\r\nHost: x\r\nx-api-key: " + API_KEY.encode()
    request += b"\r\nContent-Type: application/json\r\nContent-Length: 10485761\r\n\r\n"

    answer = _raw_exchange(runner, request)

    assert _status(answer) == 413
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"message": "Request Too Long"}


def test_headers_over_api_gateways_10_kb_are_refused(runner: Runner) -> None:
    response = runner.call("GET", "/api/media", headers={"X-Padding": "p" * 12 * 1024})

    assert (response.status_code, response.json()) == (431, {"message": "Request Header Fields Too Large"})
    assert runner.call("GET", "/api/media").status_code == 200  # and the runner serves on


# ---------------------------------------------------------------- presigned uploads and their policy


def _ticket(runner: Runner, size: int, content_type: str = "image/jpeg") -> dict[str, Any]:
    answer = runner.call(
        "POST", "/api/media/uploads", json={"filename": "a.jpg", "contentType": content_type, "size": size}
    )
    assert answer.status_code == 201, answer.text
    upload: dict[str, Any] = answer.json()["upload"]
    return upload


def _post(upload: dict[str, Any], data: bytes, **fields: str) -> requests.Response:
    return requests.post(
        upload["url"],
        data=upload["fields"] | fields,
        files={"file": ("a.jpg", data, "image/jpeg")},
        timeout=GUARD_S,
    )


def test_an_upload_larger_than_its_ticket_is_refused_as_s3_refuses_it(runner: Runner) -> None:
    refused = _post(_ticket(runner, 1000), b"x" * 2000)

    assert refused.status_code == 400, refused.text
    assert "<Code>EntityTooLarge</Code>" in refused.text
    assert "<MaxSizeAllowed>1000</MaxSizeAllowed>" in refused.text


def test_an_upload_of_another_type_than_its_ticket_is_refused_as_s3_refuses_it(runner: Runner) -> None:
    refused = _post(_ticket(runner, 1000), b"x" * 1000, **{"Content-Type": "image/png"})

    assert refused.status_code == 403, refused.text
    assert "<Code>AccessDenied</Code>" in refused.text
    assert "Invalid according to Policy" in refused.text


# ---------------------------------------------------------------- upload events that always fail


def _runtime(runner: Runner) -> RuntimeInfo:
    """What the runner wrote about itself (tests/support/runner.py points its state beside its log)."""
    assert runner.log is not None
    info = RuntimeInfo.read(runner.log.parent / "state" / "runtime.json")
    assert info is not None
    return info


def _embedded_aws(runner: Runner, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=_runtime(runner).aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def _gone_upload_event(bucket: str) -> dict[str, Any]:
    """S3's notification for an upload deleted before its ingest read it: every ingest of it raises."""
    key = f"uploads/{uuid.uuid4()}/gone.jpg"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": datetime.now(UTC).isoformat(),
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": 10, "eTag": "0" * 32},
                },
            }
        ]
    }


def test_upload_events_that_always_fail_go_to_the_failure_queue_and_hold_up_no_other(runner: Runner) -> None:
    s3, sqs = _embedded_aws(runner, "s3"), _embedded_aws(runner, "sqs")
    bucket = _bucket(runner)
    # Where the bucket notifies its upload events: the runner's stand-in for S3 invoking the function.
    (config,) = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    events_queue = sqs.get_queue_url(QueueName=config["QueueArn"].rsplit(":", 1)[1])["QueueUrl"]
    failure_queue = sqs.get_queue_url(QueueName="immichvr-local-uploadingestfailurequeue")["QueueUrl"]
    bad = [_gone_upload_event(bucket) for _ in range(2)]

    for event in bad:
        sqs.send_message(QueueUrl=events_queue, MessageBody=json.dumps(event))
    good = []
    for n in range(5):
        photo = jpeg_bytes(160, 120, seed=n)
        ticket = runner.call(
            "POST",
            "/api/media/uploads",
            json={"filename": f"good-{n}.jpg", "contentType": "image/jpeg", "size": len(photo)},
        ).json()
        stored = requests.post(
            ticket["upload"]["url"],
            data=ticket["upload"]["fields"],
            files={"file": ("good.jpg", photo, "image/jpeg")},
            timeout=GUARD_S,
        )
        assert stored.status_code in {200, 204}, stored.text
        good.append(ticket["mediaItemId"])

    for media_item_id in good:
        _wait_for(
            lambda item=media_item_id: runner.call("GET", f"/api/media/{item}").status_code == 200,
            f"good upload {media_item_id} ingested",
            runner,
        )
    failed: list[dict[str, Any]] = []

    def collect() -> bool:
        messages = sqs.receive_message(QueueUrl=failure_queue, MaxNumberOfMessages=10).get("Messages", [])
        failed.extend(json.loads(message["Body"]) for message in messages)
        return len(failed) >= len(bad)

    _wait_for(collect, "both failing events in the failure queue", runner)
    assert sorted(
        record["requestPayload"]["Records"][0]["s3"]["object"]["key"] for record in failed
    ) == sorted(event["Records"][0]["s3"]["object"]["key"] for event in bad)
    for record in failed:
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 3  # the first try and 2 retries
        assert record["responseContext"]["functionError"] == "Unhandled"


def _bucket(runner: Runner) -> str:
    bucket = _runtime(runner).media_bucket
    assert bucket
    return bucket
