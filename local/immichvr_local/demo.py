"""`immichvr-local demo` and `immichvr-local import`: drive the running stack through its public API.

demo: upload the sample photos (`samples.py`) with `POST /api/media/uploads` and the presigned POST it
answers. import: `POST /api/immich/import/{assetId}` for each asset id. Then, for both: follow every item
with `GET /api/media/{id}` until it is completed or failed, download each depth map with
`GET /api/media/{id}/depth?version=...` into the output directory, write a side-by-side preview beside
each (`preview.py`), and print a table. The exit status is 1 when any item did not complete.

The stack is the one whose `runtime.json` answers (`make run` in another terminal); when none does, one
is started in this process for the duration, its JSON logs going to `<state dir>/demo-stack.log`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests
from PIL import Image
from tqdm import tqdm

from immichvr_local.preview import preview_png
from immichvr_local.runtime import RuntimeInfo, runtime_file, state_dir
from immichvr_local.samples import Sample, demo_samples

VERSIONS = ("thumbnail", "full_resolution")
# Where GET /api/media/{id} names each version's depth map once it exists.
_VERSION_FIELDS = {"thumbnail": "thumbnail_depth_map_id", "full_resolution": "full_res_depth_map_id"}
FINISHED = frozenset({"completed", "failed"})
# The order an item goes through, for the progress bar's counts.
_STAGES = {
    name: index
    for index, name in enumerate(
        ("uploaded", "imported", "already imported", "pending", "queued", "processing")
    )
}
POLL_INTERVAL_S = 0.5
REQUEST_TIMEOUT_S = 60


class ApiError(Exception):
    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        try:
            message = str(response.json().get("message") or response.reason)
        except ValueError:
            message = response.text[:200] or str(response.reason)
        super().__init__(f"HTTP {self.status}: {message}")


class StackUnavailable(Exception):
    """No stack can be used, for a reason a person can act on."""


@dataclass
class Console:
    """Where the demo's human output goes: the terminal, even while a stack's logs are redirected."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)


# --- the stack -----------------------------------------------------------------------------------------


def answers(stack: RuntimeInfo, timeout_s: float = 3) -> bool:
    """Whether the API at `stack.api_url` is up and takes `stack.api_key`."""
    try:
        response = requests.get(
            f"{stack.api_url}/api/media",
            params={"limit": 1},
            headers={"x-api-key": stack.api_key},
            timeout=timeout_s,
        )
    except requests.RequestException:
        return False
    return response.status_code == 200


@contextlib.contextmanager
def open_stack(console: Console, *, need_immich: bool = False) -> Iterator[RuntimeInfo]:
    """The running stack, or one started in this process until the context ends."""
    path = runtime_file()
    running = RuntimeInfo.read(path)
    if running is not None and answers(running):
        if need_immich and running.immich_url == "":
            raise StackUnavailable(
                f"the stack at {running.api_url} has no Immich: restart it with "
                "IMMICH_URL=http://your-immich:2283 IMMICH_API_KEY=... make run"
            )
        console.say(f"Using the stack running at {running.api_url} (from {path}).")
        yield running
        return
    if running is not None:
        console.say(f"{path} names {running.api_url}, which does not answer (a stopped runner?).")
    if need_immich and not os.environ.get("IMMICH_URL"):
        raise StackUnavailable(
            "no stack is running and IMMICH_URL is not set: run `IMMICH_URL=... IMMICH_API_KEY=... make run` "
            "in another terminal, or set both here"
        )
    log_path = state_dir() / "demo-stack.log"
    console.say(
        "No stack is running, so one starts in this process for the demo (`make run` in another terminal "
        f"keeps one running). Its logs go to {log_path}."
    )
    with _in_process_stack(log_path) as stack:
        yield stack


