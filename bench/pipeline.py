"""The processor's own image work per photo, ours against a naive path (not a test).

Per photo and depth-map version, everything the processor Lambda does around the model call:
decode, orient, downscale and encode the request; decode the answer, resample it to the
photo's size, PNG-encode it, checksum it. The model is replaced by a synthetic 16-bit depth
PNG at the working resolution the endpoint answers with (short side 518 for `thumbnail`,
1036 for `full_resolution`). Sources: `thumbnail` starts from the 1440 preview, as the processor
does; `full_resolution` from the original photo (12 MP and 48 MP, photo-like, EXIF orientation 6).

Each path runs in a fresh subprocess of its own, so its peak RSS is its own; both stay up while
the runs alternate between them (ours, naive, naive, ours, ...), so a machine shared with other
work slows both alike rather than whichever happened to run during a busy spell.

    .venv/bin/python bench/pipeline.py            # 12 MP and 48 MP, 3 runs each (a few minutes)
    .venv/bin/python bench/pipeline.py --quick    # 12 MP, 1 run
    .venv/bin/python bench/pipeline.py --png-levels   # deflate, level and filter vs time and size
    .venv/bin/python bench/pipeline.py --encodings    # model request as JPEG vs PNG
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageOps

from immichvr_depth.imaging import fit_depth_png, make_thumbnail, prepare_model_input
from immichvr_depth.imaging._depth import DEPTH_PNG_LEVEL, _bands, _open_depth
from immichvr_depth.imaging._png import FILTER_NONE, FILTER_SUB, Compressor, encode_gray16, isal_deflate

PHOTO_SIZES = {"12MP": (4000, 3000), "48MP": (8000, 6000)}
WORKING_SHORT_SIDE = {"thumbnail": 518, "full_resolution": 1036}
PREVIEW_LONG_SIDE = 1440
LAMBDA_MEMORY_MB = 2048
ORIENTATION_TAG = 0x0112


# --- synthetic inputs -------------------------------------------------------------------------


def synthetic_photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth gradients, sensor-like noise and hard-edged shapes: JPEG sizes and decode times
    in the range of a real photo (uniform noise would be far slower, flat colour far faster)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = 40 + 170 * (0.6 * x + 0.4 * y)
    pixels[..., 1] = 110 + 90 * np.sin(6 * x + 3 * y)
    pixels[..., 2] = 60 + 150 * (1 - y) * np.ones_like(x)
    pixels += rng.integers(0, 12, size=pixels.shape, dtype=np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        side = int(rng.integers(width // 40, width // 8))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x0 + side, y0 + side), fill=fill)
        else:
            draw.rectangle((x0, y0, x0 + side, y0 + side // 2), fill=fill)
    return image


def synthetic_depth_png(width: int, height: int, seed: int = 1) -> bytes:
    """A depth answer: a ground-plane gradient, objects at their own depth with soft edges,
    and the fine texture a model leaves (about 0.1% of the range)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    depth = Image.fromarray((0.2 + 0.6 * y + 0.05 * np.sin(5 * x)) * np.ones_like(x), "F")
    draw = ImageDraw.Draw(depth)
    for _ in range(15):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        side = int(rng.integers(width // 20, width // 4))
        draw.ellipse((x0, y0, x0 + side, y0 + side), fill=float(rng.random()))
    soft = depth.resize((width // 3, height // 3), Image.Resampling.BOX).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    values = np.asarray(soft) + rng.normal(0, 0.001, (height, width)).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(values * 65535 + 0.5, 0, 65535).astype(np.uint16)).save(buffer, "PNG")
    return buffer.getvalue()


def working_size(oriented: tuple[int, int], short_side: int) -> tuple[int, int]:
    width, height = oriented
    factor = min(1.0, short_side / min(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def prepare_inputs(workdir: Path, sizes: list[str]) -> dict[str, dict[str, Path]]:
    """Per photo size: the original JPEG, its 1440 preview, and a depth answer per version."""
    inputs: dict[str, dict[str, Path]] = {}
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6  # stored landscape, shown portrait: the common phone case
    for label in sizes:
        width, height = PHOTO_SIZES[label]
        original = workdir / f"{label}.jpg"
        synthetic_photo(width, height).save(original, "JPEG", quality=90, exif=exif.tobytes())
        preview = workdir / f"{label}_preview.jpg"
        thumb = make_thumbnail(original.read_bytes(), PREVIEW_LONG_SIDE)
        preview.write_bytes(thumb.body)
        files = {"full_resolution": original, "thumbnail": preview}
        oriented = {"full_resolution": (height, width), "thumbnail": (thumb.width, thumb.height)}
        for version, short_side in WORKING_SHORT_SIDE.items():
            answer = workdir / f"{label}_{version}_depth.png"
            answer.write_bytes(synthetic_depth_png(*working_size(oriented[version], short_side)))
            files[f"{version}_answer"] = answer
        inputs[label] = files
    return inputs


# --- the two paths ------------------------------------------------------------------------------


def ours(photo: bytes, answer: bytes, short_side: int) -> dict[str, float]:
    started = time.perf_counter()
    request = prepare_model_input(photo, short_side)
    prepared = time.perf_counter()
    fit_depth_png(answer, request.oriented_size)
    done = time.perf_counter()
    return {"request_ms": (prepared - started) * 1000, "depth_ms": (done - prepared) * 1000}


def naive(photo: bytes, answer: bytes, short_side: int) -> dict[str, float]:
    """What a first version would do: full decode, full-size transpose, float64 numpy resampling,
    Pillow's default PNG compression and a checksum over the file read back."""
    started = time.perf_counter()
    decoded = Image.open(io.BytesIO(photo))
    decoded.load()
    upright = ImageOps.exif_transpose(decoded).convert("RGB")
    full_size = upright.size
    request = upright.resize(working_size(full_size, short_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    request.save(buffer, "JPEG", quality=95)
    prepared = time.perf_counter()
    depth = np.asarray(Image.open(io.BytesIO(answer)), dtype=np.float64)
    upscaled = naive_bilinear(depth, full_size)
    with tempfile.NamedTemporaryFile(suffix=".png") as stored:
        Image.fromarray(np.round(upscaled).astype(np.uint16)).save(stored.name, "PNG")
        hashlib.sha256(Path(stored.name).read_bytes()).hexdigest()
    done = time.perf_counter()
    return {"request_ms": (prepared - started) * 1000, "depth_ms": (done - prepared) * 1000}


def naive_bilinear(source: npt.NDArray[np.float64], size: tuple[int, int]) -> npt.NDArray[np.float64]:
    """The textbook numpy version: full-size float64 coordinate, weight and gather arrays."""
    width, height = size
    src_height, src_width = source.shape
    xs = np.clip((np.arange(width) + 0.5) * src_width / width - 0.5, 0, src_width - 1)
    ys = np.clip((np.arange(height) + 0.5) * src_height / height - 0.5, 0, src_height - 1)
    grid_x, grid_y = np.meshgrid(xs, ys)
    x0, y0 = np.floor(grid_x).astype(int), np.floor(grid_y).astype(int)
    x1, y1 = np.minimum(x0 + 1, src_width - 1), np.minimum(y0 + 1, src_height - 1)
    wx, wy = grid_x - x0, grid_y - y0
    top = source[y0, x0] * (1 - wx) + source[y0, x1] * wx
    bottom = source[y1, x0] * (1 - wx) + source[y1, x1] * wx
    result: npt.NDArray[np.float64] = top * (1 - wy) + bottom * wy
    return result


PATHS: dict[str, Callable[[bytes, bytes, int], dict[str, float]]] = {"ours": ours, "naive": naive}


# --- one process per path, runs interleaved ------------------------------------------------------


def run_case(path: str, photo: Path, answer: Path, short_side: int, warmup: Path) -> None:
    """Child side: warm the imports on a small file, then one timed run per line on stdin (JSON on
    stdout); at the end of stdin, the process's peak RSS."""
    run = PATHS[path]
    run(warmup.read_bytes(), _tiny_answer(), 64)  # first-call costs: plugin imports, allocator
    photo_bytes, answer_bytes = photo.read_bytes(), answer.read_bytes()
    print(json.dumps({"ready": True}), flush=True)
    for _ in sys.stdin:
        started = time.process_time()
        result = run(photo_bytes, answer_bytes, short_side)
        result["cpu_ms"] = (time.process_time() - started) * 1000  # all threads, user and system
        print(json.dumps(result), flush=True)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


def peak_rss_mb() -> float:
    """This process's peak RSS. On Linux ru_maxrss carries over the parent's high-water mark
    through fork/vfork and exec (this parent held the 48 MP photo), so prefer the kernel's
    per-address-space VmHWM; ru_maxrss elsewhere."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _tiny_answer() -> bytes:
    buffer = io.BytesIO()
    Image.new("I;16", (64, 48), 1000).save(buffer, "PNG")
    return buffer.getvalue()


class Case:
    """Parent side of one path's process: ask for runs one at a time, then collect its peak RSS."""

    def __init__(self, path: str, photo: Path, answer: Path, short_side: int, warmup: Path) -> None:
        self.name = f"{path} {photo.name}"
        command = [sys.executable, __file__, "--case", path, str(photo), str(answer), str(short_side)]
        command += ["--warmup", str(warmup)]
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in finish()
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self.runs: list[dict[str, float]] = []
        self._answer()  # {"ready": true} once warmed up

    def run(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write("run\n")
        self._process.stdin.flush()
        self.runs.append(self._answer())

    def finish(self) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.close()
        peak = self._answer()
        self._process.wait()
        self._stderr.close()
        return {"runs": self.runs, "peak_rss_mb": peak["peak_rss_mb"]}

    def _answer(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._process.wait()
            self._stderr.seek(0)
            raise SystemExit(f"case {self.name} failed:\n{self._stderr.read()}")
        answer: dict[str, Any] = json.loads(line)
        return answer


def interleaved(cases: list[Case], repeat: int) -> None:
    """`repeat` runs of each case, alternating which goes first from one round to the next."""
    for round_ in range(repeat):
        for case in cases if round_ % 2 == 0 else cases[::-1]:
            case.run()


def imports_rss_mb() -> float:
    """Peak RSS of a process that only imported what the cases import: the floor under each row."""
    result = subprocess.run(
        [sys.executable, __file__, "--imports-only"], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def summarise(case: dict[str, Any]) -> dict[str, float]:
    runs = case["runs"]
    request = statistics.median(r["request_ms"] for r in runs)
    depth = statistics.median(r["depth_ms"] for r in runs)
    total = statistics.median(r["request_ms"] + r["depth_ms"] for r in runs)
    cpu = statistics.median(r["cpu_ms"] for r in runs)
    return {"request": request, "depth": depth, "total": total, "cpu": cpu, "rss": case["peak_rss_mb"]}


def benchmark(sizes: list[str], repeat: int) -> None:
    rows: list[tuple[str, str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        print(f"synthesising {', '.join(sizes)} photos and depth answers ...", flush=True)
        inputs = prepare_inputs(Path(tmp), sizes)
        for label in sizes:
            files = inputs[label]
            for version, short_side in WORKING_SHORT_SIDE.items():
                print(f"  {label} {version}: ours and naive, {repeat} run(s) each ...", flush=True)
                paths = ("ours", "naive")
                cases = [
                    Case(path, files[version], files[f"{version}_answer"], short_side, files["thumbnail"])
                    for path in paths
                ]
                interleaved(cases, repeat)
                for path, case in zip(paths, cases, strict=True):
                    rows.append((label, version, path, summarise(case.finish())))
    print_table(rows, imports_rss_mb(), repeat)


def print_table(rows: list[tuple[str, str, str, dict[str, float]]], baseline_mb: float, repeat: int) -> None:
    print(
        f"\nmedian of {repeat} run(s) per case, each path in a fresh process, runs interleaved;\n"
        f"peak RSS includes the interpreter and imports ({baseline_mb:.0f} MB on their own);\n"
        "CPU ms: the process's CPU time over the run, all threads (ours deflates on a second thread);\n"
        "on a machine shared with other work, wall times also hold waits for a core\n"
    )
    header = (
        f"{'photo':6} {'version':16} {'path':6} {'request ms':>11} {'depth ms':>9} {'total ms':>9}"
        f" {'CPU ms':>7} {'peak RSS MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for label, version, path, s in rows:
        fits = "" if s["rss"] < LAMBDA_MEMORY_MB else "  > 2 GB Lambda"
        print(
            f"{label:6} {version:16} {path:6} {s['request']:11.0f} {s['depth']:9.0f} "
            f"{s['total']:9.0f} {s['cpu']:7.0f} {s['rss']:12.0f}{fits}"
        )
    print()
    by_key = {(label, version, path): s for label, version, path, s in rows}
    for label, version, _, _ in rows[::2]:
        ratio = by_key[(label, version, "naive")]["total"] / by_key[(label, version, "ours")]["total"]
        print(f"ratio naive/ours {label} {version}: {ratio:.1f}x")


# --- side studies -----------------------------------------------------------------------------------


# The deflates --png-levels compares, with the levels tried: zlib as the encoder called it before
# ISA-L (memLevel 9), ISA-L as it does now. Today's size is zlib level 1 with the Sub filter.
DEFLATES: dict[str, tuple[Callable[[int], Compressor], tuple[int, ...]]] = {
    "zlib": (lambda level: zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 9), (1, 2, 3, 6)),
    "ISA-L": (isal_deflate, (0, 1, 2, 3)),
}
BASELINE = ("zlib", "Sub", 1)
SIZE_TOLERANCE = 1.05
FILTERS = {"Sub": FILTER_SUB, "None": FILTER_NONE}


class _NoDeflate:
    """A compressor that drops its input: what resampling and filtering cost on their own."""

    def compress(self, data: memoryview, /) -> bytes:
        return b""

    def flush(self) -> bytes:
        return b""


def png_levels(label: str, rounds: int = 3) -> None:
    """Deflate (zlib, ISA-L), level and PNG filter against time and size: for the map the processor
    stores (the full-resolution answer upscaled to the photo) and for the answer as the container
    encodes it (one band at the model's working size). Every variant runs once per round, rounds
    in turn, so a busy spell on a shared machine hits them all; median of `rounds`."""
    from depth_inference.codec import PNG_COMPRESS_LEVEL as CONTAINER_PNG_LEVEL  # the container's level

    width, height = PHOTO_SIZES[label]
    answer = synthetic_depth_png(*working_size((height, width), WORKING_SHORT_SIDE["full_resolution"]))
    depth = _open_depth(answer)
    size = (height, width)
    print(
        f"stored depth map {size[0]}x{size[1]} (raw 16-bit: {size[0] * size[1] * 2 / 1e6:.0f} MB), "
        f"upscaled from {depth.size[0]}x{depth.size[1]} band by band as fit_depth_png does; "
        f"median of {rounds}, interleaved"
    )
    variants: dict[tuple[str, str, int], Callable[[], bytes]] = {}
    for name, (deflate, levels) in DEFLATES.items():
        for filter_name, png_filter in FILTERS.items():
            for level in levels if filter_name == "Sub" or name == "ISA-L" else levels[:1]:
                variants[(name, filter_name, level)] = functools.partial(
                    lambda d, f, lv: encode_gray16(_bands(depth, size), *size, lv, deflate=d, png_filter=f),
                    deflate,
                    png_filter,
                    level,
                )
    variants[("none (resample + filter only)", "Sub", 0)] = lambda: encode_gray16(
        _bands(depth, size), *size, 0, deflate=lambda _: _NoDeflate()
    )
    full = Image.fromarray(
        np.clip(np.asarray(depth.resize(size, Image.Resampling.BILINEAR)) + 0.5, 0, 65535).astype(np.uint16)
    )
    for level in (1, 6):
        variants[("Pillow's encoder (whole image)", "adaptive", level)] = functools.partial(
            _pillow_png, full, level
        )
    _print_study(_measure(variants, rounds), chosen=("ISA-L", "Sub", DEPTH_PNG_LEVEL))

    values = np.asarray(Image.open(io.BytesIO(answer)))
    rows, columns = values.shape
    print(
        f"\nthe model's answer {columns}x{rows} as the container encodes it (one band, no resampling); "
        f"median of {rounds * 5}, interleaved"
    )
    answers: dict[tuple[str, str, int], Callable[[], bytes]] = {}
    for name, (deflate, levels) in DEFLATES.items():
        for filter_name, png_filter in FILTERS.items():
            for level in levels[:3] if name == "ISA-L" else levels[:1]:
                answers[(name, filter_name, level)] = functools.partial(
                    lambda d, f, lv: encode_gray16([values], columns, rows, lv, deflate=d, png_filter=f),
                    deflate,
                    png_filter,
                    level,
                )
    _print_study(_measure(answers, rounds * 5), chosen=("ISA-L", "Sub", CONTAINER_PNG_LEVEL))


def _measure(
    variants: dict[tuple[str, str, int], Callable[[], bytes]], rounds: int
) -> dict[tuple[str, str, int], tuple[float, float, int]]:
    """Per variant: median wall ms, median CPU ms of this process, compressed size."""
    wall: dict[tuple[str, str, int], list[float]] = {key: [] for key in variants}
    cpu: dict[tuple[str, str, int], list[float]] = {key: [] for key in variants}
    sizes: dict[tuple[str, str, int], int] = {}
    for _ in range(rounds):
        for key, encode in variants.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            sizes[key] = len(encode())
            cpu[key].append((time.process_time() - started_cpu) * 1000)
            wall[key].append((time.perf_counter() - started) * 1000)
    return {key: (statistics.median(wall[key]), statistics.median(cpu[key]), sizes[key]) for key in variants}


def _print_study(
    results: dict[tuple[str, str, int], tuple[float, float, int]], chosen: tuple[str, str, int]
) -> None:
    """The table, and the fastest variant (by CPU time: on a shared machine wall time also counts
    the waits for a core) whose file stays within SIZE_TOLERANCE of today's."""
    today = results[BASELINE][2]
    print(f"{'deflate':31} {'filter':8} {'level':>5} {'ms':>7} {'CPU ms':>7} {'MB':>7} {'vs today':>9}")
    for (name, filter_name, level), (ms, cpu_ms, size) in results.items():
        ratio = f"{size / today:9.3f}" if size else f"{'':9}"
        mark = "  <- chosen" if (name, filter_name, level) == chosen else ""
        print(f"{name:31} {filter_name:8} {level:5} {ms:7.0f} {cpu_ms:7.0f} {size / 1e6:7.2f} {ratio}{mark}")
    within = {
        key: cpu_ms
        for key, (_, cpu_ms, size) in results.items()
        if 0 < size <= today * SIZE_TOLERANCE and key[0] in DEFLATES
    }
    fastest = min(within, key=within.__getitem__)
    print(
        f"fastest within {SIZE_TOLERANCE - 1:.0%} of today's size ({BASELINE[0]} level {BASELINE[2]}, "
        f"{BASELINE[1]}): {fastest[0]} level {fastest[2]}, {fastest[1]} filter, {within[fastest]:.0f} CPU ms "
        f"against {results[BASELINE][1]:.0f}"
    )


def _pillow_png(image: Image.Image, level: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


def encodings(label: str) -> None:
    """The model request as JPEG at several qualities and as PNG: bytes on the wire vs encode time."""
    width, height = PHOTO_SIZES[label]
    source = synthetic_photo(width, height).resize(
        working_size((width, height), WORKING_SHORT_SIDE["full_resolution"]), Image.Resampling.LANCZOS
    )
    print(f"model request {source.size[0]}x{source.size[1]} RGB; best of 3")
    variants: list[tuple[str, dict[str, Any]]] = [
        ("JPEG q90", {"format": "JPEG", "quality": 90}),
        ("JPEG q95", {"format": "JPEG", "quality": 95}),
        ("JPEG q95 4:4:4", {"format": "JPEG", "quality": 95, "subsampling": 0}),
        ("PNG level 1", {"format": "PNG", "compress_level": 1}),
        ("PNG level 6", {"format": "PNG", "compress_level": 6}),
    ]
    for name, params in variants:

        def encode(params: dict[str, Any] = params) -> bytes:
            buffer = io.BytesIO()
            source.save(buffer, **params)
            return buffer.getvalue()

        ms, body = best_of(3, encode)
        print(f"{name:16} {ms:7.1f} ms {len(body) / 1e3:8.0f} kB")


def best_of(n: int, func: Callable[[], bytes]) -> tuple[float, bytes]:
    best, result = float("inf"), b""
    for _ in range(n):
        started = time.perf_counter()
        result = func()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="12 MP only, one run per case")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument(
        "--png-levels", action="store_true", help="deflate, level and filter study on a 48 MP depth map"
    )
    parser.add_argument("--encodings", action="store_true", help="model request encodings study")
    parser.add_argument(
        "--case", nargs=4, metavar=("PATH", "PHOTO", "ANSWER", "SHORT_SIDE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--warmup", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--imports-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.imports_only:
        print(peak_rss_mb())
    elif args.case:
        path, photo, answer, short_side = args.case
        run_case(path, Path(photo), Path(answer), int(short_side), args.warmup)
    elif args.png_levels:
        png_levels("12MP" if args.quick else "48MP")
    elif args.encodings:
        encodings("12MP")
    elif args.quick:
        benchmark(["12MP"], 1)
    else:
        benchmark(list(PHOTO_SIZES), args.repeat)


if __name__ == "__main__":
    main()
