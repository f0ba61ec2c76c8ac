"""A fake Immich server: real HTTP on 127.0.0.1, answering the four endpoints we use as Immich would.

It emulates one server version at a time ("1.137.0", "2.7.5" or "3.1.0"): the JSON bodies follow that
version's OpenAPI document (required fields, types, id formats) and its error bodies follow that
version's shape (1.x/2.x ``{message, error, statusCode, correlationId}``, 3.x ``{message[, errors]}``).

What Immich does and the fake copies:

* auth comes first: no key -> 401 "Authentication required", wrong key -> 401 "Invalid API key", a key
  without the endpoint's permission -> 403 "Missing required permission: asset.read";
* then input validation (an id that is no UUID -> 400), then the access check, which answers an
  unknown asset with 400 "Not found or no asset.read access" (not 404);
* the preview is made like Immich makes it: EXIF orientation applied, then resized so that it covers
  a 1440 x 1440 box (``fit: outside``: the *short* side becomes 1440), never enlarged;
* the original is sent as stored, with its own mime type; an offline asset's file is missing, which
  Immich answers with a 500.

Test knobs, per asset: trashed, offline, type VIDEO, denied permissions, a delay before answering,
a stall in the middle of a download, chunked transfer (no Content-Length), a preview not made yet
(404 for the next N preview requests, as right after an upload), its visibility, ``updatedAt`` and
``createdAt`` (when it reached Immich);
albums (``add_album``); per path: fail the next N requests with a 5xx (or any status); and a count of
requests per path.

Search (``POST /api/search/metadata``) filters as Immich does: ``type``, ``visibility`` (timeline and
archive when not given), ``updatedAfter`` and ``createdBefore``/``createdAfter`` (inclusive),
``albumIds`` (assets in *all* of them), trashed assets left out unless ``withDeleted``; sorted by
``fileCreatedAt``, newest first unless ``order`` is ``asc``; ``size``/``page`` paging with
``nextPage`` the next page number as a string, or null on the last page; each asset without its
``exifInfo`` unless ``withExif`` (Immich joins the EXIF table only then).

Standalone, for the local runner's end-to-end tests::

    python -m tests.fakes.fake_immich --port 2283 --api-key KEY --seed-demo [--immich-version 2.7.5]

prints one JSON line (url, port, version, seeded asset ids) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import re
import signal
import sys
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, quote, urlsplit

from PIL import Image, ImageDraw, ImageOps

VERSIONS = ("1.137.0", "2.7.5", "3.1.0")
DEFAULT_VERSION = "2.7.5"
PREVIEW_SIZE = 1440
THUMBNAIL_SIZE = 250
EXIF_ORIENTATION_TAG = 0x0112

# The permission each endpoint's x-immich-permission names.
READ, VIEW, DOWNLOAD = "asset.read", "asset.view", "asset.download"

_MEDIA_SIZES = {
    "1.137.0": ("fullsize", "preview", "thumbnail"),
    "2.7.5": ("original", "fullsize", "preview", "thumbnail"),
    "3.1.0": ("original", "fullsize", "preview", "thumbnail"),
}
_ASSET_PATH = re.compile(r"^/api/assets/(?P<id>[^/]+)(?P<rest>/thumbnail|/original)?$")
_ALBUM_PATH = re.compile(r"^/api/albums/(?P<id>[^/]+)$")
ALBUM_READ = "album.read"
ASSET_TYPES = ("IMAGE", "VIDEO", "AUDIO", "OTHER")
VISIBILITIES = ("archive", "timeline", "hidden", "locked")
SEARCH_ORDERS = ("asc", "desc")
MAX_SEARCH_SIZE = 1000
DEFAULT_SEARCH_SIZE = 250
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_OWNER_ID = "5b1f0d1e-8a43-4c6e-9d3a-2f6b7c8d9e10"

# Fixed ids for --seed-demo, so the runner's tests may also name them directly.
DEMO_ASSETS = {
    "landscape": "0b5c6f0e-1d2a-4c3b-8e4f-5a6b7c8d9e01",
    "portrait_exif6": "1c6d7e8f-2e3b-4d4c-9f50-6b7c8d9e0f12",
    "webp_preview": "2d7e8f90-3f4c-4e5d-a061-7c8d9e0f1a23",
    "video": "3e8f90a1-4a5d-4f6e-b172-8d9e0f1a2b34",
}


# --- images ---------------------------------------------------------------------------------------


def make_photo(width: int, height: int, *, orientation: int = 1, seed: int = 0, quality: int = 85) -> bytes:
    """A photo-like JPEG of ``width`` x ``height`` stored pixels, tagged with the EXIF orientation.

    Smooth gradients with a little noise (compresses like a photo, gives a depth model something to
    see) and a red block in the stored top-left corner, so a test can tell which way it was turned.
    """
    size = (width, height)
    sky = Image.linear_gradient("L").resize(size)
    glow = Image.radial_gradient("L").resize(size)
    # Noise made small and scaled up: film-grain enough, and a tenth of the time at camera sizes.
    noise = Image.effect_noise((max(1, width // 4), max(1, height // 4)), 24 + seed % 16).resize(size)
    image = Image.merge("RGB", (sky, glow, Image.blend(sky, noise, 0.35)))
    ImageDraw.Draw(image).rectangle((0, 0, max(1, width // 6), max(1, height // 6)), fill=(230, 20, 20))
    exif = Image.Exif()
    if orientation != 1:
        exif[EXIF_ORIENTATION_TAG] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    return buffer.getvalue()


def make_preview(original: bytes, *, size: int = PREVIEW_SIZE, image_format: str = "jpeg") -> bytes:
    """What Immich's thumbnail job makes of an original: upright, covering size x size, not enlarged."""
    with Image.open(io.BytesIO(original)) as source:
        source.draft("RGB", (size, size))  # decode a JPEG at a reduced scale, still at least size x size
        upright = ImageOps.exif_transpose(source).convert("RGB")
    scale = size / min(upright.size)
    if scale < 1:
        upright = upright.resize(
            (max(1, round(upright.width * scale)), max(1, round(upright.height * scale))),
            Image.Resampling.BICUBIC,
            reducing_gap=2.0,
        )
    buffer = io.BytesIO()
    if image_format == "webp":
        upright.save(buffer, "WEBP", quality=80, method=0)  # method 0: the fastest encoder setting
    else:
        upright.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def preview_size(width: int, height: int, orientation: int = 1, size: int = PREVIEW_SIZE) -> tuple[int, int]:
    """The size ``make_preview`` gives a ``width`` x ``height`` original with that orientation."""
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    scale = size / min(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def _fake_mp4(seconds: float) -> bytes:
    """Enough of an MP4 to have the right magic; nobody decodes it."""
    box = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    return box + b"\x00" * int(2048 * max(seconds, 1))


# --- the asset model ------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class FakeAsset:
    """One asset and the knobs that make the fake misbehave for it."""

    id: str
    original: bytes
    original_mime_type: str
    original_file_name: str
    preview: bytes | None = None
    preview_mime_type: str = "image/jpeg"
    type: str = "IMAGE"
    # Stored pixels (EXIF ImageWidth/Height); Immich's top-level width/height are these turned upright.
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    duration_ms: int | None = None
    is_trashed: bool = False
    is_offline: bool = False
    # Permissions this asset's endpoints answer 403 for, as if the key lacked them.
    denied_permissions: set[str] = field(default_factory=set)
    # Seconds to wait before answering any request about this asset (a read timeout before headers).
    delay_s: float = 0.0
    # Downloads: send the headers and this many bytes, then stop sending (a read timeout mid-body).
    stall_after_bytes: int | None = None
    # Downloads: chunked transfer, no Content-Length, so only counting reveals the size.
    chunked: bool = False
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 15, 19, 30, tzinfo=UTC))
    # Immich's updatedAt (what search's updatedAfter compares); created_at when not set.
    updated_at: datetime | None = None
    # Immich's createdAt, when the file reached Immich (what search's createdBefore/After compare);
    # created_at when not set.
    uploaded_at: datetime | None = None
    visibility: str = "timeline"
    # Preview requests answered 404 ("Asset media not found") before the preview exists, as between
    # an upload and the end of Immich's thumbnail job.
    preview_not_ready_requests: int = 0

    @property
    def last_update(self) -> datetime:
        return self.updated_at or self.created_at

    @property
    def upload(self) -> datetime:
        return self.uploaded_at or self.created_at

    @property
    def preview_ready(self) -> bool:
        return self.preview is not None and self.preview_not_ready_requests <= 0

    @property
    def displayed_size(self) -> tuple[int | None, int | None]:
        if self.orientation in (5, 6, 7, 8):
            return self.height, self.width
        return self.width, self.height


