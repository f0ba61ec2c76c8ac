"""Awkward and hostile files through the ingest function and the processor, with the tiny real model.

tests/unit/test_imaging.py fuzzes the imaging functions one by one; here the same kinds of file go
the whole way a user's file goes: an upload is ingested (item, thumbnail, queue) and processed
(both depth maps), and an Immich original that only the processor decodes is processed after a
good preview. Whatever the bytes, the item ends `completed`, or `failed` with a reason a person can
read, and no exception escapes to the worker (which would make SQS retry a file that can never
succeed)."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from PIL import Image

from immichvr_depth.depth.backends import DepthBackend, backend_from_settings
from immichvr_depth.depth.processing import process_media_item
from immichvr_depth.intake.upload_ingest import ingest_upload
from immichvr_depth.platform import aws
from immichvr_depth.platform.settings import get_settings
from immichvr_depth.store import depth_maps, media_items
from immichvr_depth.store.keys import original_key, thumbnail_key
from immichvr_depth.store.status import ProcessingStatus
from immichvr_depth.store.tables import MediaItem
from immichvr_depth.store.versions import VersionType
from immichvr_local.depth_backend import register_in_process_backend
from immichvr_local.stack import LocalStack
from immichvr_local.template import Template
from tests.conftest import reset_shared_caches
from tests.support.audit import audit_stores
from tests.support.images import jpeg_bytes

ORIENTATION = 0x0112
# The tiers a small photo gets: its preview is its full-resolution map.
MADE = (VersionType.THUMBNAIL, VersionType.FULL_RESOLUTION)


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> Iterator[DepthBackend]:
    """The in-process backend with the tiny model, over one embedded AWS for the whole module (the
    `aws` fixture's, made once: each case makes an item of its own, so they cannot collide, and a
    fresh moto per case cost more than the cases themselves).

    The model runs at the smallest input sizes it takes: these tests are about what the files do to
    the pipeline, not about the depth maps' detail."""
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        stack = LocalStack(Template.load(), endpoint_url="")
        stack.provision()
        environment = stack.function_environment() | {
            "DEPTH_BACKEND": "local",
            "DEPTH_MODEL": str(tiny_model_dir),
            "THUMBNAIL_INPUT_SIZE": "70",
            "FULL_RESOLUTION_INPUT_SIZE": "140",
        }
        for name, value in environment.items():
            patch.setenv(name, value)
        reset_shared_caches()
        # On a shared 2-core box torch's two intra-op threads contend so badly that one call of the
        # tiny model took 1.3 s instead of 20 ms on one thread.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            register_in_process_backend()
            yield backend_from_settings()
        finally:
            torch.set_num_threads(threads)
    reset_shared_caches()


