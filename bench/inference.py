"""Images per second of the inference container's serving path against the naive baseline (not a test).

The baseline is transformers' ``pipeline("depth-estimation")`` called image by image: PIL/NumPy
preprocessing, the model in float32, post-processing to the photo's size. Ours is the container's
path: ``DepthEngine.predict`` one by one, and the path the server uses (``DepthService`` with the
server's defaults: decode and PNG encode in request threads, dynamic batches of up to 8 on a GPU and
none on a CPU, where they measured slower) with several callers in flight.

Both run the same model: Depth-Anything-V2-Small's architecture (DINOv2 ViT-S/14 backbone, DPT head)
with random weights, saved once with save_pretrained and loaded by each side from that directory, on
the same photo-like 1440x1080 JPEGs. Both produce a depth map at the photo's size (ours asks for it
with ``output_size``; the API's default, the working resolution, is cheaper still). Depth is checked
against the baseline's before any timing is trusted.

    .venv/bin/python bench/inference.py            # input 518 and 1036, a few minutes on 2 CPU cores
    .venv/bin/python bench/inference.py --quick    # fewer images, one round

It also counts FLOPs per image (torch.utils.flop_counter) and says what share of the device's ceiling
each path's throughput implies: on CUDA the dense bf16/fp16 peak from the datasheet (--peak-tflops, known
for a few GPUs); on a CPU, where no datasheet figure is reliable, the float32 matrix-multiply rate
measured in the same run. That share bounds any speed-up that keeps the numerics: a baseline already at
60% of the ceiling cannot be doubled in float32.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from transformers import (
    AutoImageProcessor,
    AutoModelForDepthEstimation,
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTImageProcessor,
    PreTrainedModel,
    pipeline,
)

from depth_inference.attributes import InvocationParams
from depth_inference.engine import DepthEngine, DepthOutput
from depth_inference.service import DepthService

PHOTO_SIZE = (1440, 1080)
PARITY_TOLERANCE = 1e-2  # of the baseline's depth range
# Dense (no sparsity) bf16/fp16 tensor peaks from NVIDIA's datasheets; first substring match wins.
DENSE_HALF_PEAK_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "H200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
}


def small_v2_config() -> DepthAnythingConfig:
    """Depth-Anything-V2-Small as published (depth-anything/Depth-Anything-V2-Small-hf config.json)."""
    backbone_options: dict[str, Any] = {
        "hidden_size": 384,
        "num_hidden_layers": 12,
        "num_attention_heads": 6,
        "mlp_ratio": 4,
        "image_size": 518,
        "patch_size": 14,
        "out_indices": [3, 6, 9, 12],
        "reshape_hidden_states": False,
    }
    backbone = Dinov2Config(**backbone_options)
    return DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=384,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=[48, 96, 192, 384],
        fusion_hidden_size=64,
        head_hidden_size=32,
        depth_estimation_type="relative",
    )


def save_model(directory: Path) -> None:
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(small_v2_config())
    # Random 14x14 patch filters make an untrained model chaotic: PIL's and Torch's resize differ by a
    # level here and there, and the depth moves by percents. Trained filters are smooth; random filters
    # flat over the patch are too, and cost the same FLOPs, so parity measures the serving path.
    with torch.no_grad():
        projection = model.backbone.embeddings.patch_embeddings.projection
        out_channels, in_channels, height, width = projection.weight.shape
        mixing = torch.randn(out_channels, in_channels, 1, 1) / (height * width)
        projection.weight.copy_(mixing.expand_as(projection.weight))
    model.save_pretrained(directory)
    DPTImageProcessor(
        size={"height": 518, "width": 518},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        resample=Image.Resampling.BICUBIC,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(directory)


def photo_jpegs(count: int) -> list[bytes]:
    """Photo-like JPEGs: smooth gradients, a few shapes and sensor-like noise, different per image."""
    width, height = PHOTO_SIZE
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    jpegs = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        phase = rng.uniform(0, 2 * np.pi, 3)
        channels = [
            127
            + 100
            * np.sin(xs / rng.uniform(80, 400) + phase[c])
            * np.cos(ys / rng.uniform(80, 400) + phase[c])
            for c in range(3)
        ]
        pixels = np.stack(channels, axis=-1)
        for _ in range(4):
            x, y = rng.integers(0, width - 200), rng.integers(0, height - 200)
            pixels[y : y + rng.integers(50, 200), x : x + rng.integers(50, 200)] = rng.uniform(0, 255, 3)
        pixels += rng.normal(0, 8, pixels.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    return jpegs


@dataclass
class Measurement:
    input_size: int
    mode: str
    images: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


def run_batched(engine: DepthEngine, jpegs: list[bytes], params: InvocationParams, window_ms: float) -> None:
    async def serve_all() -> None:
        # The server's own batching settings for this device.
        service = DepthService(engine, window_s=window_ms / 1000)
        service.start()
        try:
            await asyncio.gather(*(service.predict(jpeg, params) for jpeg in jpegs))
        finally:
            await service.stop()

    asyncio.run(serve_all())


def parity_error(ours: DepthOutput, baseline_depth: torch.Tensor) -> float:
    reference = baseline_depth.float().numpy()
    with Image.open(io.BytesIO(ours.png)) as image:
        values = np.asarray(image).astype(np.float64)
    depth = ours.depth_min + values / 65535 * (ours.depth_max - ours.depth_min)
    if depth.shape != reference.shape:
        raise AssertionError(f"ours is {depth.shape}, the baseline {reference.shape}")
    return float(np.abs(depth - reference).max() / np.ptp(reference))


def flops_per_image(engine: DepthEngine, jpeg: bytes, input_size: int) -> float:
    prepared = engine.prepare(jpeg, input_size)
    # Counted through the math attention kernel: the counter has no formula for the fused CPU flash
    # kernel and would leave attention (a third of the work at 518) out. The arithmetic is the same.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        engine.infer([prepared])
    return float(counter.get_total_flops())


def matmul_ceiling_flops(device: torch.device, size: int = 2048, repeats: int = 8) -> float:
    """The best float32 FLOP rate of a large square matmul on this device: what a forward pass made of
    matmuls could reach at most, measured under the same load as the paths it bounds."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            started = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def peak_tflops(explicit: float | None) -> float | None:
    if explicit is not None:
        return explicit
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in DENSE_HALF_PEAK_TFLOPS.items() if key in name), None)


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    images: int
    concurrency: int
    rounds: int
    window_ms: float
    device: torch.device
    peak_tflops: float | None