def asset_json(asset: FakeAsset, version: str) -> dict[str, Any]:
    """The AssetResponseDto of ``version`` for the asset: every required field, in that version's types."""
    v1, v3 = version.startswith("1."), version.startswith("3.")
    taken = _iso(asset.created_at)
    width, height = asset.displayed_size
    extension = "." + asset.original_file_name.rsplit(".", 1)[-1] if "." in asset.original_file_name else ""
    exif: dict[str, Any] = {
        "make": "FakeCam" if asset.type == "IMAGE" else None,
        "model": "F-1" if asset.type == "IMAGE" else None,
        "exifImageWidth": asset.width,
        "exifImageHeight": asset.height,
        "fileSizeInByte": len(asset.original),
        "orientation": str(asset.orientation) if asset.orientation is not None else None,
        "dateTimeOriginal": taken,
        "modifyDate": taken,
        "timeZone": "UTC",
        "lensModel": None,
        "fNumber": 2.8 if asset.type == "IMAGE" else None,
        "focalLength": 35.0 if asset.type == "IMAGE" else None,
        "iso": 100 if asset.type == "IMAGE" else None,
        "exposureTime": "1/250" if asset.type == "IMAGE" else None,
        "latitude": None,
        "longitude": None,
        "city": None,
        "state": None,
        "country": None,
        "description": "",
        "projectionType": None,
        "rating": None,
    }
    body: dict[str, Any] = {
        "id": asset.id,
        "type": asset.type,
        "originalFileName": asset.original_file_name,
        "originalMimeType": asset.original_mime_type,
        "originalPath": f"/data/upload/{_OWNER_ID}/{asset.id[:2]}/{asset.id}{extension}",
        "ownerId": _OWNER_ID,
        "checksum": base64.b64encode(hashlib.sha1(asset.original).digest()).decode(),
        "thumbhash": None,
        "fileCreatedAt": taken,
        "fileModifiedAt": taken,
        "localDateTime": taken,
        "updatedAt": _iso(asset.last_update),
        "isFavorite": False,
        "isArchived": asset.visibility == "archive",
        "isTrashed": asset.is_trashed,
        "isOffline": asset.is_offline,
        "visibility": asset.visibility,
        "hasMetadata": True,
        "livePhotoVideoId": None,
        "duplicateId": None,
        "resized": asset.preview_ready,
        "exifInfo": exif,
        "people": [],
        "tags": [],
    }
    if v3:
        # 3.x: duration is whole milliseconds (null for a still image).
        body["duration"] = asset.duration_ms if asset.type == "VIDEO" else None
    else:
        body["duration"] = _duration_text(asset.duration_ms if asset.type == "VIDEO" else 0)
        body["deviceAssetId"] = f"web-{asset.original_file_name}-1705347000000"
        body["deviceId"] = "WEB"
    if not v1:
        body["createdAt"] = _iso(asset.upload)
        body["isEdited"] = False
        body["width"] = width
        body["height"] = height
    return body


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration_text(milliseconds: int | None) -> str:
    total = (milliseconds or 0) / 1000
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{seconds:09.6f}"


