"""Derivatives made from a photo and its stored depth map, per photo size (not a test).

Each case is one derivative kind (the browser photo of a HEIC or of a JPEG shot sideways, the 8-bit
map, the stereo layouts at the default divergence and convergence) made from a synthetic photo
(gradients, noise, hard-edged shapes; JPEG q90) and a depth map at the photo's size as the processor
stores it (16-bit PNG: a ground-plane gradient, objects at their own depth, soft edges). Each case
runs in a fresh subprocess, so its peak memory is its own, on one thread: the thread variables of
numpy's libraries are set to 1 before numpy is imported, here and (inherited) in the children;
Pillow's JPEG codec and resampling run on the calling thread. CPU time is the process's
(time.process_time), the figure a Lambda's share of a core turns into wall time.

Memory, per case: the peak RSS of the process (interpreter, imports and inputs included), its
growth over the run, and tracemalloc's peak (what numpy allocates; Pillow's images are not traced).

    .venv/bin/python bench/derivatives.py            # 12 MP and 48 MP (a few minutes)
    .venv/bin/python bench/derivatives.py --quick    # 1 MP and 2 MP, one run each (seconds)

More kinds are added to DERIVATIVES: a name and a function (photo bytes, depth bytes) -> bytes, and
in SOURCES how the case's photo is stored (done before the timing starts).
"""

