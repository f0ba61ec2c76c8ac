"""S3's check of a presigned POST, in front of moto's S3 (which stores whatever is posted).

A browser-style upload (POST to the bucket, multipart/form-data, with a ``policy`` field) is held to its
policy as S3 holds it: the SigV4 signature over the policy, its expiration, each condition (exact
fields, ``eq``, ``starts-with``, ``content-length-range``) and no form field the conditions do not name.
A refusal is S3's: an XML Error document, 403 AccessDenied "Invalid according to Policy: ...",
SignatureDoesNotMatch or InvalidAccessKeyId, or 400 EntityTooLarge / EntityTooSmall with the sizes.
What passes, and every other request, goes to moto untouched."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from werkzeug.formparser import parse_form_data
from werkzeug.wsgi import get_input_stream

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Clock = Callable[[], datetime]
# Form fields no condition needs to name (S3's list), and the file itself.
_UNCONDITIONED = {"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"}


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def document(self) -> bytes:
        request_id = uuid.uuid4().hex[:16].upper()
        parts = [f"<Code>{self.code}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{name}>{escape(value)}</{name}>" for name, value in self.details]
        parts += [f"<RequestId>{request_id}</RequestId>", f"<HostId>{request_id}</HostId>"]
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()


def _denied(reason: str) -> Refusal:
    return Refusal(403, "AccessDenied", f"Invalid according to Policy: {reason}")


def _invalid_policy(reason: str) -> Refusal:
    return Refusal(400, "InvalidPolicyDocument", f"Invalid Policy: {reason}")


def check_post(
    bucket: str,
    fields: Mapping[str, str],
    file_size: int | None,
    credentials: Mapping[str, str],
    now: datetime,
) -> Refusal | None:
    """What S3 would refuse this POST for (None: nothing). `fields` are the form's fields, by their
    names in lower case (S3 reads them case-insensitively)."""
    encoded = fields["policy"]
    refusal = _signature_refusal(encoded, fields, credentials)
    if refusal is not None:
        return refusal
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
        expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        conditions: list[Any] = list(policy.get("conditions", []))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return _invalid_policy("Invalid JSON.")
    if now >= (expiration if expiration.tzinfo else expiration.replace(tzinfo=UTC)):
        return _denied("Policy expired.")
    if file_size is None:
        return Refusal(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    named: set[str] = set()
    sizes: list[tuple[int, int]] = []
    for condition in conditions:
        refusal = _condition_refusal(condition, bucket, fields, named, sizes)
        if refusal is not None:
            return refusal
    extra = [
        name for name in fields if name not in named | _UNCONDITIONED and not name.startswith("x-ignore-")
    ]
    if extra:
        return _denied(f"Extra input fields: {', '.join(extra)}")
    return next((refusal for low, high in sizes if (refusal := _size_refusal(file_size, low, high))), None)


def _condition_refusal(
    condition: Any, bucket: str, fields: Mapping[str, str], named: set[str], sizes: list[tuple[int, int]]
) -> Refusal | None:
    """Whether the form meets one condition; adds the fields it names to `named`, a size range to
    `sizes` (checked last, against the file)."""
    if isinstance(condition, dict):
        checks = [("eq", f"${name}", value) for name, value in condition.items()]
    elif isinstance(condition, list) and condition and str(condition[0]).lower() == "content-length-range":
        sizes.append((int(condition[1]), int(condition[2])))
        return None
    elif isinstance(condition, list) and len(condition) == 3:
        checks = [(str(condition[0]).lower(), str(condition[1]), condition[2])]
    else:
        return _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
    for operator, reference, expected in checks:
        name = reference.removeprefix("$").lower()
        named.add(name)
        actual = bucket if name == "bucket" else fields.get(name)
        if operator == "eq":
            holds = actual == str(expected)
        elif operator == "starts-with":
            holds = actual is not None and actual.startswith(str(expected))
        else:
            return _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
        if not holds:
            return _denied(f"Policy Condition failed: {json.dumps([operator, reference, expected])}")
    return None


def _size_refusal(size: int, low: int, high: int) -> Refusal | None:
    if size > high:
        return Refusal(
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            (("ProposedSize", str(size)), ("MaxSizeAllowed", str(high))),
        )
    if size < low:
        return Refusal(
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            (("ProposedSize", str(size)), ("MinSizeAllowed", str(low))),
        )
    return None


def _signature_refusal(
    encoded_policy: str, fields: Mapping[str, str], credentials: Mapping[str, str]
) -> Refusal | None:
    """The policy's signature: SigV4's (the policy as sent, base64, signed with the key derived from the
    secret and the credential's scope), or SigV2's (HMAC-SHA1 of it with the secret, base64)."""
    if "x-amz-algorithm" in fields:
        scope = fields.get("x-amz-credential", "").split("/")
        signature = fields.get("x-amz-signature", "").lower()
        if fields["x-amz-algorithm"] != "AWS4-HMAC-SHA256" or len(scope) != 5 or not signature:
            return Refusal(403, "AccessDenied", "Access Denied")
        access_key = scope[0]
    elif "awsaccesskeyid" in fields and "signature" in fields:
        access_key, signature = fields["awsaccesskeyid"], fields["signature"]
    else:
        return Refusal(403, "AccessDenied", "Access Denied")
    secret = credentials.get(access_key)
    if secret is None:
        return Refusal(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    if "x-amz-algorithm" in fields:
        key = f"AWS4{secret}".encode()
        for part in scope[1:]:
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, encoded_policy.encode(), hashlib.sha256).hexdigest()
    else:
        digest = hmac.new(secret.encode(), encoded_policy.encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
    if not hmac.compare_digest(expected, signature):
        return Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return None


class PostPolicyCheck:
    """WSGI middleware: presigned POSTs to a bucket are checked (`check_post`) before `app` sees them."""

    def __init__(
        self, app: WSGIApplication, credentials: Mapping[str, str], clock: Clock = lambda: datetime.now(UTC)
    ) -> None:
        self.app = app
        self.credentials = dict(credentials)
        self.clock = clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        bucket = _post_object_bucket(environ)
        if bucket is None:
            return self.app(environ, start_response)
        body = get_input_stream(environ).read()
        # moto reads the body again, from the start.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False
        fields, file_size = _read_form(environ, body)
        if "policy" not in fields:
            return self.app(environ, start_response)  # no ticket: nothing to hold it to
        refusal = check_post(bucket, fields, file_size, self.credentials, self.clock())
        if refusal is None:
            return self.app(environ, start_response)
        document = refusal.document()
        start_response(
            f"{refusal.status} {'Forbidden' if refusal.status == 403 else 'Bad Request'}",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(document)))],
        )
        return [document]


def _post_object_bucket(environ: WSGIEnvironment) -> str | None:
    """The bucket a browser-style POST object names (path style, or virtual-hosted); None for any other
    request."""
    if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
        return None
    if not str(environ.get("CONTENT_TYPE", "")).lower().startswith("multipart/form-data"):
        return None
    segments = [part for part in str(environ.get("PATH_INFO", "")).split("/") if part]
    if len(segments) == 1:
        return segments[0]
    if not segments:
        host = str(environ.get("HTTP_HOST", "")).split(":")[0]
        return host.split(".", 1)[0] if "." in host else None
    return None


def _read_form(environ: WSGIEnvironment, body: bytes) -> tuple[dict[str, str], int | None]:
    """The form's fields by lower-case name (the first of a repeated one), and the file's size."""
    copy = dict(environ) | {"wsgi.input": io.BytesIO(body)}
    _, form, files = parse_form_data(copy)
    fields: dict[str, str] = {}
    for name, value in form.items(multi=True):
        fields.setdefault(name.lower(), value)
    upload = files.get("file")
    if upload is None:
        return fields, None
    upload.stream.seek(0, io.SEEK_END)
    return fields, upload.stream.tell()