# --- files ---------------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def scene(width: int = 96, height: int = 64) -> Image.Image:
    return Image.effect_noise((width, height), 50).convert("RGB")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def crafted_png(
    width: int, height: int, bit_depth: int = 8, colour_type: int = 2, rows: bytes = b""
) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def png_claiming_100000_square() -> bytes:
    """Ten billion pixels declared, a few bytes of data: a decompression bomb's header."""
    return crafted_png(100_000, 100_000, rows=b"\x00" * 64)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) declares another size."""
    data = bytearray(encode(scene(32, 24), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def rgb48_png() -> bytes:
    """16 bits per channel RGB, which Pillow reads but cannot write: made by hand."""
    width, height = 24, 16
    pixels = np.linspace(0, 65535, width * height * 3).astype(">u2").reshape(height, width * 3)
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
    return crafted_png(width, height, bit_depth=16, colour_type=2, rows=rows)


def animated(fmt: str) -> bytes:
    frames = [scene(), Image.new("RGB", (96, 64), (0, 0, 255))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def with_alpha(mode: str) -> bytes:
    return encode(scene().convert("RGBA").convert(mode), "PNG")


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


COMPLETED, FAILED = "completed", "failed"

# name: (the file, how its item ends, words its reason holds when it fails)
FILES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "random bytes": (
        lambda: bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)),
        FAILED,
        "not an image",
    ),
    "zero-sized file": (lambda: b"", FAILED, "not an image"),
    "text behind a GIF signature": (lambda: b"GIF89a? no, just text pretending", FAILED, "not an image"),
    "truncated JPEG": (lambda: truncated(encode(scene(300, 200), "JPEG", quality=95)), FAILED, "truncated"),
    "truncated PNG": (lambda: truncated(encode(scene(300, 200), "PNG")), FAILED, "truncated"),
    "PNG declaring 100000x100000": (png_claiming_100000_square, FAILED, "too large"),
    "JPEG declaring 65000x65000": (lambda: jpeg_claiming(65_000, 65_000), FAILED, "too large"),
    "PNG declaring 0 x 10": (lambda: crafted_png(0, 10), FAILED, "not an image"),
    "CMYK JPEG": (lambda: encode(scene().convert("CMYK"), "JPEG"), COMPLETED, ""),
    "16-bit grey PNG": (
        lambda: encode(Image.fromarray(np.full((64, 96), 40000, np.uint16)), "PNG"),
        COMPLETED,
        "",
    ),
    "16-bit RGB PNG": (rgb48_png, COMPLETED, ""),
    "palette PNG": (lambda: encode(scene().convert("P"), "PNG"), COMPLETED, ""),
    "palette PNG with transparency": (lambda: with_alpha("P"), COMPLETED, ""),
    "RGBA PNG": (lambda: with_alpha("RGBA"), COMPLETED, ""),
    "LA PNG": (lambda: with_alpha("LA"), COMPLETED, ""),
    "bilevel PNG": (lambda: encode(scene().convert("1"), "PNG"), COMPLETED, ""),
    "animated GIF": (lambda: animated("GIF"), COMPLETED, ""),
    "animated WebP": (lambda: animated("WEBP"), COMPLETED, ""),
    "BMP": (lambda: encode(scene(), "BMP"), COMPLETED, ""),
}


# --- the two ways in --------------------------------------------------------------------------------------


def upload_then_process(data: bytes, backend: DepthBackend, name: str = "photo.bin") -> MediaItem:
    """What happens to a file dropped under uploads/: ingest, then (if queued) the processor."""
    key = f"uploads/{uuid.uuid4()}/{name}"
    stored = aws.s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=data)
    outcome = ingest_upload(key, stored["ETag"].strip('"'))
    if outcome.status == ProcessingStatus.FAILED.value:
        assert outcome.reason, "a refused upload says why"
    else:
        assert outcome.status == ProcessingStatus.QUEUED.value
        process_media_item(outcome.media_item_id, backend)
    return media_items.get_item(outcome.media_item_id)


def immich_original_then_process(data: bytes, backend: DepthBackend) -> MediaItem:
    """An Immich import stores the original without decoding it (a RAW file, say) next to Immich's
    good preview; only the processor finds out what the original really is."""
    media_item_id = str(uuid.uuid4())
    item = MediaItem(media_item_id, source_type="immich", filename="IMG.jpg", mime_type="image/jpeg")
    item.original_path = original_key(media_item_id, item.filename, "image/jpeg")
    item.thumbnail_path = thumbnail_key(media_item_id, item.filename, "image/jpeg")
    bucket = get_settings().media_bucket
    aws.s3().put_object(Bucket=bucket, Key=item.original_path, Body=data)
    aws.s3().put_object(Bucket=bucket, Key=item.thumbnail_path, Body=jpeg_bytes(120, 90))
    item.status = ProcessingStatus.QUEUED.value
    item.save()
    process_media_item(media_item_id, backend)
    return media_items.get_item(media_item_id)


def assert_ended_clearly(item: MediaItem, expected: str, reason_words: str) -> None:
    assert item.status == expected, (item.status, item.last_error)
    if expected == FAILED:
        assert item.last_error
        assert reason_words in item.last_error.lower(), item.last_error
    else:
        assert item.last_error is None
    audit_stores().assert_consistent()


# --- named files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FILES))
def test_an_uploaded_file_ends_completed_or_failed_with_a_reason(name: str, backend: DepthBackend) -> None:
    make, expected, reason_words = FILES[name]

    item = upload_then_process(make(), backend)

    assert_ended_clearly(item, expected, reason_words)


@pytest.mark.parametrize("name", list(FILES))
def test_an_immich_original_ends_completed_or_failed_with_its_preview_depth_map_kept(
    name: str, backend: DepthBackend
) -> None:
    make, expected, reason_words = FILES[name]

    item = immich_original_then_process(make(), backend)

    assert_ended_clearly(item, expected, reason_words)
    # The preview was fine: its depth map stays whatever the original turned out to be.
    assert depth_maps.find(item.media_item_id, VersionType.THUMBNAIL) is not None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_ends_with_upright_depth_maps(orientation: int, backend: DepthBackend) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = encode(scene(120, 80), "JPEG", exif=exif.tobytes())
    upright = (80, 120) if orientation >= 5 else (120, 80)

    item = upload_then_process(data, backend, name="turned.jpg")

    assert_ended_clearly(item, COMPLETED, "")
    assert (item.width, item.height) == upright
    for version in MADE:
        record = depth_maps.find(item.media_item_id, version)
        assert record is not None
        assert (record.width, record.height) == upright


# --- whatever the bytes ---------------------------------------------------------------------------

_SEEDS = [
    encode(scene(48, 32), "JPEG"),
    encode(scene(48, 32), "PNG"),
    encode(scene(48, 32), "WEBP"),
    encode(scene(48, 32), "GIF"),
]


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    """A small valid image with a few bytes changed and perhaps cut short: this reaches deep into the
    decoders, where random bytes stop at the signature."""
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,  # the same files every CI run; a failure names the bytes
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.one_of(st.binary(max_size=256), damaged_files()))
def test_any_bytes_end_completed_or_failed_with_a_reason(data: bytes, backend: DepthBackend) -> None:
    for item in (upload_then_process(data, backend), immich_original_then_process(data, backend)):
        assert item.status in {COMPLETED, FAILED}, item.status
        assert (item.status == FAILED) == bool(item.last_error)
    audit_stores().assert_consistent()
