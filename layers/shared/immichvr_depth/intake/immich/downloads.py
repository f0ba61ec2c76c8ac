"""Streaming a file out of Immich into a spooled temporary file, hashed and size-capped on the way."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, cast

import requests

from immichvr_depth.intake.immich.errors import ImmichDownloadTooLarge

MIB = 1024 * 1024
# Previews and most photos stay in memory; a large original spills to /tmp instead of the heap
# (a Lambda has far more /tmp than spare memory).
SPOOL_IN_MEMORY_BYTES = 16 * MIB
CHUNK_BYTES = 256 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Download:
    """A file fetched from Immich. ``file`` is rewound and readable until the ``with`` block ends."""

    content_type: str
    size: int
    sha256: str
    file: BinaryIO


def media_type(header: str | None) -> str:
    """``image/jpeg; charset=...`` -> ``image/jpeg``; what Immich sends is trusted as is."""
    if not header:
        return DEFAULT_CONTENT_TYPE
    return header.split(";", 1)[0].strip().lower() or DEFAULT_CONTENT_TYPE


def _declared_length(response: requests.Response) -> int | None:
    raw = response.headers.get("Content-Length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _human(size: int) -> str:
    return f"{size / MIB:g} MiB" if size >= MIB else f"{size} bytes"


def _too_large(limit: int, what: str, **details: object) -> ImmichDownloadTooLarge:
    return ImmichDownloadTooLarge(
        f"{what} is larger than the download limit of {_human(limit)}", limitBytes=limit, **details
    )


def spool(response: requests.Response, *, limit: int, what: str) -> Download:
    """Read a streamed response body into a temporary file; raise as soon as it passes ``limit``.

    Network errors from the stream propagate as requests exceptions for the caller to translate.
    The caller owns the returned file and must close it.
    """
    declared = _declared_length(response)
    if declared is not None and declared > limit:
        # Refuse before reading a byte: Immich told us the size.
        raise _too_large(limit, what, contentLength=declared)
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 - handed to caller
    try:
        digest = hashlib.sha256()
        size = 0
        # Counted after content decoding, so a compressed body cannot smuggle more than the limit.
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                # Chunked or understated bodies: stop the moment the limit is passed.
                raise _too_large(limit, what, receivedBytes=size)
            digest.update(chunk)
            spooled.write(chunk)
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    return Download(
        content_type=media_type(response.headers.get("Content-Type")),
        size=size,
        sha256=digest.hexdigest(),
        file=cast(BinaryIO, spooled),
    )