@dataclass
class FakeAlbum:
    id: str
    name: str
    asset_ids: list[str]
    created_at: datetime = field(default_factory=lambda: datetime(2024, 2, 1, 9, 0, tzinfo=UTC))


def user_json() -> dict[str, Any]:
    """The UserResponseDto of the key's owner (the same required fields in every version)."""
    return {
        "id": _OWNER_ID,
        "name": "Fake Admin",
        "email": "admin@example.com",
        "avatarColor": "primary",
        "profileImagePath": "",
        "profileChangedAt": _iso(datetime(2024, 1, 1, tzinfo=UTC)),
    }


def album_json(album: FakeAlbum, assets: list[dict[str, Any]] | None, version: str) -> dict[str, Any]:
    """The AlbumResponseDto of ``version``: 1.x/2.x carry the owner and (unless ``withoutAssets``) the
    assets; 3.x drops both and lists the owner first among ``albumUsers``."""
    created = _iso(album.created_at)
    body: dict[str, Any] = {
        "id": album.id,
        "albumName": album.name,
        "description": "",
        "albumThumbnailAssetId": album.asset_ids[0] if album.asset_ids else None,
        "assetCount": len(album.asset_ids),
        "createdAt": created,
        "updatedAt": created,
        "hasSharedLink": False,
        "isActivityEnabled": True,
        "shared": False,
    }
    if version.startswith("3."):
        body["albumUsers"] = [{"role": "owner", "user": user_json()}]
    else:
        body |= {"albumUsers": [], "owner": user_json(), "ownerId": _OWNER_ID, "assets": assets or []}
    return body