@contextlib.contextmanager
def _in_process_stack(log_path: Path) -> Iterator[RuntimeInfo]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    with (
        log_path.open("a", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        # Imported here, under the redirection: Powertools loggers keep the stream they are made with.
        from immichvr_local.app import LocalSystem

        system = LocalSystem(port=0)
        try:
            system.start()
            yield system.runtime_info()
        finally:
            system.stop()


# --- the API -------------------------------------------------------------------------------------------


class ApiClient:
    def __init__(self, stack: RuntimeInfo) -> None:
        self.stack = stack
        self.session = requests.Session()
        self.session.headers["x-api-key"] = stack.api_key

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.stack.api_url + path, timeout=REQUEST_TIMEOUT_S, **kwargs)

    def upload(self, sample: Sample) -> str:
        """The presigned upload flow; returns the media item id."""
        ticket = self._call(
            "POST",
            "/api/media/uploads",
            json={"filename": sample.filename, "contentType": sample.content_type, "size": len(sample.data)},
        )
        if ticket.status_code != 201:
            raise ApiError(ticket)
        body = ticket.json()
        upload = body["upload"]
        # The presigned POST goes to S3, not to the API: no API key, the fields first, the file last.
        stored = requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": (sample.filename, sample.data, sample.content_type)},
            timeout=REQUEST_TIMEOUT_S,
        )
        if stored.status_code not in (200, 201, 204):
            raise ApiError(stored)
        return str(body["mediaItemId"])

    def import_asset(self, asset_id: str) -> dict[str, Any]:
        response = self._call("POST", f"/api/immich/import/{asset_id}")
        if response.status_code not in (200, 202):
            raise ApiError(response)
        body: dict[str, Any] = response.json()
        return body

    def status(self, media_item_id: str) -> dict[str, Any] | None:
        """The item's status; None while it does not exist yet (an upload not ingested yet)."""
        response = self._call("GET", f"/api/media/{media_item_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ApiError(response)
        body: dict[str, Any] = response.json()
        return body

    def depth_map(self, media_item_id: str, version: str) -> bytes:
        # A large map is a 307 to a presigned S3 URL; requests follows it.
        response = self._call(
            "GET",
            f"/api/media/{media_item_id}/depth",
            params={"version": version},
            headers={"Accept": "image/png"},
            allow_redirects=True,
        )
        if response.status_code != 200:
            raise ApiError(response)
        return response.content


class PhotoSource:
    """The photo for a preview's left half: the thumbnail the pipeline stored for the item (upright),
    read from the embedded AWS; else the file this process uploaded."""

    def __init__(self, stack: RuntimeInfo) -> None:
        self.stack = stack
        self._s3: Any = None

    def photo(self, item: Tracked) -> bytes | None:
        key = item.record.get("thumbnail_path")
        if key and self.stack.aws_endpoint_url and self.stack.media_bucket:
            try:
                stored: bytes = (
                    self._client().get_object(Bucket=self.stack.media_bucket, Key=key)["Body"].read()
                )
            except Exception:  # any failure falls back to the local file
                return item.local_photo
            return stored
        return item.local_photo

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client(
                "s3",
                endpoint_url=self.stack.aws_endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - the embedded AWS takes any key
            )
        return self._s3


# --- following items -----------------------------------------------------------------------------------


@dataclass
class Tracked:
    label: str  # what was asked for: a sample's file name or an Immich asset id
    filename: str
    started: float = field(default_factory=time.monotonic)
    media_item_id: str | None = None
    local_photo: bytes | None = None
    status: str = "submitted"
    record: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    finished: float | None = None
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def following(self) -> bool:
        return self.media_item_id is not None and self.finished is None

    @property
    def versions_made(self) -> list[str]:
        return [version for version in VERSIONS if self.record.get(_VERSION_FIELDS[version])]

    @property
    def seconds(self) -> float | None:
        return None if self.finished is None else self.finished - self.started

    @property
    def ok(self) -> bool:
        return self.status == "completed" and self.error is None and set(self.sizes) == set(VERSIONS)

    def refused(self, error: Exception) -> None:
        self.status, self.error, self.finished = "refused", str(error), time.monotonic()


def follow(client: ApiClient, items: Sequence[Tracked], timeout_s: float, console: Console) -> None:
    """Poll every item until it is completed or failed, with one progress bar over all depth maps."""
    deadline = time.monotonic() + timeout_s
    watched = [item for item in items if item.media_item_id is not None]
    with tqdm(
        total=len(VERSIONS) * len(watched),
        desc="depth maps",
        unit="map",
        file=console.err,
        dynamic_ncols=True,
    ) as bar:
        while any(item.following for item in watched) and time.monotonic() < deadline:
            for item in watched:
                if item.following:
                    _poll(client, item)
            made = sum(len(item.versions_made) for item in watched)
            bar.update(made - bar.n)
            counts: dict[str, int] = {}
            for item in watched:
                counts[item.status] = counts.get(item.status, 0) + 1
            in_order = sorted(counts.items(), key=lambda entry: _STAGES.get(entry[0], len(_STAGES)))
            bar.set_postfix_str(", ".join(f"{n} {status}" for status, n in in_order))
            if any(item.following for item in watched):
                time.sleep(POLL_INTERVAL_S)
    for item in watched:
        if item.following:
            item.error = f"not finished after {timeout_s:.0f} s (still {item.status})"
            item.status, item.finished = "timed out", time.monotonic()


def _poll(client: ApiClient, item: Tracked) -> None:
    assert item.media_item_id is not None
    try:
        record = client.status(item.media_item_id)
    except (ApiError, requests.RequestException) as error:
        item.error = str(error)  # kept, and cleared by the next answer: the API may be busy
        return
    item.error = None
    if record is None:
        item.status = "uploaded"  # the file is in S3; the ingest function has not recorded it yet
        return
    item.record = record
    item.filename = str(record.get("filename") or item.filename)
    item.status = str(record.get("processing_status"))
    if item.status in FINISHED:
        item.finished = time.monotonic()
        if item.status == "failed":
            item.error = str(record.get("last_error") or "failed")


# --- files ---------------------------------------------------------------------------------------------


def _stem(filename: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).stem).strip("._") or "photo"
    stem, number = base, 2
    while stem in taken:
        stem, number = f"{base}-{number}", number + 1
    taken.add(stem)
    return stem


