"""Images per second of the inference container's serving path against the naive baseline (not a test).

The baseline is transformers' ``pipeline("depth-estimation")`` called image by image: PIL/NumPy
preprocessing, the model in float32, post-processing to the photo's size. Ours is the container's
path, ``DepthEngine.predict`` one by one (decode, resize, model, depth to the photo's size, 16-bit PNG),
in float32 and in the precision the container chooses on this machine (bfloat16 where the CPU has bf16
matrix units: see depth_inference/precision.py), and the path the server uses (``DepthService`` with
the server's defaults) with several callers in flight. Where the engine compiles (DEPTH_COMPILE, see
depth_inference/compiling.py), the serving rows are the steady state a server reaches: each working
size's first requests are served eagerly while it compiles in the background, and the rounds start
once it is compiled. The compile's time, what its first requests pay by running eagerly meanwhile, is
printed apart, beside an eager row of the same engine settings ("before its size is compiled"). At 518
it also times the settings that were tried and not kept (bf16 everywhere, less of the model in bf16,
NCHW convolutions, a float resize, eager attention, one thread, float32 compiled), in the same
interleaved rounds; the variants run eagerly, as the serving path did before compiling.

All run the same model: Depth-Anything-V2-Small's architecture (DINOv2 ViT-S/14 backbone, DPT head)
with random weights, saved once with save_pretrained and loaded by each side from that directory, on
the same photo-like 1440x1080 JPEGs, all producing a depth map at the photo's size. Parity comes first:
each path's depth is compared with the baseline's on the first images, and a path more than 1e-2 of
the depth range away gets no timing at all.

    .venv/bin/python bench/inference.py                # 518 and 1036, variants at 518: ~12 min, 2 cores
    .venv/bin/python bench/inference.py --no-variants  # the kept paths only: ~6 min
    .venv/bin/python bench/inference.py --quick        # fewer images, one round, no variants

It counts FLOPs per image (torch.utils.flop_counter) and says what share of the device's ceiling each
path's throughput implies: on a CPU the float32 and bf16 matrix-multiply rates measured in the same run
(no datasheet figure is reliable there); on CUDA the dense half-precision peak from the datasheet
(--peak-tflops, known for a few GPUs). The last line ends with one number: the serving path's images/s
over the baseline's at 518, one image at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
from depth_inference.engine import DepthEngine, DepthOutput, Tuning
from depth_inference.precision import cpu_bf16_support, cpu_model_name
from depth_inference.service import DepthService
from depth_inference.sizing import working_size

PHOTO_SIZE = (1440, 1080)
COMPILE_WAIT_S = 900  # the longest a working size's background compile may take before the rounds
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
    save_processor(directory)


def save_processor(directory: Path) -> None:
    """Depth-Anything-V2's published preprocessor_config.json."""
    DPTImageProcessor(
        size={"height": 518, "width": 518},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        resample=Image.Resampling.BICUBIC,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(directory)


def photo_jpegs(count: int, size: tuple[int, int] = PHOTO_SIZE) -> list[bytes]:
    """Photo-like JPEGs: smooth gradients, a few shapes and sensor-like noise, different per image."""
    width, height = size
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
            side = min(200, width // 4, height // 4)
            x, y = rng.integers(0, width - side), rng.integers(0, height - side)
            pixels[y : y + rng.integers(side // 4, side), x : x + rng.integers(side // 4, side)] = (
                rng.uniform(0, 255, 3)
            )
        pixels += rng.normal(0, 8, pixels.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    return jpegs


@dataclass
class BenchPath:
    """One way of turning the photos into depth maps. A path that serves one image at a time is timed
    image by image (``step``); one with callers in flight, as a whole (``run``)."""

    name: str
    images: int
    step: Callable[[bytes], object] | None = None
    run: Callable[[], None] | None = None
    depth: Callable[[bytes], DepthOutput] | None = None  # one image, for parity (None: the baseline)
    note: str = ""
    serving: bool = False  # the container's own path, one image at a time
    parity: float | None = None
    best_image_s: dict[int, float] = field(default_factory=dict)  # image index -> best seconds
    best_run_s: float = float("inf")

    @property
    def refused(self) -> bool:
        return self.parity is not None and self.parity > PARITY_TOLERANCE

    @property
    def seconds(self) -> float:
        return sum(self.best_image_s.values()) if self.step is not None else self.best_run_s

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


@dataclass
class EngineSpec:
    """A DepthEngine path: the engine, how it is called, and what is special about it."""

    name: str
    engine: DepthEngine
    concurrent: bool = False
    serving: bool = False
    threads: int | None = None  # torch threads while this path runs
    sizes: list[int] | None = None  # None: every size


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    images: int
    parity_images: int
    concurrency: int
    rounds: int
    window_ms: float
    device: torch.device
    peak_tflops: float | None
    variants: bool
    variant_sizes: list[int]


@dataclass
class SizeResult:
    input_size: int
    paths: list[BenchPath]
    flops: float
    ceilings: dict[str, float] = field(default_factory=dict)  # name -> FLOP/s


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
    reference = baseline_depth.float().cpu().numpy()
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


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 8) -> float:
    """The best FLOP rate of a large square matmul in ``dtype`` on this device: what a forward pass made
    of matmuls could reach at most, measured under the same load as the paths it bounds."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    best = float("inf")
    with torch.inference_mode():
        torch.mm(a, b)
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            torch.mm(a, b)
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def peak_tflops(explicit: float | None) -> float | None:
    if explicit is not None:
        return explicit
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in DENSE_HALF_PEAK_TFLOPS.items() if key in name), None)


def machine_summary(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name()}"
    units, onednn = cpu_bf16_support()
    bf16 = (
        f"yes ({', '.join(units)})"
        if units and onednn
        else "no" + (f" ({', '.join(units)})" if units else "")
    )
    return f"CPU {cpu_model_name()}, {os.cpu_count()} logical cores; bf16 matrix support: {bf16}"


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def engine_path(spec: EngineSpec, batch: list[bytes], input_size: int, options: Options) -> BenchPath:
    engine = spec.engine
    params = InvocationParams(input_size, PHOTO_SIZE)
    concurrent = batch[: options.concurrency]

    def depth(jpeg: bytes) -> DepthOutput:
        with torch_threads(spec.threads):
            return engine.predict(jpeg, input_size, PHOTO_SIZE)

    def run_concurrent() -> None:
        run_batched(engine, concurrent, params, options.window_ms)

    if spec.concurrent:
        name = f"{spec.name}, {len(concurrent)} concurrent"
        return BenchPath(name, len(concurrent), run=run_concurrent, depth=depth)
    return BenchPath(f"{spec.name}, 1 by 1", len(batch), step=depth, depth=depth, serving=spec.serving)


def measure_size(
    specs: list[EngineSpec],
    model: PreTrainedModel,
    model_dir: Path,
    jpegs: list[bytes],
    input_size: int,
    options: Options,
) -> SizeResult:
    batch = jpegs if input_size <= 518 else jpegs[: max(2, len(jpegs) // 4)]
    processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
        model_dir, size={"height": input_size, "width": input_size}
    )
    baseline = pipeline("depth-estimation", model=model, image_processor=processor, device=options.device)

    def run_baseline(jpeg: bytes) -> object:
        return baseline(Image.open(io.BytesIO(jpeg)))

    # Warms the baseline at this size; its answers are the parity references.
    checked = batch[: options.parity_images]
    references = [baseline(Image.open(io.BytesIO(jpeg)))["predicted_depth"] for jpeg in checked]
    paths = [BenchPath("baseline pipeline (float32), 1 by 1", len(batch), step=run_baseline)]
    for spec in specs:
        if spec.sizes is not None and input_size not in spec.sizes:
            continue
        path = engine_path(spec, batch, input_size, options)
        assert path.depth is not None
        if spec.engine.compilation.enabled:
            path.note = reach_steady_state(spec.engine, path.depth, batch[0], input_size)
        errors = [
            parity_error(path.depth(jpeg), reference)
            for jpeg, reference in zip(checked, references, strict=True)
        ]
        path.parity = max(errors)
        verdict = "refused, not timed" if path.refused else "timed"
        print(
            f"  {input_size} parity {path.name}: max |ours - baseline| = {path.parity:.1e} of the depth "
            f"range over {len(errors)} image(s): {verdict}",
            flush=True,
        )
        paths.append(path)
    timed = [path for path in paths if not path.refused]

    ceilings: dict[str, float] = {}

    def measure_ceilings() -> None:
        if options.device.type == "cuda":
            return
        for dtype in (torch.float32, torch.bfloat16):
            name = str(dtype).removeprefix("torch.")
            ceilings[name] = max(ceilings.get(name, 0.0), matmul_rate(options.device, dtype))

    # Rounds interleave the paths image by image (in an order that rotates) and keep each one's best
    # time for each image: on a shared machine other processes only ever slow a run down, and short,
    # interleaved timings give every path the same chances at the quiet moments. Paths with callers in
    # flight are timed whole, and the matmul rates in every round, under the same load.
    singles = [path for path in timed if path.step is not None]
    for round_number in range(1, options.rounds + 1):
        measure_ceilings()
        spent = dict.fromkeys(range(len(timed)), 0.0)
        for index, jpeg in enumerate(batch):
            shift = (index + round_number) % len(singles)
            for path in singles[shift:] + singles[:shift]:
                assert path.step is not None
                started = time.perf_counter()
                path.step(jpeg)
                elapsed = time.perf_counter() - started
                path.best_image_s[index] = min(path.best_image_s.get(index, float("inf")), elapsed)
                spent[timed.index(path)] += elapsed
        for position, path in enumerate(timed):
            if path.run is not None:
                started = time.perf_counter()
                path.run()
                spent[position] = time.perf_counter() - started
                path.best_run_s = min(path.best_run_s, spent[position])
            rate = path.images / spent[position]
            print(f"  {input_size} round {round_number} {path.name}: {rate:.3f} images/s", flush=True)
    measure_ceilings()
    if options.device.type == "cuda":
        peak = peak_tflops(options.peak_tflops)
        if peak:
            ceilings["dense half-precision peak"] = peak * 1e12
    eager = next((spec.engine for spec in specs if not spec.engine.compilation.enabled), specs[0].engine)
    flops = flops_per_image(eager, batch[0], input_size)
    return SizeResult(input_size, paths, flops, ceilings)


def reach_steady_state(
    engine: DepthEngine, depth: Callable[[bytes], DepthOutput], jpeg: bytes, input_size: int
) -> str:
    """Serves the photo's working size as a server would until it is compiled: the first requests
    (eager) queue its compile unless the warm-up did, then the background compile finishes. Returns
    what the compile cost, for the report."""
    work = working_size(*PHOTO_SIZE, input_size)
    label = f"{work[0]}x{work[1]}"
    waited = time.perf_counter()
    if engine.compile_status()["sizes"].get(label, {}).get("state") is None:  # not queued yet
        for _ in range(engine.compilation.after):
            depth(jpeg)
    if not engine.wait_for_compiles(COMPILE_WAIT_S):
        return f"{label} still compiling after {COMPILE_WAIT_S} s: timed as it was (partly eager)"
    waited = time.perf_counter() - waited
    state = engine.compile_status()["sizes"].get(label, {})
    if state.get("state") != "compiled":
        return f"{label} not compiled ({state.get('error', state)}): timed eagerly"
    note = (
        f"compiled {label} in the background in {state['seconds']:.0f} s "
        f"({engine.compilation.backend_name}), its first requests served eagerly meanwhile "
        f"(the 'before its size is compiled' row); timed once compiled"
    )
    print(f"  {input_size} {note} (waited {waited:.0f} s here)", flush=True)
    return note


def report(results: list[SizeResult], device: torch.device) -> None:
    print()
    ceiling_names = list(results[0].ceilings) if results else []
    print(
        "| input | path | parity | images | seconds | images/s | vs baseline | GFLOP/s | "
        + " | ".join(
            f"of {name} matmul" if name != "dense half-precision peak" else "of peak"
            for name in ceiling_names
        )
        + " |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(ceiling_names))
    for result in results:
        base = result.paths[0].images_per_s
        for path in result.paths:
            parity = "reference" if path.parity is None else f"{path.parity:.1e}"
            if path.refused:
                print(
                    f"| {result.input_size} | {path.name} | {parity} | refused: parity over 1e-2 | | | | |"
                    + " |" * len(ceiling_names)
                )
                continue
            rate = result.flops * path.images_per_s
            shares = " | ".join(f"{rate / result.ceilings[name]:.0%}" for name in ceiling_names)
            print(
                f"| {result.input_size} | {path.name} | {parity} | {path.images} | {path.seconds:.2f} "
                f"| {path.images_per_s:.3f} | {path.images_per_s / base:.2f}x | {rate / 1e9:.0f} | {shares} |"
            )
    print()
    for result in results:
        rates = ", ".join(f"{name} {value / 1e9:.0f} GFLOP/s" for name, value in result.ceilings.items())
        print(
            f"FLOPs at {result.input_size}: {result.flops / 1e9:.1f} GFLOP/image; ceilings measured in the "
            f"same rounds: {rates or 'none (pass --peak-tflops)'}"
        )
        for path in result.paths:
            if path.note:
                print(f"  {path.name}: {path.note}")
    print(machine_summary(device) + f"; torch {torch.__version__}, {torch.get_num_threads()} threads")
    serving: dict[int, float] = {}
    for result in results:
        base = result.paths[0].images_per_s
        ours = [path for path in result.paths if path.serving]
        if ours and not ours[0].refused:
            serving[result.input_size] = ours[0].images_per_s / base
    print(
        "serving path / baseline pipeline, one image at a time: "
        + ", ".join(f"{size}: {ratio:.2f}x" for size, ratio in serving.items())
    )
    if not serving:
        raise SystemExit("the serving path failed parity: no ratio")
    size = 518 if 518 in serving else next(iter(serving))
    print(f"serving path / transformers pipeline at {size}, one image at a time, here: {serving[size]:.2f}")


def parse_options() -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer images, one round, no variants")
    parser.add_argument("--sizes", type=int, nargs="+", default=[518, 1036], help="model input sizes")
    parser.add_argument(
        "--images", type=int, help="images per path at 518 (a quarter, at least 2, at larger sizes)"
    )
    parser.add_argument(
        "--parity-images", type=int, default=2, help="images each path's parity is checked on"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="callers in flight on the batched path")
    parser.add_argument("--rounds", type=int, help="repeat each measurement (default 3), keep the best")
    parser.add_argument("--window-ms", type=float, default=5.0, help="batching window")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads for all paths")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16/fp16 peak")
    parser.add_argument(
        "--variants",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time the settings not kept (default: yes, but not with --quick)",
    )
    parser.add_argument("--variant-sizes", type=int, nargs="+", default=[518], help="sizes for --variants")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return Options(
        sizes=args.sizes,
        images=args.images or (4 if args.quick else 8),
        parity_images=args.parity_images,
        concurrency=args.concurrency,
        rounds=args.rounds or (1 if args.quick else 3),
        window_ms=args.window_ms,
        device=torch.device(args.device),
        peak_tflops=args.peak_tflops,
        variants=not args.quick if args.variants is None else args.variants,
        variant_sizes=args.variant_sizes,
    )


def engine_specs(model_dir: Path, options: Options) -> list[EngineSpec]:
    """Our paths: float32, the serving path in the precision chosen for this machine (one by one and
    with concurrent callers), and with --variants the settings that were tried and not kept."""
    device = str(options.device)

    def load(
        dtype: str | None = None, tuning: Tuning | None = None, compile_mode: str | None = "off"
    ) -> DepthEngine:
        return DepthEngine.load(
            str(model_dir), device=device, dtype=dtype, tuning=tuning, compile_mode=compile_mode
        )

    serving = load(compile_mode=None)  # as the server loads it: DEPTH_COMPILE, else auto
    chosen = serving.precision.name
    print(f"serving precision on this machine: {chosen} ({serving.precision.reason})", flush=True)
    compiles = serving.compilation
    print(f"serving compile on this machine: {compiles.state} ({compiles.reason})", flush=True)
    specs = []
    if serving.precision.dtype != torch.float32:
        specs.append(EngineSpec("ours float32", load("float32", compile_mode=None)))
    if compiles.enabled:
        specs.append(EngineSpec(f"ours serving ({chosen}) before its size is compiled", load(chosen)))
    specs += [
        EngineSpec(f"ours serving ({chosen})", serving, serving=True),
        EngineSpec(f"ours serving ({chosen})", serving, concurrent=True),
    ]
    if not options.variants:
        return specs
    # The variants change one setting of the serving path each, and run eagerly (compile_mode "off").
    sizes = options.variant_sizes
    default = serving.tuning
    variants: list[EngineSpec] = []
    if chosen == "bfloat16":
        variants += [
            EngineSpec("bf16 everywhere", load(chosen, replace(default, float32_parts=())), sizes=sizes),
            EngineSpec(
                "bf16 but the patch embedding, last fusion layer and head",
                load(
                    chosen,
                    replace(
                        default,
                        float32_parts=("backbone.embeddings", "neck.fusion_stage.layers.-1", "head"),
                    ),
                ),
                sizes=sizes,
            ),
            EngineSpec("float32, torch.compile", load("float32", compile_mode="on"), sizes=sizes),
        ]
    eager = load(chosen)
    # transformers reads the attention implementation from the backbone's config at every call.
    backbone: Any = eager.model.get_submodule("backbone")
    backbone.config._attn_implementation = "eager"
    variants += [
        EngineSpec(
            f"{chosen}, NCHW convolutions", load(chosen, replace(default, channels_last=False)), sizes=sizes
        ),
        EngineSpec(
            f"{chosen}, one float resize", load(chosen, replace(default, resize="float")), sizes=sizes
        ),
        EngineSpec(f"{chosen}, eager attention", eager, sizes=sizes),
        EngineSpec(f"{chosen}, 1 thread", serving, threads=1, sizes=sizes),
    ]
    return specs + variants


def main() -> None:
    options = parse_options()
    print(machine_summary(options.device), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        save_model(model_dir)
        specs = engine_specs(model_dir, options)
        model = AutoModelForDepthEstimation.from_pretrained(model_dir)
        jpegs = photo_jpegs(options.images)
        print(
            f"device {options.device}, torch threads {torch.get_num_threads()}, {len(jpegs)} photos "
            f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, best of {options.rounds} round(s), "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        results = [
            measure_size(specs, model, model_dir, jpegs, input_size, options) for input_size in options.sizes
        ]
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes share this machine's cores)")
    report(results, options.device)


if __name__ == "__main__":
    main()