def version_json(version: str) -> dict[str, Any]:
    major, minor, patch = (int(part) for part in version.split("."))
    body: dict[str, Any] = {"major": major, "minor": minor, "patch": patch}
    if version.startswith("3."):
        body["prerelease"] = None
    return body


# --- the server -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class _Scripted:
    status: int
    times: int
    message: str
    headers: dict[str, str]
    body: bytes | None


class FakeImmich:
    """A running fake Immich. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(
        self,
        version: str = DEFAULT_VERSION,
        api_key: str = "fake-immich-api-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        preview_size: int = PREVIEW_SIZE,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}")
        self.version = version
        self.api_key = api_key
        self.preview_size = preview_size
        self.assets: dict[str, FakeAsset] = {}
        self.albums: dict[str, FakeAlbum] = {}
        # Permissions the key lacks everywhere (per asset: FakeAsset.denied_permissions).
        self.denied_permissions: set[str] = set()
        # How long a stalled download stays silent (cut short when the server stops).
        self.stall_s = 60.0
        self.requests: list[RecordedRequest] = []
        self._counts: Counter[str] = Counter()
        self._scripted: dict[str, _Scripted] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._host = host
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    # lifecycle

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> Self:
        # A short poll keeps stop() quick: serve_forever only notices shutdown between polls.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-immich", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # assets

    def add_asset(self, asset: FakeAsset) -> str:
        asset.id = asset.id.lower()  # as Postgres prints a uuid
        self.assets[asset.id] = asset
        return asset.id

    def add_image(
        self,
        asset_id: str | None = None,
        *,
        width: int = 2000,
        height: int = 1500,
        orientation: int = 1,
        preview_format: str = "jpeg",
        file_name: str | None = None,
        **knobs: Any,
    ) -> str:
        """A JPEG photo of ``width`` x ``height`` stored pixels with that EXIF orientation, and its
        preview as Immich makes it (``"jpeg"`` or ``"webp"``). ``knobs`` set other FakeAsset fields."""
        asset_id = asset_id or str(uuid.uuid4())
        original = make_photo(width, height, orientation=orientation, seed=len(self.assets))
        preview = make_preview(original, size=self.preview_size, image_format=preview_format)
        return self.add_asset(
            FakeAsset(
                id=asset_id,
                original=original,
                original_mime_type="image/jpeg",
                original_file_name=file_name or f"IMG_{len(self.assets) + 1:04d}.jpg",
                preview=preview,
                preview_mime_type=f"image/{preview_format}",
                width=width,
                height=height,
                orientation=orientation,
                **knobs,
            )
        )

    def add_video(
        self,
        asset_id: str | None = None,
        *,
        width: int = 1920,
        height: int = 1080,
        seconds: float = 5,
        **knobs: Any,
    ) -> str:
        """A VIDEO asset: an MP4 original and a JPEG preview of its first frame."""
        asset_id = asset_id or str(uuid.uuid4())
        frame = make_photo(width, height, seed=len(self.assets))
        return self.add_asset(
            FakeAsset(
                id=asset_id,
                type="VIDEO",
                original=_fake_mp4(seconds),
                original_mime_type="video/mp4",
                original_file_name=f"VID_{len(self.assets) + 1:04d}.mp4",
                preview=make_preview(frame, size=self.preview_size),
                width=width,
                height=height,
                duration_ms=int(seconds * 1000),
                **knobs,
            )
        )

    def add_album(self, name: str, asset_ids: list[str], album_id: str | None = None) -> str:
        """An album of the key owner's holding these assets (uuid4 ids, which 3.x's document demands)."""
        album = FakeAlbum(id=(album_id or str(uuid.uuid4())).lower(), name=name, asset_ids=list(asset_ids))
        self.albums[album.id] = album
        return album.id

    def search(self, query: dict[str, Any]) -> tuple[list[FakeAsset], bool]:
        """The assets one page of a metadata search finds, and whether another page follows."""
        found = [asset for asset in self.assets.values() if self._matches(asset, query)]
        newest_first = query.get("order", "desc") != "asc"
        found.sort(key=lambda asset: (asset.created_at, asset.id), reverse=newest_first)
        size = int(query.get("size") or DEFAULT_SEARCH_SIZE)
        start = (int(query.get("page") or 1) - 1) * size
        return found[start : start + size], len(found) > start + size

    def _matches(self, asset: FakeAsset, query: dict[str, Any]) -> bool:
        if asset.is_trashed and not query.get("withDeleted"):
            return False
        if "type" in query and asset.type != query["type"]:
            return False
        visibility = query.get("visibility")
        if asset.visibility not in ((visibility,) if visibility else ("timeline", "archive")):
            return False
        updated_after = query.get("updatedAfter")
        if updated_after is not None and asset.last_update < _parse_time(updated_after):
            return False
        created_before, created_after = query.get("createdBefore"), query.get("createdAfter")
        if created_before is not None and asset.upload > _parse_time(created_before):
            return False
        if created_after is not None and asset.upload < _parse_time(created_after):
            return False
        return all(
            asset.id in self.albums.get(album_id.lower(), _NO_ALBUM).asset_ids
            for album_id in query.get("albumIds", [])
        )

    def seed_demo(self) -> dict[str, str]:
        """A landscape photo, a sideways (EXIF 6) photo, one with a WebP preview, and a video."""
        demo = DEMO_ASSETS
        self.add_image(demo["landscape"], width=1920, height=1280, file_name="landscape.jpg")
        self.add_image(
            demo["portrait_exif6"], width=1600, height=1200, orientation=6, file_name="portrait.jpg"
        )
        self.add_image(
            demo["webp_preview"], width=1600, height=1066, preview_format="webp", file_name="webp.jpg"
        )
        self.add_video(demo["video"], width=1280, height=720, seconds=3)
        return dict(DEMO_ASSETS)

    # scripting and counting

    def fail_next(
        self,
        path: str,
        times: int = 1,
        status: int = 500,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` (no query) with ``status``, before auth or
        anything else: this version's error body with ``message``, or ``body`` as given; ``headers``
        add to (or replace) the usual ones, e.g. a ``Location`` or a ``Content-Type``."""
        text = message or ("Internal server error" if status >= 500 else HTTPStatus(status).phrase)
        with self._lock:
            self._scripted[path] = _Scripted(status, times, text, dict(headers or {}), body)

    def count(self, path: str) -> int:
        """How many requests reached ``path`` (no query), failed ones included."""
        with self._lock:
            return self._counts[path]

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self.requests.clear()

    def _record(self, request: RecordedRequest) -> _Scripted | None:
        with self._lock:
            self._counts[request.path] += 1
            self.requests.append(request)
            scripted = self._scripted.get(request.path)
            if scripted is None or scripted.times <= 0:
                return None
            scripted.times -= 1
            return scripted

    # error bodies, by version

    def error_body(self, status: int, message: str | list[str]) -> dict[str, Any]:
        if self.version.startswith("3."):
            # 3.x removes the fields that repeat the status line.
            return {"message": message}
        return {
            "message": message,
            "error": HTTPStatus(status).phrase,
            "statusCode": status,
            "correlationId": uuid.uuid4().hex[:8],
        }

    def invalid(self, field_name: str, message: str) -> dict[str, Any]:
        """A validation failure of one body field, in this version's shape."""
        if self.version.startswith("3."):
            issue = {"code": "invalid_value", "path": [field_name], "message": message}
            return {"message": "Validation failed", "errors": [issue]}
        return self.error_body(400, [f"{field_name} {message}"])

    def validation_error(self, field_name: str) -> dict[str, Any]:
        if self.version.startswith("3."):
            issue = {
                "code": "invalid_format",
                "format": "uuid",
                "path": [field_name],
                "message": "Invalid UUID",
            }
            return {"message": "Validation failed", "errors": [issue]}
        return self.error_body(400, [f"{field_name} must be a UUID"])


