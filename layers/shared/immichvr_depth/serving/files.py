"""Answering with a stored file: inline when API Gateway will pass it as bytes and it fits a Lambda
response, else a short-lived presigned redirect to S3 that carries the same facts.

Every image the API serves (a depth map, a browser photo, an 8-bit map, a stereo pair) goes out
through `deliver`, so the caching rules (strong ETags from the stored file, 304 on If-None-Match) and
the inline-or-redirect rule are the same for all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from botocore.exceptions import ClientError

from immichvr_depth.platform import aws
from immichvr_depth.platform.http import CamelCaseAnswer, already_held, binary_body_delivered
from immichvr_depth.platform.settings import get_settings

# Stored files only change under a new key or a new checksum, so a day's caching is safe: a client
# revalidates with the ETag after that.
CACHE_CONTROL = "private, max-age=86400, must-revalidate"


@dataclass(frozen=True)
class StoredFile:
    """A file in the media bucket, ready to be answered with."""

    key: str
    content_type: str
    size: int
    etag: str
    # Facts about the file every answer repeats (a depth map's version, model and date), whether
    # the body comes inline or from S3 after a redirect (there as its object metadata).
    headers: dict[str, str] = field(default_factory=dict)
    # Set for a download a client should keep under a meaningful name (a stereo pair for a player).
    download_name: str | None = None


@dataclass(frozen=True)
class FileAnswer:
    headers: dict[str, str]
    not_modified: bool = False
    body: bytes | None = None
    redirect_url: str | None = None
    accepted: CamelCaseAnswer | None = None  # the 202 body when the file is still being made


class FileMoved(Exception):
    """The stored file went between finding it and reading it (replaced, evicted or deleted)."""


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266: an ASCII `filename` for old clients and the exact name as UTF-8 in `filename*`."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_" for c in filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def answer_headers(stored: StoredFile) -> dict[str, str]:
    headers = stored.headers | {"ETag": stored.etag, "Cache-Control": CACHE_CONTROL}
    if stored.download_name:
        headers["Content-Disposition"] = content_disposition(stored.download_name)
    return headers


def presigned_url(stored: StoredFile) -> str:
    params = {
        "Bucket": get_settings().media_bucket,
        "Key": stored.key,
        "ResponseContentType": stored.content_type,
    }
    if stored.download_name:
        params["ResponseContentDisposition"] = content_disposition(stored.download_name)
    url: str = aws.s3().generate_presigned_url(
        "get_object", Params=params, ExpiresIn=get_settings().presigned_url_ttl_s
    )
    return url


def deliver(stored: StoredFile, accept: str | None, if_none_match: str | None) -> FileAnswer:
    """The answer for `stored`: 304 when the client holds it, the bytes when API Gateway will pass
    them through unencoded and they fit, else a redirect to S3. FileMoved when it vanished."""
    headers = answer_headers(stored)
    if if_none_match and already_held(if_none_match, stored.etag):
        return FileAnswer(headers=headers, not_modified=True)
    inline = stored.size <= get_settings().max_inline_response_bytes and binary_body_delivered(
        accept, stored.content_type
    )
    if not inline:
        return FileAnswer(headers=headers, redirect_url=presigned_url(stored))
    try:
        body = aws.s3().get_object(Bucket=get_settings().media_bucket, Key=stored.key)["Body"].read()
    except ClientError as error:
        if aws.missing_object(error):
            raise FileMoved(stored.key) from None
        raise
    return FileAnswer(headers=headers, body=body)
