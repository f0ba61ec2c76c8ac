"""Load on the local system (not a test): N concurrent clients import photos, poll their status and
download their depth maps, then every item is checked.

It starts a fake Immich in this process (tests/fakes/fake_immich.py) and the local runner as a
subprocess on loopback (`python -m immichvr_local`, the tiny Depth-Anything model unless --model
names another), runs the clients for a bounded number of imports or until --duration runs out, and
prints requests/s, p50/p99 latency per kind of request and the errors, connection resets counted apart
(a reset is a connection the runner refused or dropped: a burst it could not queue). Then it checks
that every imported item ended `completed` and both of its depth maps download as 16-bit PNGs of the
photo's upright size. It exits 1 on any error, reset or lost item.

    .venv/bin/python bench/load.py                      # 64 clients x 1 import (a few minutes)
    .venv/bin/python bench/load.py --clients 32 --imports-per-client 2
    .venv/bin/python bench/load.py --url http://127.0.0.1:3000 --api-key KEY --immich-port 2283
        # against a runner already started with IMMICH_URL=http://127.0.0.1:2283 and
        # IMMICH_API_KEY=bench-immich-key

Everything stays on loopback: a URL naming another host is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the fake Immich and the runner helper live under tests/

from tests.fakes.fake_immich import FakeImmich, preview_size  # noqa: E402
from tests.support.runner import Runner, running_runner  # noqa: E402

IMMICH_KEY = "bench-immich-key"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
FINISHED = {"completed", "failed"}


@dataclass
class Tally:
    """Latencies (s) and errors per kind of request, shared by every client thread."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    resets: int = 0  # of the errors, connections reset or refused
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(
        self, session: requests.Session, kind: str, method: str, url: str, expected: set[int], **kwargs: Any
    ) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = session.request(method, url, timeout=60, **kwargs)
        except requests.RequestException as error:
            if _is_reset(error):
                with self.lock:
                    self.resets += 1
            self._error(kind, f"{kind}: {type(error).__name__}: {error}")
            return None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[kind].append(elapsed)
        if response.status_code not in expected:
            self._error(kind, f"{kind}: {response.status_code} {response.text[:200]}")
            return None
        return response

    def _error(self, kind: str, sample: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            if len(self.samples) < 10:
                self.samples.append(sample)


def _is_reset(error: BaseException) -> bool:
    """Whether a failed request was, however deep in urllib3's wrapping, a reset or refused connection."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionResetError | ConnectionRefusedError | BrokenPipeError):
            return True
        if any(isinstance(arg, BaseException) and _is_reset(arg) for arg in seen.args):
            return True
        seen = seen.__cause__ or seen.__context__
    return "reset by peer" in str(error).lower()


@dataclass
class Imported:
    media_item_id: str
    sizes: dict[str, tuple[int, int]]  # each depth map's size: the preview's and the upright photo's
    imported_at: float
    finished_at: float | None = None
    status: str | None = None


def client(
    number: int,
    runner: Runner,
    assets: list[tuple[str, dict[str, tuple[int, int]]]],
    tally: Tally,
    imported: list[Imported],
    deadline: float,
    poll_interval_s: float,
    start: threading.Barrier,
) -> None:
    """One ImmichVR: import each of its photos, poll until it is done, fetch both depth maps. Every
    client sends its first request at the same moment (`start`): a burst of new connections."""
    session = requests.Session()
    session.headers["x-api-key"] = runner.api_key
    start.wait()
    for asset_id, sizes in assets:
        answer = tally.call(session, "import", "POST", f"{runner.url}/api/immich/import/{asset_id}", {202})
        if answer is None:
            continue
        item = Imported(answer.json()["mediaItemId"], sizes, time.monotonic())
        with tally.lock:
            imported.append(item)
        while time.monotonic() < deadline:
            status = tally.call(
                session, "status", "GET", f"{runner.url}/api/media/{item.media_item_id}", {200}
            )
            if status is not None and status.json()["processing_status"] in FINISHED:
                item.status, item.finished_at = status.json()["processing_status"], time.monotonic()
                break
            if number % 4 == 0:  # some viewers also refresh their library listing while they wait
                tally.call(session, "list", "GET", f"{runner.url}/api/media", {200}, params={"limit": 25})
            time.sleep(poll_interval_s)
        if item.status != "completed":
            continue
        for version in ("thumbnail", "full_resolution"):
            tally.call(
                session,
                "depth",
                "GET",
                f"{runner.url}/api/media/{item.media_item_id}/depth",
                {200},
                params={"version": version},
                headers={"Accept": "image/png"},
            )
        tally.call(
            session, "depth-info", "GET", f"{runner.url}/api/media/{item.media_item_id}/depth/info", {200}
        )


def verify(runner: Runner, imported: list[Imported], expected: int) -> dict[str, int]:
    """After the load: every import is an item that completed, with both maps at their sizes."""
    counts = {"expected": expected, "imported": len(imported), "completed": 0, "maps_ok": 0, "lost": 0}
    for item in imported:
        status = runner.call("GET", f"/api/media/{item.media_item_id}").json()
        if status.get("processing_status") != "completed":
            continue
        counts["completed"] += 1
        good = 0
        for version in ("thumbnail", "full_resolution"):
            answer = runner.call(
                "GET",
                f"/api/media/{item.media_item_id}/depth",
                params={"version": version},
                headers={"Accept": "image/png"},
            )
            if answer.status_code == 200:
                png = Image.open(io.BytesIO(answer.content))
                good += png.mode in {"I;16", "I"} and png.size == item.sizes[version]
        counts["maps_ok"] += good == 2
    counts["lost"] = expected - counts["maps_ok"]
    return counts


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(tally: Tally, wall_s: float, imported: list[Imported], counts: dict[str, int]) -> None:
    total = sum(len(values) for values in tally.latencies.values())
    errors = sum(tally.errors.values())
    print(
        f"\n{total} requests in {wall_s:.1f} s: {total / wall_s:.1f} requests/s, {errors} errors "
        f"({tally.resets} connection resets)"
    )
    print(f"{'kind':<11} {'count':>6} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind in ("import", "status", "list", "depth", "depth-info"):
        values = tally.latencies.get(kind, [])
        if not values:
            continue
        print(
            f"{kind:<11} {len(values):>6} {tally.errors.get(kind, 0):>6} "
            f"{percentile(values, 0.5) * 1000:>8.1f} {percentile(values, 0.99) * 1000:>8.1f} "
            f"{max(values) * 1000:>8.1f}"
        )
    done = [item.finished_at - item.imported_at for item in imported if item.finished_at]
    if done:
        print(
            f"import to completed: p50 {statistics.median(done):.1f} s, p99 {percentile(done, 0.99):.1f} s, "
            f"max {max(done):.1f} s"
        )
    print(
        "items: {expected} asked, {imported} imported, {completed} completed, {maps_ok} with both depth maps "
        "retrievable, {lost} lost".format(**counts)
    )
    for sample in tally.samples:
        print(f"  error: {sample}")


@contextlib.contextmanager
def system(args: argparse.Namespace, immich: FakeImmich) -> Iterator[Runner]:
    if args.url:
        host = urlsplit(args.url).hostname or ""
        if host not in LOOPBACK:
            raise SystemExit(f"refusing {args.url}: the load stays on loopback")
        yield Runner(args.url.rstrip("/"), args.api_key)
        return
    with contextlib.ExitStack() as stack:
        model_dir = Path(args.model) if args.model else None
        if model_dir is None:
            from tests.support.tiny_model import save_tiny_model

            model_dir = save_tiny_model(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            print(f"tiny Depth-Anything-V2 model written to {model_dir}")
        log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "runner.log"
        thumbnail_size, full_size = args.input_sizes.split(",")
        runner = stack.enter_context(
            running_runner(
                api_key="bench-api-key",
                log=log,
                model_dir=model_dir,
                immich_url=immich.url,
                immich_api_key=IMMICH_KEY,
                extra_env={
                    "THUMBNAIL_INPUT_SIZE": thumbnail_size,
                    "FULL_RESOLUTION_INPUT_SIZE": full_size,
                    # torch's default of one thread per core thrashes on a small shared machine.
                    "OMP_NUM_THREADS": str(args.torch_threads),
                },
            )
        )
        print(f"runner on {runner.url} (log {log})")
        try:
            yield runner
        except BaseException:
            print(runner.log_tail(), file=sys.stderr)
            raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--imports-per-client", type=int, default=1)
    parser.add_argument(
        "--duration", type=float, default=600, help="stop the clients after this many seconds"
    )
    parser.add_argument("--poll-interval", type=float, default=0.5, help="seconds between status polls")
    parser.add_argument("--photo", default="1600x1200", help="stored size of each photo, WxH")
    parser.add_argument("--model", help="a save_pretrained directory; default: the tiny test model")
    parser.add_argument("--input-sizes", default="518,1036", help="thumbnail,full_resolution model input")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--url", help="an already running runner (loopback only)")
    parser.add_argument("--api-key", default="", help="its API key")
    parser.add_argument("--immich-port", type=int, default=0, help="the fake Immich's port (0: any free)")
    args = parser.parse_args(argv)
    width, height = (int(side) for side in args.photo.split("x"))

    with FakeImmich(version="2.7.5", api_key=IMMICH_KEY, port=args.immich_port) as immich:
        per_client: list[list[tuple[str, dict[str, tuple[int, int]]]]] = [[] for _ in range(args.clients)]
        for index in range(args.clients * args.imports_per_client):
            orientation = (1, 6, 3, 8)[index % 4]  # upright and turned photos alike
            sizes = {
                "thumbnail": preview_size(width, height, orientation),
                "full_resolution": (height, width) if orientation in (6, 8) else (width, height),
            }
            asset_id = immich.add_image(width=width, height=height, orientation=orientation)
            per_client[index % args.clients].append((asset_id, sizes))
        photos = args.clients * args.imports_per_client
        print(f"fake Immich on {immich.url} with {photos} photos of {args.photo}")

        with system(args, immich) as runner:
            tally, imported = Tally(), []
            start = threading.Barrier(args.clients)
            started = time.monotonic()
            deadline = started + args.duration
            threads = [
                threading.Thread(
                    target=client,
                    args=(n, runner, assets, tally, imported, deadline, args.poll_interval, start),
                    name=f"client-{n}",
                )
                for n, assets in enumerate(per_client)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall_s = time.monotonic() - started
            counts = verify(runner, imported, args.clients * args.imports_per_client)
    print(f"\n{args.clients} clients x {args.imports_per_client} imports, model inputs {args.input_sizes}")
    report(tally, wall_s, imported, counts)
    failed = sum(tally.errors.values()) > 0 or tally.resets > 0 or counts["lost"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
