"""Direct uploads: a presigned POST that S3 accepts only under the upload prefix, for one type and size."""

from __future__ import annotations

import importlib.util
import unicodedata
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote, unquote

from immichvr_depth.platform import aws
from immichvr_depth.platform.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType, echoed
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store.keys import upload_key

# The photo's file name travels with the upload as S3 user metadata, which must be ASCII: it is sent
# percent-encoded (UTF-8), so any name but a refused one comes back exactly as the client gave it.
FILENAME_METADATA = "original-filename"
# Bidirectional embeddings, overrides and isolates: they make "photo<U+202E>gpj.exe" read as a photo.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def filename_metadata(filename: str) -> str:
    """The metadata value that carries `filename`."""
    return quote(filename, safe="")


def filename_from_metadata(value: str) -> str:
    """The file name a metadata value carries."""
    return unquote(value, errors="strict")


def _refuse_unsafe_name(filename: str) -> None:
    """Control characters (a CR-LF injects a header) and bidirectional controls (they disguise an
    extension) are refused; every other character is kept as it is."""
    for position, character in enumerate(filename):
        if unicodedata.category(character) == "Cc" or character in _BIDI_CONTROLS:
            raise InvalidRequest(
                f"filename has a control character (U+{ord(character):04X}) at position {position}; "
                "file names may not hold control or bidirectional-override characters",
                character=f"U+{ord(character):04X}",
                position=position,
            )


@cache
def accepted_upload_types() -> frozenset[str]:
    # Pillow is imported here, not at module level, so the API's cold start does not pay for it.
    from PIL import features

    types = {"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"}
    if features.check("avif"):
        types.add("image/avif")
    # The JPEG XL decoder is a plugin that imaging/_decode.py registers when it imports; found here
    # without importing it, which would load libjxl into the API function for nothing.
    if importlib.util.find_spec("pillow_jxl") is not None:
        types.add("image/jxl")
    return frozenset(types)


@dataclass(frozen=True)
class UploadTicket:
    """A presigned POST for one upload (its answer is intake.responses.UploadTicketIssued)."""

    media_item_id: str
    key: str
    url: str
    fields: dict[str, str]
    expires_in: int
    max_bytes: int


def presign_upload(filename: str, content_type: str, size: int) -> UploadTicket:
    """A SigV4 presigned POST that S3 only accepts for this key, this type and at most this size."""
    settings = get_settings()
    if not filename.strip():
        raise InvalidRequest("filename must not be empty")
    _refuse_unsafe_name(filename)
    if content_type not in accepted_upload_types():
        raise UnsupportedMediaType(
            f"{echoed(content_type)} is not an image type we can decode",
            accepted=sorted(accepted_upload_types()),
        )
    if size <= 0:
        raise InvalidRequest("size must be a positive number of bytes")
    if size > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"{size} bytes is more than the {settings.max_upload_bytes} bytes an upload may have",
            maxBytes=settings.max_upload_bytes,
        )
    media_item_id = str(uuid.uuid4())
    key = upload_key(media_item_id, filename, content_type)
    fields = {"Content-Type": content_type, f"x-amz-meta-{FILENAME_METADATA}": filename_metadata(filename)}
    conditions: list[Any] = [
        {"Content-Type": content_type},
        {f"x-amz-meta-{FILENAME_METADATA}": filename_metadata(filename)},
        ["content-length-range", 1, size],
    ]
    post = aws.s3().generate_presigned_post(
        settings.media_bucket,
        key,
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=settings.presigned_url_ttl_s,
    )
    return UploadTicket(media_item_id, key, post["url"], post["fields"], settings.presigned_url_ttl_s, size)
