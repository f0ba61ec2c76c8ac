"""A fixed request/response transcript of the whole HTTP API, for proving that a change of the code
behind it leaves what callers see unchanged.

`record(runner, immich)` adds the scenario's assets to the fake Immich, plays one fixed sequence of
requests against the running local runner (every route of the API, its main answers and the
gateway's own), and returns the transcript: one entry per request, in the order sent.

What the transcript guarantees:

* It is deterministic: the same code gives the same transcript, run after run. Every UUID becomes a
  placeholder (``<id-1>``, ``<id-2>``, ...) numbered by first appearance in the whole transcript, so the
  same id is the same placeholder everywhere; every ISO timestamp becomes ``<time>``; loopback ports
  become ``<port>``; the signed parts of presigned URLs and POST policies become placeholders; a list
  cursor becomes ``<cursor-N>`` beside its decoded (and likewise normalised) content. Request ids and
  dates the server stamps on each answer are not recorded. Dictionaries are walked in sorted key order,
  so placeholder numbers do not depend on the order a server writes JSON keys in.
* Bodies: JSON is recorded parsed and normalised; a depth map (PNG) by its decoded size and mode, its
  length class and a coarse fingerprint of its pixels, not its bytes (see `Normaliser.png`), so SHA-256
  digests (ETags among them) become placeholders too (``<sha-1>``, ...), and a depth map's ``file_size``
  its length class; any other binary body is recorded as its SHA-256 and length. The OpenAPI document
  and the docs page are recorded by status and content type only: they are expected to change.
* One answer depends on timing by nature (a regeneration refused while the first is still queued, or
  already being processed): its entry says so under ``timing_dependent`` and the status word is masked.
  No other value of the transcript depends on timing.
* Every request waits for what it started: processing is awaited with `Runner.wait_finished` (or a
  listing poll for imports queued in the background) before the next step, and polls are not
  recorded.

Deliberately left out: answers known to be 500 today (a forged list cursor, deeply nested JSON,
concurrent deletes), which are being fixed separately, and the 202 of an evicted depth map (eviction
needs maps unread for days).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
from PIL import Image

from tests.fakes.fake_immich import FakeAsset, FakeImmich, make_preview
from tests.support.images import jpeg_bytes
from tests.support.runner import FINISHED, Runner

WEBHOOK_SECRET = "transcript-webhook-secret"
# What the recorded answers were made under: the runner environment of the golden transcript.
RUNNER_ENV = {
    "IMMICH_WEBHOOK_SECRET": WEBHOOK_SECRET,
    # The model's smallest inputs, on one thread: quick, and the same arithmetic every run.
    "THUMBNAIL_INPUT_SIZE": "70",
    "FULL_RESOLUTION_INPUT_SIZE": "140",
    "OMP_NUM_THREADS": "1",
    # float32 whatever the processor offers: bf16 units would change the maps from machine to machine.
    "DEPTH_DTYPE": "float32",
    # Small photos' maps (about 0.1 MB) are sent inline, the upload's (about 0.9 MB) by redirect.
    "MAX_INLINE_RESPONSE_BYTES": "500000",
}

# The scenario's Immich assets and albums: fixed ids, photos made from seeded pixels (the fake's own
# photos draw their noise from the C library's rand(), which other tests in the process move on).
PHOTO = "0a000000-0000-4000-8000-000000000001"  # imported directly
SLOW_PHOTO = "0a000000-0000-4000-8000-000000000002"  # Immich answers slowly: seen while importing
WEBHOOK_PHOTO = "0a000000-0000-4000-8000-000000000003"  # imported through the webhook
ALBUM_PHOTO = "0a000000-0000-4000-8000-000000000004"  # imported through its album
VIDEO = "0a000000-0000-4000-8000-000000000005"
TRASHED = "0a000000-0000-4000-8000-000000000006"
OFFLINE = "0a000000-0000-4000-8000-000000000007"
ALBUM = "0b000000-0000-4000-8000-000000000001"
UNKNOWN = "0f000000-0000-4000-8000-00000000dead"  # known to nobody
SLOW_PHOTO_DELAY_S = 1.5  # before each of Immich's answers about SLOW_PHOTO: three of them

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_SHA256 = re.compile(r"\b[0-9a-f]{64}\b", re.IGNORECASE)
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_AMZ_DATE = re.compile(r"\b\d{8}T\d{6}Z\b")
# A SigV4 credential scope's date: ``<key id>/20240115/us-east-1/s3/aws4_request``.
_CREDENTIAL_DATE = re.compile(r"/\d{8}(/[a-z0-9-]+/[a-z0-9-]+/aws4_request)")
_LOOPBACK_PORT = re.compile(r"(https?://(?:127\.0\.0\.1|localhost)):\d+")
# Response headers that say something about the API; the rest (Date, Server, lengths) do not.
_KEPT_HEADERS = re.compile(
    r"^(content-type|etag|cache-control|location|retry-after|content-disposition|x-depth-map-.*|x-model-.*"
    r"|x-generated-at|access-control-.*)$",
    re.IGNORECASE,
)
_SIGNED_FIELDS = {"x-amz-signature": "<signature>", "x-amz-date": "<amz-date>"}


def _photo(asset_id: str, width: int, height: int, seed: int, file_name: str, **knobs: Any) -> FakeAsset:
    original = jpeg_bytes(width, height, seed=seed)
    return FakeAsset(
        id=asset_id,
        original=original,
        original_mime_type="image/jpeg",
        original_file_name=file_name,
        preview=make_preview(original),
        width=width,
        height=height,
        orientation=1,
        **knobs,
    )


def add_scenario_assets(immich: FakeImmich) -> None:
    """The assets and the album the scenario names, added to `immich` (again: no harm)."""
    immich.add_asset(_photo(PHOTO, 320, 240, 1, "garden.jpg"))
    immich.add_asset(_photo(SLOW_PHOTO, 240, 320, 2, "slow.jpg", delay_s=SLOW_PHOTO_DELAY_S))
    immich.add_asset(_photo(WEBHOOK_PHOTO, 300, 200, 3, "webhook.jpg"))
    immich.add_asset(_photo(ALBUM_PHOTO, 200, 300, 4, "album.jpg"))
    immich.add_asset(_photo(TRASHED, 64, 48, 5, "trashed.jpg", is_trashed=True))
    immich.add_asset(_photo(OFFLINE, 64, 48, 6, "offline.jpg", is_offline=True))
    video = _photo(VIDEO, 320, 180, 7, "clip.mp4", type="VIDEO", duration_ms=3000)
    video.original, video.original_mime_type = b"\x00\x00\x00\x20ftypisom" + bytes(2048), "video/mp4"
    immich.add_asset(video)
    immich.add_album("Holiday", [ALBUM_PHOTO, VIDEO], album_id=ALBUM)


# --------------------------------------------------------------------------------------- normalising


def length_class(length: int) -> str:
    """The power-of-two bracket a length falls in: ``"64 KiB-128 KiB"``."""
    if length <= 0:
        return "0"
    low = 1 << (length.bit_length() - 1)
    return f"{_bytes(low)}-{_bytes(low * 2)}"


def _bytes(count: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count // size} {unit}"
    return f"{count} B"


def png_fingerprint(pixels: np.ndarray[Any, Any], full_scale: float) -> list[str]:
    """The mean of each cell of a 4 x 4 grid over the image on a 0-255 scale, a row to a string: what
    the picture is (its orientation, its near and far), blind to the last bits of the model's
    arithmetic (a pixel one level of 65535 off moves a cell's mean by far less than half a step)."""
    height, width = pixels.shape[:2]
    rows = [slice(r * height // 4, (r + 1) * height // 4) for r in range(4)]
    cols = [slice(c * width // 4, (c + 1) * width // 4) for c in range(4)]
    return [
        " ".join(f"{round(float(pixels[row, col].mean()) / full_scale * 255):3d}" for col in cols)
        for row in rows
    ]


def _binary_summary(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}


@dataclass
class Normaliser:
    """Turns run-specific values into stable placeholders; one per transcript, so that a placeholder
    means the same value wherever it appears."""

    ids: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # SHA-256 hex -> placeholder
    cursors: dict[str, str] = field(default_factory=dict)  # cursor -> placeholder
    decoded_cursors: dict[str, Any] = field(default_factory=dict)  # placeholder -> normalised content

    def _id(self, match: re.Match[str]) -> str:
        value = match.group(0).lower()
        if value not in self.ids:
            self.ids[value] = f"<id-{len(self.ids) + 1}>"
        return self.ids[value]

    def _digest(self, match: re.Match[str]) -> str:
        value = match.group(0).lower()
        if value not in self.digests:
            self.digests[value] = f"<sha-{len(self.digests) + 1}>"
        return self.digests[value]

    def text(self, value: str) -> str:
        if value in self.cursors:
            return self.cursors[value]
        value = _UUID.sub(self._id, value)
        value = _SHA256.sub(self._digest, value)
        value = _ISO_TIME.sub("<time>", value)
        value = _AMZ_DATE.sub("<amz-date>", value)
        value = _CREDENTIAL_DATE.sub(r"/<date>\1", value)
        return _LOOPBACK_PORT.sub(r"\1:<port>", value)

    def url(self, value: str) -> str:
        """A URL as scheme, host and path; a query (a presigned URL's signature) as ``<signed-query>``."""
        parts = urlsplit(value)
        base = self.text(f"{parts.scheme}://{parts.netloc}{parts.path}")
        return base + ("?<signed-query>" if parts.query else "")

    def cursor(self, value: str) -> str:
        if value not in self.cursors:
            placeholder = f"<cursor-{len(self.cursors) + 1}>"
            try:
                padded = value + "=" * (-len(value) % 4)
                decoded: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
            except (ValueError, binascii.Error):
                decoded = "<not base64 JSON>"
            self.cursors[value] = placeholder
            self.decoded_cursors[placeholder] = self.value(decoded)
        return self.cursors[value]

    def value(self, value: Any) -> Any:
        """A JSON value, normalised; dictionaries walked in sorted key order."""
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            is_png = value.get("format") == "png"
            for key in sorted(value):
                item = value[key]
                if is_png and key == "file_size" and isinstance(item, int):
                    out[key] = length_class(item)  # a depth map's: see `png`
                elif key == "nextCursor" and isinstance(item, str):
                    out[key] = self.cursor(item)
                elif key == "url" and isinstance(item, str):
                    out[key] = self.url(item)
                elif key == "fields" and isinstance(item, dict):
                    out[key] = self.presigned_fields(item)
                else:
                    out[self.text(key)] = self.value(item)
            return out
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def png(self, data: bytes) -> dict[str, Any]:
        """A depth map as its size, mode, length class, a coarse fingerprint of its pixels, and its
        SHA-256 as a placeholder (the same one as the ETag that names it).

        Not its bytes: the tiny model's maps are the same byte for byte run after run on one machine
        and one thread (checked while recording the golden transcript), but not across thread counts
        (two threads move about 0.04 % of the pixels by one level of 65535, which changes the hash, the
        ETag and the length) and so not across CPUs either. What is recorded is blind to that."""
        summary: dict[str, Any] = {
            "sha256": self.text(hashlib.sha256(data).hexdigest()),
            "length_class": length_class(len(data)),
        }
        try:
            with Image.open(io.BytesIO(data)) as image:
                summary |= {"png_size": list(image.size), "png_mode": image.mode}
                pixels = np.asarray(image, dtype=np.float64)
        except OSError:
            return summary | {"png_size": None}
        full_scale = 65535.0 if summary["png_mode"].startswith("I") else 255.0
        return summary | {"fingerprint": png_fingerprint(pixels, full_scale)}

    def presigned_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A presigned POST's form fields: the signature and dates masked, the policy decoded."""
        out: dict[str, Any] = {}
        for name in sorted(fields):
            raw = str(fields[name])
            if name.lower() in _SIGNED_FIELDS:
                out[name] = _SIGNED_FIELDS[name.lower()]
            elif name.lower() == "policy":
                try:
                    out[name] = {"decoded": self.value(json.loads(base64.b64decode(raw)))}
                except (ValueError, binascii.Error):
                    out[name] = "<not base64 JSON>"
            else:
                out[name] = self.text(raw)
        return out


# --------------------------------------------------------------------------------------- recording


@dataclass
class Recorder:
    """Sends requests to the runner (or to a URL it handed out) and records each as an entry."""

    runner: Runner
    normaliser: Normaliser = field(default_factory=Normaliser)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def send(
        self,
        step: str,
        method: str,
        path: str,
        *,
        key: str | None = "valid",
        params: dict[str, str] | None = None,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        body: bool = True,
        url: str | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        form: dict[str, str] | None = None,
        timing_dependent: Callable[[dict[str, Any]], str] | None = None,
    ) -> requests.Response:
        """Send one request and record its entry; returns the raw response.

        `key`: "valid", "wrong" or None (no x-api-key header). `url`: a full URL instead of the
        runner's, one the API handed out (the embedded S3, whose answers are not the API's: only their
        status, content type and body are recorded). `body=False` records no response body.
        `timing_dependent` masks, in place, what of the normalised entry depends on timing and returns
        what it masked, which the entry states."""
        sent_headers = dict(headers or {})
        if key == "valid":
            sent_headers["x-api-key"] = self.runner.api_key
        elif key == "wrong":
            sent_headers["x-api-key"] = "not-the-key"
        response = requests.request(
            method,
            url or self.runner.url + path,
            params=params,
            json=json_body,
            data=form if form is not None else data,
            files=files,
            headers=sent_headers,
            timeout=60,
            allow_redirects=False,
        )
        n = self.normaliser
        request: dict[str, Any] = {"method": method, "path": n.url(url) if url else n.text(path)}
        if params:
            request["query"] = {
                name: n.cursor(value) if name == "cursor" and value in n.cursors else n.text(value)
                for name, value in sorted(params.items())
            }
        if sent_headers:
            request["headers"] = {
                name.lower(): self._sent_header(name, v) for name, v in sent_headers.items()
            }
        if json_body is not None:
            request["json"] = n.value(json_body)
        if data is not None:
            request["data"] = n.text(data if isinstance(data, str) else data.decode(errors="replace"))
        if form is not None:
            request["form_fields"] = sorted(form)
        if files:
            request["files"] = {
                name: {"filename": f[0], "content_type": f[2], **_binary_summary(f[1])}
                for name, f in sorted(files.items())
            }
        entry = self.add(step, request, response, body=body, only_content_type=url is not None)
        if timing_dependent is not None:
            entry["timing_dependent"] = timing_dependent(entry)
        return response

    def add(
        self,
        step: str,
        request: dict[str, Any],
        response: requests.Response,
        *,
        body: bool = True,
        only_content_type: bool = False,
    ) -> dict[str, Any]:
        """Record the entry of a request sent elsewhere (`request`: its summary, normalised)."""
        entry = {
            "step": step,
            "request": request,
            "response": self._response(response, body, only_content_type),
        }
        self.entries.append(entry)
        return entry

    def _sent_header(self, name: str, value: str) -> str:
        if name.lower() == "x-api-key":
            return "<valid key>" if value == self.runner.api_key else "<wrong key>"
        if name.lower() == "x-immich-webhook-secret":
            return "<valid secret>" if value == WEBHOOK_SECRET else "<wrong secret>"
        return self.normaliser.text(value)

    def _response(
        self, response: requests.Response, with_body: bool, only_content_type: bool
    ) -> dict[str, Any]:
        n = self.normaliser
        headers: dict[str, Any] = {}
        for name, value in sorted(response.headers.items(), key=lambda item: item[0].lower()):
            if not _KEPT_HEADERS.match(name) or (only_content_type and name.lower() != "content-type"):
                continue
            headers[name.lower()] = n.url(value) if name.lower() == "location" else n.text(value)
        recorded: dict[str, Any] = {"status": response.status_code, "headers": headers}
        if not with_body:
            recorded["body"] = "<not recorded>"
            return recorded
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        cursors_before = set(n.decoded_cursors)
        if not response.content:
            recorded["body"] = None
        elif content_type == "application/json" or content_type.endswith("+json"):
            try:
                recorded["body"] = n.value(response.json())
            except ValueError:
                recorded["body"] = {"text": n.text(response.text)}
        elif content_type == "image/png":
            recorded["body"] = n.png(response.content)
        elif content_type.startswith("text/") or content_type in {"application/xml"}:
            recorded["body"] = {"text": n.text(response.text)}
        else:
            recorded["body"] = _binary_summary(response.content)
        new_cursors = {c: n.decoded_cursors[c] for c in n.decoded_cursors if c not in cursors_before}
        if new_cursors:
            recorded["cursors_decoded"] = new_cursors
        return recorded


# --------------------------------------------------------------------------------------- waiting


def _items(runner: Runner) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        page = runner.call("GET", "/api/media", params=params)
        assert page.status_code == 200, page.text
        yield from page.json()["items"]
        cursor = page.json()["nextCursor"]
        if not cursor:
            return


def wait_imported(runner: Runner, asset_id: str, timeout_s: float = 120) -> str:
    """The media item of an Immich asset imported in the background, once its processing finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [item for item in _items(runner) if item["immich_asset_id"] == asset_id]
        if found and found[0]["processing_status"] in FINISHED:
            return str(found[0]["media_item_id"])
        time.sleep(0.2)
    raise AssertionError(f"asset {asset_id} was never imported; runner log:\n{runner.log_tail()}")


def _settled(runner: Runner, media_item_id: str) -> None:
    status = runner.wait_finished(media_item_id)
    assert status["processing_status"] == "completed", status


def _busy_status(entry: dict[str, Any]) -> str:
    """A second regeneration sent right after the first: the item is still queued, or its processor
    has already taken it. Either answers 409; only the status word differs."""
    body = entry["response"]["body"]
    if isinstance(body, dict) and entry["response"]["status"] == 409:
        for status in ("queued", "processing"):
            body["message"] = body["message"].replace(f" is {status}: ", " is <queued|processing>: ")
        details = body.get("details", {})
        if details.get("processingStatus") in {"queued", "processing"}:
            details["processingStatus"] = "<queued|processing>"
        body["message"] = re.sub(
            r"<queued\|processing>: (it is already queued to have its depth maps made"
            r"|its depth maps are being made right now)",
            "<queued|processing>: <why>",
            body["message"],
        )
    return "the item is queued or already being processed, by when the processor takes the message"


# --------------------------------------------------------------------------------------- the scenario


def record(runner: Runner, immich: FakeImmich) -> list[dict[str, Any]]:
    """Play the scenario against a runner started with `RUNNER_ENV` and pointed at `immich`, whose
    media store must be empty, and return the transcript (a JSON-ready list of entries)."""
    add_scenario_assets(immich)
    rec = Recorder(runner)
    _gateway_and_documents(rec)
    photo_item = _immich_imports(rec)
    _depth_downloads(rec, photo_item)
    _while_importing(rec, runner)
    _webhook(rec, runner)
    _album(rec, runner)
    upload_item = _uploads(rec, runner)
    _listing(rec)
    _regeneration(rec, runner, photo_item)
    _deletion(rec, photo_item, upload_item)
    return rec.entries


def _gateway_and_documents(rec: Recorder) -> None:
    send = rec.send
    send("the OpenAPI document needs no key", "GET", "/api/openapi.json", key=None, body=False)
    send("the docs page needs no key", "GET", "/api/docs", key=None, body=False)
    send("no x-api-key header", "GET", "/api/media", key=None)
    send("a wrong x-api-key", "GET", "/api/media", key="wrong")
    send("a route that does not exist", "GET", "/api/nothing-here")
    send("a method no route takes", "PATCH", "/api/media")
    send("HEAD, which no route takes", "HEAD", "/api/media")
    send(
        "a CORS preflight needs no key",
        "OPTIONS",
        f"/api/media/{UNKNOWN}",
        key=None,
        headers={
            "Origin": "https://vr.example",
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    send("an empty listing", "GET", "/api/media")


def _immich_imports(rec: Recorder) -> str:
    send = rec.send
    send("import: an asset id that is no UUID", "POST", "/api/immich/import/not-a-uuid")
    send("import: an asset Immich does not know", "POST", f"/api/immich/import/{UNKNOWN}")
    send("import: a video", "POST", f"/api/immich/import/{VIDEO}")
    send("import: an asset in the trash", "POST", f"/api/immich/import/{TRASHED}")
    send("import: an offline asset", "POST", f"/api/immich/import/{OFFLINE}")
    imported = send("import: a photo", "POST", f"/api/immich/import/{PHOTO}")
    assert imported.status_code == 202, imported.text
    item = str(imported.json()["mediaItemId"])
    _settled(rec.runner, item)
    send("import: the same photo again", "POST", f"/api/immich/import/{PHOTO}")
    send(
        "an item, asked for from a web page",
        "GET",
        f"/api/media/{item}",
        headers={"Origin": "https://vr.example"},
    )
    send("an item id that is no UUID", "GET", "/api/media/not-a-uuid")
    send("an item that does not exist", "GET", f"/api/media/{UNKNOWN}")
    return item


def _depth_downloads(rec: Recorder, item: str) -> None:
    send = rec.send
    full = send(
        "the full-resolution map (the default)",
        "GET",
        f"/api/media/{item}/depth",
        headers={"Accept": "image/png"},
    )
    thumb = send(
        "the thumbnail map",
        "GET",
        f"/api/media/{item}/depth",
        params={"version": "thumbnail"},
        headers={"Accept": "image/png"},
    )
    send(
        "the thumbnail map, asked as fetch() asks: redirected to S3, where API Gateway would send base64",
        "GET",
        f"/api/media/{item}/depth",
        params={"version": "thumbnail"},
        headers={"Accept": "*/*"},
    )
    send(
        "the full-resolution map, unchanged since its ETag",
        "GET",
        f"/api/media/{item}/depth",
        params={"version": "full_resolution"},
        headers={"If-None-Match": full.headers.get("ETag", "")},
    )
    send(
        "the thumbnail map, its ETag among others",
        "GET",
        f"/api/media/{item}/depth",
        params={"version": "thumbnail"},
        headers={"If-None-Match": f'"0000", {thumb.headers.get("ETag", "")}'},
    )
    send(
        "the thumbnail map, another ETag",
        "GET",
        f"/api/media/{item}/depth",
        params={"version": "thumbnail"},
        headers={"Accept": "image/png", "If-None-Match": '"0000"'},
    )
    send("a version that does not exist", "GET", f"/api/media/{item}/depth", params={"version": "huge"})
    send("the map of an item that does not exist", "GET", f"/api/media/{UNKNOWN}/depth")
    send("the map of an item id that is no UUID", "GET", "/api/media/not-a-uuid/depth")
    send("the maps' metadata, after one read of each", "GET", f"/api/media/{item}/depth/info")
    send("the maps' metadata of an item that does not exist", "GET", f"/api/media/{UNKNOWN}/depth/info")
    send("the maps' metadata of an item id that is no UUID", "GET", "/api/media/not-a-uuid/depth/info")


def _while_importing(rec: Recorder, runner: Runner) -> None:
    """An import that Immich answers slowly: the item exists, `pending`, for a few seconds."""
    answer: dict[str, requests.Response] = {}

    def run_import() -> None:
        answer["import"] = runner.call("POST", f"/api/immich/import/{SLOW_PHOTO}", timeout=60)

    importing = threading.Thread(target=run_import, name="slow-import")
    importing.start()
    try:
        item = _wait_pending_item(runner, SLOW_PHOTO)
        send = rec.send
        send("an item still being imported", "GET", f"/api/media/{item}")
        send(
            "the map of an item still being imported",
            "GET",
            f"/api/media/{item}/depth",
            params={"version": "thumbnail"},
        )
        send("the maps' metadata of an item still being imported", "GET", f"/api/media/{item}/depth/info")
        send("regenerating an item still being imported", "POST", f"/api/media/{item}/depth/regenerate")
    finally:
        importing.join(timeout=60)
    # Recorded once answered; it was sent before the four above.
    response = answer["import"]
    rec.add(
        "import: a photo Immich answers slowly for (sent before the four entries above)",
        {
            "method": "POST",
            "path": rec.normaliser.text(f"/api/immich/import/{SLOW_PHOTO}"),
            "headers": {"x-api-key": "<valid key>"},
        },
        response,
    )
    assert response.status_code == 202, response.text
    _settled(runner, str(response.json()["mediaItemId"]))


def _wait_pending_item(runner: Runner, asset_id: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for item in _items(runner):
            if item["immich_asset_id"] == asset_id:
                assert item["processing_status"] == "pending", item
                return str(item["media_item_id"])
        time.sleep(0.05)
    raise AssertionError(f"asset {asset_id} never became pending; runner log:\n{runner.log_tail()}")


def _webhook(rec: Recorder, runner: Runner) -> None:
    def hook(step: str, payload: Any = None, *, secret: str | None = WEBHOOK_SECRET, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {}) | ({"X-Immich-Webhook-Secret": secret} if secret else {})
        return rec.send(
            step, "POST", "/api/immich/webhook", key=None, json_body=payload, headers=headers, **kwargs
        )

    def envelope(asset: dict[str, Any], trigger: str = "AssetCreate", kind: str = "AssetV1") -> Any:
        return {"type": kind, "trigger": trigger, "data": {"asset": asset}}

    image = {"id": WEBHOOK_PHOTO, "type": "IMAGE", "originalFileName": "webhook.jpg"}
    hook("webhook: no secret", envelope(image), secret=None)
    hook("webhook: the wrong secret", envelope(image), secret="not-the-secret")
    hook("webhook: a body that is not JSON", data="not json", headers={"Content-Type": "application/json"})
    hook("webhook: JSON that is not an object", [1, 2])
    hook("webhook: an envelope without a string trigger", {"trigger": 5, "data": {}})
    hook("webhook: an asset without a UUID id", envelope({"id": "42", "type": "IMAGE"}))
    hook("webhook: an asset without a type", envelope({"id": WEBHOOK_PHOTO}))
    hook("webhook: another trigger", envelope(image, trigger="AssetUpdate"))
    hook("webhook: another workflow type", envelope(image, kind="AlbumV1"))
    hook("webhook: a video", envelope({"id": VIDEO, "type": "VIDEO"}))
    hook("webhook: an asset in the trash", envelope(image | {"isTrashed": True}))
    hook("webhook: a bare asset, no envelope, a video", {"id": VIDEO, "type": "video"})
    queued = hook("webhook: a new photo", envelope(image), headers={"x-api-key": "anything"})
    assert queued.status_code == 202, queued.text
    wait_imported(runner, WEBHOOK_PHOTO)
    rec.send("import: the photo the webhook imported", "POST", f"/api/immich/import/{WEBHOOK_PHOTO}")


def _album(rec: Recorder, runner: Runner) -> None:
    send = rec.send
    send("album import: an album id that is no UUID", "POST", "/api/immich/import/album/not-a-uuid")
    send("album import: an album Immich does not know", "POST", f"/api/immich/import/album/{UNKNOWN}")
    queued = send("album import: a photo and a video", "POST", f"/api/immich/import/album/{ALBUM}")
    assert queued.status_code == 202, queued.text
    wait_imported(runner, ALBUM_PHOTO)


def _uploads(rec: Recorder, runner: Runner) -> str:
    def ticket(step: str, payload: Any = None, **kwargs: Any) -> requests.Response:
        return rec.send(step, "POST", "/api/media/uploads", json_body=payload, **kwargs)

    photo = jpeg_bytes(1024, 768, seed=11)
    good = {"filename": "holiday.jpg", "contentType": "image/jpeg", "size": len(photo)}
    ticket("upload ticket: no fields", {})
    ticket("upload ticket: an empty file name", good | {"filename": ""})
    ticket("upload ticket: a blank file name", good | {"filename": "   "})
    ticket("upload ticket: no size", {"filename": "holiday.jpg", "contentType": "image/jpeg"})
    ticket("upload ticket: a size of 0", good | {"size": 0})
    ticket("upload ticket: a size as a string", good | {"size": str(len(photo))})
    ticket("upload ticket: larger than the cap", good | {"size": 300 * 1024 * 1024})
    ticket("upload ticket: an image type we cannot decode", good | {"contentType": "image/gif"})
    ticket(
        "upload ticket: a body that is not JSON",
        data="filename=a.jpg",
        headers={"Content-Type": "text/plain"},
    )
    ticket(
        "upload ticket: a JSON body that is no JSON", data="{", headers={"Content-Type": "application/json"}
    )
    issued = ticket("upload ticket: a JPEG", good | {"contentType": "IMAGE/JPEG"})
    assert issued.status_code == 201, issued.text
    upload = issued.json()["upload"]
    stored = rec.send(
        "the presigned POST to the embedded S3 (not the API: S3's answer)",
        "POST",
        "",
        key=None,
        url=upload["url"],
        form=upload["fields"],
        files={"file": ("holiday.jpg", photo, "image/jpeg")},
        body=False,
    )
    assert stored.status_code in {200, 204}, stored.text
    item = str(issued.json()["mediaItemId"])
    _settled(runner, item)
    rec.send("the uploaded item", "GET", f"/api/media/{item}")
    redirected = rec.send(
        "the uploaded photo's map: too large to send inline", "GET", f"/api/media/{item}/depth"
    )
    if redirected.status_code == 307:
        rec.send(
            "the map, from the redirect (S3's answer)",
            "GET",
            "",
            key=None,
            url=redirected.headers["Location"],
        )
    rec.send("the uploaded photo's maps' metadata", "GET", f"/api/media/{item}/depth/info")
    return item


def _listing(rec: Recorder) -> None:
    send = rec.send
    send("listing: a limit of 0", "GET", "/api/media", params={"limit": "0"})
    send("listing: a limit over the maximum", "GET", "/api/media", params={"limit": "101"})
    send("listing: a limit that is no number", "GET", "/api/media", params={"limit": "ten"})
    send("listing: a cursor that is not base64", "GET", "/api/media", params={"cursor": "***"})
    not_an_object = base64.urlsafe_b64encode(b"[1]").decode().rstrip("=")
    send("listing: a cursor that is not an object", "GET", "/api/media", params={"cursor": not_an_object})
    first = send("listing: the newest item", "GET", "/api/media", params={"limit": "1"})
    cursor = first.json().get("nextCursor")
    assert cursor, first.text
    second = send("listing: the next page", "GET", "/api/media", params={"limit": "1", "cursor": cursor})
    assert second.status_code == 200, second.text
    send("listing: everything", "GET", "/api/media")


def _regeneration(rec: Recorder, runner: Runner, item: str) -> None:
    send = rec.send
    path = f"/api/media/{item}/depth/regenerate"
    send("regenerate: a version that does not exist", "POST", path, params={"version": "huge"})
    send("regenerate: an item that does not exist", "POST", f"/api/media/{UNKNOWN}/depth/regenerate")
    send("regenerate: an item id that is no UUID", "POST", "/api/media/not-a-uuid/depth/regenerate")
    queued = send("regenerate: every version", "POST", path)
    assert queued.status_code == 202, queued.text
    send("regenerate: again, right away", "POST", path, timing_dependent=_busy_status)
    _settled(runner, item)
    queued = send("regenerate: the thumbnail only", "POST", path, params={"version": "thumbnail"})
    assert queued.status_code == 202, queued.text
    _settled(runner, item)
    send("the item after two regenerations", "GET", f"/api/media/{item}")
    send("the maps' metadata after two regenerations", "GET", f"/api/media/{item}/depth/info")
    send(
        "the regenerated thumbnail map",
        "GET",
        f"/api/media/{item}/depth",
        params={"version": "thumbnail"},
        headers={"Accept": "image/png"},
    )


def _deletion(rec: Recorder, item: str, upload_item: str) -> None:
    send = rec.send
    send("delete: an item id that is no UUID", "DELETE", "/api/media/not-a-uuid")
    send("delete: an item that does not exist", "DELETE", f"/api/media/{UNKNOWN}")
    send("delete: the imported photo", "DELETE", f"/api/media/{item}")
    send("delete: the same item again", "DELETE", f"/api/media/{item}")
    send("the deleted item", "GET", f"/api/media/{item}")
    send("the deleted item's map", "GET", f"/api/media/{item}/depth")
    send("import: the deleted photo again", "POST", f"/api/immich/import/{PHOTO}")
    _settled(rec.runner, item)
    send("delete: the uploaded photo", "DELETE", f"/api/media/{upload_item}")
    send("listing: what is left", "GET", "/api/media")


def dumps(transcript: list[dict[str, Any]]) -> str:
    """The transcript as the golden file holds it: indent 2, sorted keys, a final newline."""
    return json.dumps(transcript, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