def measure_size(
    engine: DepthEngine,
    model: PreTrainedModel,
    model_dir: Path,
    jpegs: list[bytes],
    input_size: int,
    options: Options,
) -> tuple[list[Measurement], list[str]]:
    batch = jpegs if input_size <= 518 else jpegs[: max(2, len(jpegs) // 4)]
    concurrent = batch[: options.concurrency]
    processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
        model_dir, size={"height": input_size, "width": input_size}
    )
    baseline = pipeline("depth-estimation", model=model, image_processor=processor, device=options.device)
    params = InvocationParams(input_size, PHOTO_SIZE)

    # Warms both sides at this size; the first image's answers are the parity check.
    reference = baseline(Image.open(io.BytesIO(batch[0])))["predicted_depth"]
    error = parity_error(engine.predict(batch[0], input_size, PHOTO_SIZE), reference)
    notes = [f"parity at {input_size}: max |ours - baseline| = {error:.1e} of the depth range"]
    if error > PARITY_TOLERANCE:
        raise SystemExit(f"ours departs from the baseline at input {input_size}: {error:.3f}")

    def run_baseline() -> None:
        for jpeg in batch:
            baseline(Image.open(io.BytesIO(jpeg)))

    def run_single() -> None:
        for jpeg in batch:
            engine.predict(jpeg, input_size, PHOTO_SIZE)

    def run_concurrent() -> None:
        run_batched(engine, concurrent, params, options.window_ms)

    modes: list[tuple[str, int, Callable[[], None]]] = [
        ("baseline pipeline, 1 by 1", len(batch), run_baseline),
        ("ours, 1 by 1", len(batch), run_single),
        (f"ours, {len(concurrent)} concurrent", len(concurrent), run_concurrent),
    ]
    # Rounds interleave the paths and keep each one's best time: on a shared machine other processes
    # only ever slow a run down, and interleaving spreads their load over all paths alike.
    best = [float("inf")] * len(modes)
    for round_number in range(1, options.rounds + 1):
        for index, (mode, count, run) in enumerate(modes):
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
            best[index] = min(best[index], elapsed)
            print(f"  {input_size} round {round_number} {mode}: {count / elapsed:.3f} images/s", flush=True)
    results = [
        Measurement(input_size, mode, count, seconds)
        for (mode, count, _), seconds in zip(modes, best, strict=True)
    ]

    flops = flops_per_image(engine, batch[0], input_size)
    baseline_rate = flops * results[0].images_per_s
    ours_rate = flops * max(m.images_per_s for m in results[1:])
    if options.device.type == "cuda":
        peak = peak_tflops(options.peak_tflops)
        ceiling = f"a {peak:.0f} TFLOPS dense half-precision peak" if peak else None
        ceiling_flops = peak * 1e12 if peak else None
    else:
        ceiling_flops = matmul_ceiling_flops(options.device)
        ceiling = f"this CPU's float32 matmul rate, measured now: {ceiling_flops / 1e9:.0f} GFLOP/s"
    shares = (
        f"baseline {baseline_rate / ceiling_flops:.0%}, ours {ours_rate / ceiling_flops:.0%} of {ceiling}; "
        f"2x the baseline would need {2 * baseline_rate / ceiling_flops:.0%}"
        if ceiling_flops
        else "peak unknown, pass --peak-tflops"
    )
    notes.append(
        f"FLOPs at {input_size}: {flops / 1e9:.1f} GFLOP/image; baseline {baseline_rate / 1e9:.1f} GFLOP/s, "
        f"ours at best {ours_rate / 1e9:.1f} GFLOP/s: {shares}"
    )
    return results, notes


def report(results: list[Measurement], notes: list[str], sizes: list[int]) -> None:
    print()
    print("| input | path | images | seconds | images/s | vs baseline |")
    print("|---:|---|---:|---:|---:|---:|")
    ratios = []
    for input_size in sizes:
        rows = [m for m in results if m.input_size == input_size]
        base = rows[0].images_per_s
        for m in rows:
            print(
                f"| {m.input_size} | {m.mode} | {m.images} | {m.seconds:.2f} | {m.images_per_s:.3f} "
                f"| {m.images_per_s / base:.2f}x |"
            )
        ratios.append(
            f"{input_size}: "
            + ", ".join(f"{m.mode.removeprefix('ours, ')} {m.images_per_s / base:.2f}x" for m in rows[1:])
        )
    print()
    for note in notes:
        print(note)
    print("ours/baseline images per second: " + "; ".join(ratios))


def parse_options() -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer images and one round")
    parser.add_argument("--sizes", type=int, nargs="+", default=[518, 1036], help="model input sizes")
    parser.add_argument(
        "--images", type=int, help="images per path at 518 (a quarter, at least 2, at larger sizes)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="callers in flight on the batched path")
    parser.add_argument("--rounds", type=int, help="repeat each measurement, keep the best")
    parser.add_argument("--window-ms", type=float, default=5.0, help="batching window")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads for both sides")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16/fp16 peak")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return Options(
        sizes=args.sizes,
        images=args.images or (4 if args.quick else 8),
        concurrency=args.concurrency,
        rounds=args.rounds or (1 if args.quick else 2),
        window_ms=args.window_ms,
        device=torch.device(args.device),
        peak_tflops=args.peak_tflops,
    )


def main() -> None:
    options = parse_options()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        save_model(model_dir)
        engine = DepthEngine.load(str(model_dir), device=str(options.device))
        model = AutoModelForDepthEstimation.from_pretrained(model_dir)
        jpegs = photo_jpegs(options.images)
        print(
            f"device {options.device}, torch threads {torch.get_num_threads()}, {len(jpegs)} photos "
            f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, best of {options.rounds} round(s)",
            flush=True,
        )
        results: list[Measurement] = []
        notes: list[str] = []
        for input_size in options.sizes:
            measured, size_notes = measure_size(engine, model, model_dir, jpegs, input_size, options)
            results += measured
            notes += size_notes
    report(results, notes, options.sizes)


if __name__ == "__main__":
    main()