def save_outputs(client: ApiClient, items: Sequence[Tracked], out_dir: Path) -> None:
    """Every depth map each item has, as `<stem>.<version>.depth.png`, and beside it
    `<stem>.<version>.preview.png` (photo | coloured depth)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = PhotoSource(client.stack)
    taken: set[str] = set()
    for item in items:
        if item.media_item_id is None or not item.versions_made:
            continue
        stem = _stem(item.filename, taken)
        photo = photos.photo(item)
        for version in item.versions_made:
            try:
                depth = client.depth_map(item.media_item_id, version)
            except (ApiError, requests.RequestException) as error:
                item.error = f"{version} depth map: {error}"
                continue
            depth_path = out_dir / f"{stem}.{version}.depth.png"
            depth_path.write_bytes(depth)
            with Image.open(io.BytesIO(depth)) as image:
                item.sizes[version] = image.size
            preview_path = out_dir / f"{stem}.{version}.preview.png"
            preview_path.write_bytes(preview_png(photo, depth))
            item.files += [depth_path, preview_path]


def table(items: Sequence[Tracked]) -> str:
    header = ("item", "filename", "status", "versions", "sizes (thumbnail | full_resolution)", "seconds")
    rows = [header]
    for item in items:
        sizes = " | ".join(
            f"{item.sizes[v][0]}x{item.sizes[v][1]}" if v in item.sizes else "-" for v in VERSIONS
        )
        seconds = item.seconds
        rows.append(
            (
                item.media_item_id or item.label,
                item.filename,
                item.status,
                f"{len(item.sizes)}/{len(VERSIONS)}",
                sizes,
                "-" if seconds is None else f"{seconds:.1f}",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def report(items: Sequence[Tracked], out_dir: Path, console: Console) -> int:
    console.say()
    console.say(table(items))
    problems = [item for item in items if not item.ok]
    for item in problems:
        console.say(f"  {item.label}: {item.error or item.status}")
    if any(item.files for item in items):
        console.say(
            f"\nDepth maps (16-bit PNG) and previews (photo | depth, red is near, blue is far) are in "
            f"{out_dir}/"
        )
    return 1 if problems or not items else 0


# --- the commands --------------------------------------------------------------------------------------


def _submit(item: Tracked, send: Callable[[], None]) -> Tracked:
    try:
        send()
    except (ApiError, requests.RequestException) as error:
        item.refused(error)
    return item


def _run(
    command: str,
    submit: Callable[[ApiClient], list[Tracked]],
    noun: str,
    out_dir: Path,
    timeout_s: float,
    console: Console,
    *,
    need_immich: bool = False,
) -> int:
    """Send the items, follow them to the end, save their depth maps and previews, print the table."""
    try:
        with open_stack(console, need_immich=need_immich) as stack:
            client = ApiClient(stack)
            items = submit(client)
            accepted = sum(item.media_item_id is not None for item in items)
            console.say(f"{noun} {accepted} of {len(items)}.")
            follow(client, items, timeout_s, console)
            save_outputs(client, items, out_dir)
    except StackUnavailable as error:
        console.say(f"immichvr-local {command}: {error}")
        return 2
    return report(items, out_dir, console)


def run_demo(out_dir: Path, *, timeout_s: float = 900, console: Console | None = None) -> int:
    def upload_samples(client: ApiClient) -> list[Tracked]:
        items = []
        for sample in demo_samples():
            item = Tracked(label=sample.filename, filename=sample.filename, local_photo=sample.data)

            def send(item: Tracked = item, sample: Sample = sample) -> None:
                item.media_item_id = client.upload(sample)
                item.status = "uploaded"

            items.append(_submit(item, send))
        return items

    return _run("demo", upload_samples, "Uploaded sample photos:", out_dir, timeout_s, console or Console())


def run_import(
    asset_ids: Sequence[str], out_dir: Path, *, timeout_s: float = 900, console: Console | None = None
) -> int:
    def import_assets(client: ApiClient) -> list[Tracked]:
        items = []
        for asset_id in asset_ids:
            item = Tracked(label=asset_id, filename=asset_id)

            def send(item: Tracked = item, asset_id: str = asset_id) -> None:
                body = client.import_asset(asset_id)
                item.media_item_id = str(body["mediaItemId"])
                item.filename = str(body.get("filename") or asset_id)
                item.status = "already imported" if body.get("alreadyImported") else "imported"

            items.append(_submit(item, send))
        return items

    return _run(
        "import",
        import_assets,
        "Imported assets:",
        out_dir,
        timeout_s,
        console or Console(),
        need_immich=True,
    )