_NO_ALBUM = FakeAlbum(id="", name="", asset_ids=[])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeImmich


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections of clients that never close them end after this long.
    timeout = 10
    server: _Server
    server_version = "fake-immich"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on counts, not on a log."""

    @property
    def fake(self) -> FakeImmich:
        return self.server.fake

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        request = RecordedRequest(
            "GET", parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}
        )
        scripted = self.fake._record(request)
        if scripted is not None:
            body = self.fake.error_body(scripted.status, scripted.message)
            self._json(scripted.status, body, scripted.headers, raw=scripted.body)
            return
        if parts.path == "/api/server/version":
            self._json(200, version_json(self.fake.version))
            return
        album = _ALBUM_PATH.match(parts.path)
        if album is not None:
            self._album(album.group("id"), request.query)
            return
        match = _ASSET_PATH.match(parts.path)
        if match is None:
            self._json(404, self.fake.error_body(404, f"Cannot GET {parts.path}"))
            return
        rest = match.group("rest") or ""
        permission = {"": READ, "/thumbnail": VIEW, "/original": DOWNLOAD}[rest]
        if not self._authorized(permission, match.group("id")):
            return
        if not _UUID.match(match.group("id")):
            self._json(400, self.fake.validation_error("id"))
            return
        asset = self.fake.assets.get(match.group("id").lower())
        if asset is None:
            self._json(400, self.fake.error_body(400, f"Not found or no {permission} access"))
            return
        if asset.delay_s and self.fake._stopping.wait(asset.delay_s):
            return
        if rest == "":
            self._json(200, asset_json(asset, self.fake.version))
        elif rest == "/thumbnail":
            self._thumbnail(asset, request.query.get("size", ["thumbnail"])[-1])
        else:
            self._original(asset)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            "POST", parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, raw
        )
        scripted = self.fake._record(request)
        if scripted is not None:
            body = self.fake.error_body(scripted.status, scripted.message)
            self._json(scripted.status, body, scripted.headers, raw=scripted.body)
            return
        if parts.path != "/api/search/metadata":
            self._json(404, self.fake.error_body(404, f"Cannot POST {parts.path}"))
            return
        if not self._authorized(READ, ""):
            return
        try:
            query = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, self.fake.error_body(400, "Unexpected token in JSON"))
            return
        problem = _search_problem(query)
        if problem is not None:
            self._json(400, self.fake.invalid(*problem))
            return
        page, has_next = self.fake.search(query)
        number = int(query.get("page") or 1)
        items = [asset_json(asset, self.fake.version) for asset in page]
        if query.get("withExif") is not True:
            for item in items:
                del item["exifInfo"]
        self._json(
            200,
            {
                "albums": {"total": 0, "count": 0, "items": [], "facets": []},
                "assets": {
                    "total": len(items),
                    "count": len(items),
                    "items": items,
                    "facets": [],
                    "nextPage": str(number + 1) if has_next else None,
                },
            },
        )

    def _album(self, album_id: str, query: dict[str, list[str]]) -> None:
        if not self._authorized(ALBUM_READ, album_id):
            return
        if not _UUID.match(album_id):
            self._json(400, self.fake.validation_error("id"))
            return
        album = self.fake.albums.get(album_id.lower())
        if album is None:
            self._json(400, self.fake.error_body(400, f"Not found or no {ALBUM_READ} access"))
            return
        without_assets = query.get("withoutAssets", ["false"])[-1] == "true"
        assets = None
        if not self.fake.version.startswith("3.") and not without_assets:
            assets = [
                asset_json(self.fake.assets[asset_id], self.fake.version)
                for asset_id in album.asset_ids
                if asset_id in self.fake.assets
            ]
        self._json(200, album_json(album, assets, self.fake.version))

    def _authorized(self, permission: str, asset_id: str) -> bool:
        key = self.headers.get("x-api-key")
        if not key:
            self._json(401, self.fake.error_body(401, "Authentication required"))
            return False
        if key != self.fake.api_key:
            self._json(401, self.fake.error_body(401, "Invalid API key"))
            return False
        asset = self.fake.assets.get(asset_id.lower())
        denied = self.fake.denied_permissions | (asset.denied_permissions if asset else set())
        if permission in denied:
            self._json(403, self.fake.error_body(403, f"Missing required permission: {permission}"))
            return False
        return True

    def _thumbnail(self, asset: FakeAsset, size: str) -> None:
        if size not in _MEDIA_SIZES[self.fake.version]:
            self._json(400, self.fake.validation_error("size"))
            return
        if asset.preview is not None and asset.preview_not_ready_requests > 0:
            with self.fake._lock:
                asset.preview_not_ready_requests -= 1
            self._json(404, self.fake.error_body(404, "Asset media not found"))
            return
        if asset.preview is None:
            # Immich answers a missing thumbnail file like any missing file.
            self._json(404, self.fake.error_body(404, "Asset media not found"))
            return
        if size == "original":
            self._original(asset)
        elif size == "thumbnail":
            self._send_file(
                make_preview(asset.preview, size=THUMBNAIL_SIZE, image_format="webp"), "image/webp", asset
            )
        else:
            # fullsize is only made for formats a browser cannot show; otherwise Immich serves the preview.
            self._send_file(asset.preview, asset.preview_mime_type, asset)

    def _original(self, asset: FakeAsset) -> None:
        if asset.is_offline:
            # The file is gone from the external library: sendFile fails with ENOENT, a plain 500.
            self._json(500, self.fake.error_body(500, "Internal server error"))
            return
        self._send_file(asset.original, asset.original_mime_type, asset, file_name=asset.original_file_name)

    def _send_file(self, data: bytes, mime_type: str, asset: FakeAsset, file_name: str | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", mime_type)
        self.send_header("Cache-Control", "private, max-age=86400, no-transform")
        if file_name:
            # RFC 6266 and 5987, as Immich sends it: the name percent-encoded as UTF-8.
            self.send_header("Content-Disposition", f"inline; filename*=UTF-8''{quote(file_name, safe='')}")
        if asset.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        limit = asset.stall_after_bytes
        body = data if limit is None else data[:limit]
        try:
            if asset.chunked:
                for start in range(0, len(body), 64 * 1024):
                    chunk = body[start : start + 64 * 1024]
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                self.wfile.write(body)
            self.wfile.flush()
            if limit is not None:
                self.fake._stopping.wait(self.fake.stall_s)
                self.close_connection = True
                return
            if asset.chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a size cap or a timeout): that is its right.
            self.close_connection = True

    def _json(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = json.dumps(body).encode() if raw is None else raw
        headers = {"Content-Type": "application/json; charset=utf-8"} | (headers or {})
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if self.fake.version.startswith("3."):
            self.send_header("x-immich-cid", uuid.uuid4().hex[:8])
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _search_problem(query: object) -> tuple[str, str] | None:
    """The first field of a MetadataSearchDto that Immich's validation would refuse, if any."""
    if not isinstance(query, dict):
        return "body", "must be an object"
    for name, low, high in (("size", 1, MAX_SEARCH_SIZE), ("page", 1, 2**53 - 1)):
        value = query.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
        ):
            return name, f"must be an integer from {low} to {high}"
    if "type" in query and query["type"] not in ASSET_TYPES:
        return "type", f"must be one of {', '.join(ASSET_TYPES)}"
    if "visibility" in query and query["visibility"] not in VISIBILITIES:
        return "visibility", f"must be one of {', '.join(VISIBILITIES)}"
    if "order" in query and query["order"] not in SEARCH_ORDERS:
        return "order", f"must be one of {', '.join(SEARCH_ORDERS)}"
    for name in ("updatedAfter", "createdBefore", "createdAfter"):
        if name in query:
            try:
                _parse_time(str(query[name]))
            except ValueError:
                return name, "must be a date-time"
    album_ids = query.get("albumIds", [])
    if not isinstance(album_ids, list) or not all(isinstance(a, str) and _UUID.match(a) for a in album_ids):
        return "albumIds", "must be a list of UUIDs"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake Immich server for local end-to-end tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--immich-version", choices=VERSIONS, default=DEFAULT_VERSION)
    parser.add_argument("--seed-demo", action="store_true", help="add a few demo assets")
    args = parser.parse_args(argv)

    fake = FakeImmich(args.immich_version, args.api_key, host=args.host, port=args.port)
    assets = fake.seed_demo() if args.seed_demo else {}
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with fake:
        print(
            json.dumps({"url": fake.url, "port": fake.port, "version": fake.version, "assets": assets}),
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