# ruff: noqa: E402 - the thread variables must be set before numpy is imported

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse
import functools
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.` when run as a script

import numpy as np
import pillow_heif
from PIL import Image

from bench.pipeline import peak_rss_mb, synthetic_depth_png, synthetic_photo
from immichvr_depth.imaging._renditions import browser_photo, depth_png8
from immichvr_depth.imaging._stereo import (
    DEFAULT_CONVERGENCE,
    DEFAULT_DIVERGENCE,
    StereoLayout,
    StereoParams,
    render_stereo,
)

SIZES = {"12MP": (4000, 3000), "48MP": (8000, 6000)}
QUICK_SIZES = {"1MP": (1200, 900), "2MP": (1600, 1200)}
PHOTO_QUALITY = 90
LAMBDA_MEMORY_MB = 2048  # the media files function (MediaFilesMemorySize)
# Lambda's CPU share grows with memory: one full vCPU at 1,769 MB. The work here is single-threaded,
# so a larger share than one vCPU makes it no faster.
ONE_VCPU_MB = 1769
API_GATEWAY_LIMIT_S = 29

Derivative = Callable[[bytes, bytes], bytes]


def _stereo(layout: StereoLayout, photo: bytes, depth: bytes) -> bytes:
    return render_stereo(photo, depth, StereoParams.of(layout, DEFAULT_DIVERGENCE, DEFAULT_CONVERGENCE))


def _photo(photo: bytes, _depth: bytes) -> bytes:
    converted = browser_photo(photo).body
    assert converted is not None, "the case's source should need converting"
    return converted


def _png8(_photo: bytes, depth: bytes) -> bytes:
    return depth_png8(depth)


DERIVATIVES: dict[str, Derivative] = {
    "photo-heic": _photo,
    "photo-sideways-jpeg": _photo,
    "png8": _png8,
} | {f"stereo-{layout.value}": functools.partial(_stereo, layout) for layout in StereoLayout}


def _as_heic(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(Image.open(io.BytesIO(jpeg))).save(out, quality=90)
    return out.getvalue()


def _sideways(jpeg: bytes) -> bytes:
    """The same JPEG with EXIF orientation 6, as a phone held upright stores it."""
    image = Image.open(io.BytesIO(jpeg))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=PHOTO_QUALITY, exif=exif.tobytes())
    return out.getvalue()


# How each case's photo is stored, when not as the synthetic JPEG itself.
SOURCES: dict[str, Callable[[bytes], bytes]] = {"photo-heic": _as_heic, "photo-sideways-jpeg": _sideways}


# --- the machine ----------------------------------------------------------------------------------


def cpu_summary() -> str:
    """The processor as /proc/cpuinfo (what lscpu reads) names it, and its vector extensions."""
    model, flags = "unknown CPU", set[str]()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    units = [
        label for flag, label in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16")) if flag in flags
    ]
    avx512 = "yes" if "avx512f" in flags else "no"
    return (
        f"CPU {model}, {os.cpu_count()} logical cores; AVX-512: {avx512}; "
        f"bf16 matrix units: {', '.join(units) or 'none'}"
    )


# --- inputs ---------------------------------------------------------------------------------------


def write_inputs(workdir: Path, label: str, size: tuple[int, int]) -> tuple[Path, Path]:
    width, height = size
    photo, depth = workdir / f"{label}.jpg", workdir / f"{label}_depth.png"
    synthetic_photo(width, height).save(photo, "JPEG", quality=PHOTO_QUALITY)
    depth.write_bytes(synthetic_depth_png(width, height))
    return photo, depth


def _tiny_inputs() -> tuple[bytes, bytes]:
    photo, depth = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(photo, "JPEG")
    Image.fromarray(np.full((48, 64), 30000, dtype=np.uint16)).save(depth, "PNG")
    return photo.getvalue(), depth.getvalue()


# --- one case, in its own process -------------------------------------------------------------------


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def reset_peak_rss() -> bool:
    """Start the kernel's peak-RSS mark again from the current RSS (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_case(name: str, photo_path: Path, depth_path: Path, repeat: int) -> None:
    """Child side: warm up on a tiny input, time `repeat` runs, then one run under tracemalloc;
    the figures as one JSON line on stdout."""
    derive, source = DERIVATIVES[name], SOURCES.get(name, lambda photo: photo)
    tiny_photo, tiny_depth = _tiny_inputs()
    derive(source(tiny_photo), tiny_depth)  # first-call costs: plugin imports, the allocator's arenas
    photo, depth = source(photo_path.read_bytes()), depth_path.read_bytes()
    baseline = current_rss_mb()
    peak_reset = reset_peak_rss()
    wall, cpu, output = [], [], 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        output = len(derive(photo, depth))
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    peak = peak_rss_mb()
    tracemalloc.start()
    derive(photo, depth)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result = {
        "wall_s": statistics.median(wall),
        "cpu_s": statistics.median(cpu),
        "peak_rss_mb": peak,
        "rss_growth_mb": peak - baseline if peak_reset else None,
        "numpy_peak_mb": traced_peak / 2**20,
        "output_mb": output / 1e6,
    }
    print(json.dumps(result), flush=True)


# --- the parent -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    case: str
    megapixels: float
    size: tuple[int, int]
    figures: dict[str, Any]


def measure(name: str, photo: Path, depth: Path, repeat: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--case", name, str(photo), str(depth), "--repeat", str(repeat)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"case {name} on {photo.name} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def benchmark(sizes: dict[str, tuple[int, int]], repeat: int) -> None:
    print(cpu_summary())
    print("one thread (OMP/OpenBLAS/MKL threads = 1); each case in a fresh process", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-derivatives-") as tmp:
        for label, size in sizes.items():
            print(f"synthesising the {label} photo and depth map ...", flush=True)
            photo, depth = write_inputs(Path(tmp), label, size)
            for name in DERIVATIVES:
                print(f"  {name} at {label}, {repeat} run(s) ...", flush=True)
                figures = measure(name, photo, depth, repeat)
                rows.append(Row(name, size[0] * size[1] / 1e6, size, figures))
    print_table(rows, repeat)


def print_table(rows: list[Row], repeat: int) -> None:
    print(
        f"\nmedian of {repeat} run(s); peak RSS includes the interpreter, imports and the input files;\n"
        "growth: the peak over the RSS before the run; numpy: tracemalloc's peak (Pillow's images untraced)\n"
    )
    header = (
        f"{'case':20} {'MP':>5} {'size':>11} {'wall s':>7} {'CPU s':>6} {'peak RSS MB':>12}"
        f" {'growth MB':>10} {'numpy MB':>9} {'output MB':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        f = row.figures
        growth = "n/a" if f["rss_growth_mb"] is None else f"{f['rss_growth_mb']:.0f}"
        over = "" if f["peak_rss_mb"] < LAMBDA_MEMORY_MB else f"  > the {LAMBDA_MEMORY_MB} MB function"
        print(
            f"{row.case:20} {row.megapixels:5.3g} {row.size[0]:>5}x{row.size[1]:<5} {f['wall_s']:7.2f}"
            f" {f['cpu_s']:6.2f} {f['peak_rss_mb']:12.0f} {growth:>10} {f['numpy_peak_mb']:9.0f}"
            f" {f['output_mb']:10.2f}{over}"
        )
    print_first_requests(rows)
    slowest = max(rows, key=lambda row: row.figures["cpu_s"])
    print(
        f"\nslowest: {slowest.case} at {slowest.megapixels:.3g} MP: {slowest.figures['cpu_s']:.2f} s CPU, "
        f"{slowest.figures['peak_rss_mb']:.0f} MB peak"
    )


def print_first_requests(rows: list[Row]) -> None:
    """The worst first request per photo size: a HEIC's photo converted, then its full side-by-side
    pair made from it, as CPU seconds on the function's share of a vCPU."""
    slowdown = max(1.0, ONE_VCPU_MB / LAMBDA_MEMORY_MB)
    print(
        f"\nfirst request of a full side-by-side pair of a HEIC, at {LAMBDA_MEMORY_MB} MB "
        f"(CPU time x{slowdown:.2f}):"
    )
    for megapixels in sorted({row.megapixels for row in rows}):
        cpu = {row.case: row.figures["cpu_s"] for row in rows if row.megapixels == megapixels}
        if {"photo-heic", "stereo-sbs"} <= cpu.keys():
            seconds = (cpu["photo-heic"] + cpu["stereo-sbs"]) * slowdown
            verdict = "within" if seconds < API_GATEWAY_LIMIT_S else "OVER"
            print(f"  {megapixels:.3g} MP: {seconds:.2f} s, {verdict} API Gateway's {API_GATEWAY_LIMIT_S} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 MP and 2 MP photos, one run per case")
    parser.add_argument(
        "--repeat", type=int, help="timed runs per case (median reported; default 3, quick 1)"
    )
    parser.add_argument("--case", nargs=3, metavar=("NAME", "PHOTO", "DEPTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick or args.case else 3)
    if args.case:
        name, photo, depth = args.case
        run_case(name, Path(photo), Path(depth), repeat)
    else:
        benchmark(QUICK_SIZES if args.quick else SIZES, repeat)


if __name__ == "__main__":
    main()
