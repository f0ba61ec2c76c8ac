"""The embedded S3 holds a presigned POST to its policy, as S3 does: the runner's upload tickets (an exact
key, type and file-name field, a size range, an expiry) refuse what breaks them, with S3's own errors.

The stack is the runner's own (`LocalStack.start`: moto's server on a loopback port); tickets are made as
intake/upload_tickets.py makes them."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.config import Config

from immichvr_depth.platform.aws import new_session
from immichvr_local.stack import REGION, LocalStack
from immichvr_local.template import Template
from tests.conftest import reset_shared_caches

KEY = "uploads/0d9c8f0e-3c1b-4a53-bc4a-6f6f7f1d2e01/photo.jpg"
PHOTO = b"\xff\xd8\xff" + bytes(997)  # 1,000 bytes


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    saved = dict(os.environ)
    local = LocalStack.start(Template.load())
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_shared_caches()


@pytest.fixture(params=["s3v4", "s3"], ids=["SigV4", "SigV2"])
def s3(stack: LocalStack, request: pytest.FixtureRequest) -> Any:
    """A client signing as the API's does (SigV4, platform/aws.py), or with S3's older SigV2."""
    return new_session().client(
        "s3",
        endpoint_url=stack.endpoint_url,
        region_name=REGION,
        config=Config(signature_version=request.param),
    )


@pytest.fixture
def bucket(stack: LocalStack) -> str:
    return str(stack.refs["MediaBucket"])


def ticket(s3: Any, bucket: str, size: int = len(PHOTO), expires_in: int = 300) -> dict[str, Any]:
    """A presigned POST with upload_tickets.py's fields and conditions."""
    fields = {"Content-Type": "image/jpeg", "x-amz-meta-original-filename": "photo.jpg"}
    conditions: list[Any] = [
        {"Content-Type": "image/jpeg"},
        {"x-amz-meta-original-filename": "photo.jpg"},
        ["content-length-range", 1, size],
    ]
    post: dict[str, Any] = s3.generate_presigned_post(
        bucket, KEY, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
    )
    return post


def upload(post: dict[str, Any], data: bytes = PHOTO, **fields: str | None) -> requests.Response:
    form = {name: value for name, value in (post["fields"] | fields).items() if value is not None}
    return requests.post(
        post["url"], data=form, files={"file": ("photo.jpg", data, "image/jpeg")}, timeout=30
    )


def stored(s3: Any, bucket: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=KEY).get("KeyCount"))


@pytest.fixture(autouse=True)
def _nothing_stored_before(s3: Any, bucket: str) -> None:
    s3.delete_object(Bucket=bucket, Key=KEY)


def refusal(answer: requests.Response) -> tuple[int, str, str]:
    """The status, S3's error code and message of a refused POST (an XML Error document)."""
    assert answer.headers["Content-Type"].startswith("application/xml"), answer.text
    code = answer.text.split("<Code>")[1].split("</Code>")[0]
    message = answer.text.split("<Message>")[1].split("</Message>")[0]
    return answer.status_code, code, message


def test_an_upload_that_keeps_to_its_ticket_is_stored(s3: Any, bucket: str) -> None:
    answer = upload(ticket(s3, bucket))

    assert answer.status_code == 204, answer.text
    head = s3.head_object(Bucket=bucket, Key=KEY)
    assert (head["ContentLength"], head["ContentType"]) == (len(PHOTO), "image/jpeg")
    assert head["Metadata"] == {"original-filename": "photo.jpg"}


def test_a_file_larger_than_the_ticket_allows_is_entity_too_large(s3: Any, bucket: str) -> None:
    answer = upload(ticket(s3, bucket, size=1000), b"x" * 2000)

    assert refusal(answer) == (400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    assert "<ProposedSize>2000</ProposedSize><MaxSizeAllowed>1000</MaxSizeAllowed>" in answer.text
    assert not stored(s3, bucket)


def test_an_empty_file_is_entity_too_small(s3: Any, bucket: str) -> None:
    answer = upload(ticket(s3, bucket), b"")

    assert refusal(answer) == (
        400,
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed size",
    )
    assert not stored(s3, bucket)


def test_an_expired_ticket_is_refused(s3: Any, bucket: str) -> None:
    answer = upload(ticket(s3, bucket, expires_in=-1))

    assert refusal(answer) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    assert not stored(s3, bucket)


@pytest.mark.parametrize(
    ("field", "value", "condition"),
    [
        ("Content-Type", "image/png", '["eq", "$Content-Type", "image/jpeg"]'),
        ("key", "uploads/another/photo.jpg", f'["eq", "$key", "{KEY}"]'),
        ("x-amz-meta-original-filename", "other.jpg", '["eq", "$x-amz-meta-original-filename", "photo.jpg"]'),
        ("Content-Type", None, '["eq", "$Content-Type", "image/jpeg"]'),
    ],
    ids=["another type", "another key", "another file name", "no type"],
)
def test_a_field_the_ticket_fixes_cannot_change(
    s3: Any, bucket: str, field: str, value: str | None, condition: str
) -> None:
    answer = upload(ticket(s3, bucket), **{field: value})

    assert refusal(answer) == (
        403,
        "AccessDenied",
        f"Invalid according to Policy: Policy Condition failed: {condition}",
    )
    assert not stored(s3, bucket)


def test_a_field_the_ticket_does_not_name_is_refused(s3: Any, bucket: str) -> None:
    answer = upload(ticket(s3, bucket), **{"x-amz-meta-extra": "1"})

    assert refusal(answer) == (
        403,
        "AccessDenied",
        "Invalid according to Policy: Extra input fields: x-amz-meta-extra",
    )
    assert not stored(s3, bucket)


def test_a_policy_changed_after_signing_is_refused(s3: Any, bucket: str) -> None:
    post = ticket(s3, bucket, size=1000)
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if not isinstance(c, list)]
    policy["conditions"].append(["content-length-range", 1, 10_000])
    forged = base64.b64encode(json.dumps(policy).encode()).decode()

    answer = upload(post, b"x" * 2000, policy=forged)

    assert refusal(answer) == (
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )
    assert not stored(s3, bucket)


def test_a_ticket_signed_with_other_credentials_is_refused(stack: LocalStack, bucket: str) -> None:
    stranger = new_session().client(
        "s3",
        endpoint_url=stack.endpoint_url,
        region_name=REGION,
        aws_access_key_id="someone-else",
        aws_secret_access_key="their-secret",
        config=Config(signature_version="s3v4"),
    )

    answer = upload(ticket(stranger, bucket))

    assert refusal(answer)[:2] == (403, "InvalidAccessKeyId")
