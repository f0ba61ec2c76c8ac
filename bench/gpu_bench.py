"""One prepared GPU run of the inference container's engine (not a test): what bench/gpu.sh runs.

Made for a bare machine with one GPU and no internet (an H200 here): Depth-Anything-V2-Small's
architecture with random weights (as bench/inference.py), photo-like JPEGs made on the spot. It prints,
most important first, so that a run cut short still answers:

1. parity of float16 and bfloat16 against the float32 transformers reference (pipeline), at 518;
2. the model's images/s at 518 for batch 1, 8 and 32, float16 and bfloat16, eager (float16 NHWC too),
   each with its FLOP rate and its share of the GPU's dense bf16 peak (989 TFLOP/s for an H100/H200
   SXM: NVIDIA's H200 datasheet gives 1,979 TFLOP/s for BF16 Tensor Core "with sparsity", and dense is
   half) and of the bf16 matmul rate measured here; then 1036 at batch 1 and 8, eager;
3. the server's end-to-end rate (DepthService as the server runs it: decode in request threads, GPU
   preprocessing, dynamic batches of up to 8, depth to uint16, 16-bit PNG encode) with 1 to 64
   concurrent callers, beside the CPU cost per image of decoding and encoding: where the CPU side
   becomes the limit;
4. compiled (torch.compile, default mode; the first call's time printed): 518 at batch 8 and 32 in
   both precisions, then batch 1; where time allows, CUDA graphs (mode="reduce-overhead") at batch 1
   and 8, and 1036 compiled.

    bench/gpu.sh                                 # on the GPU machine: carried wheels, then this
    .venv/bin/python bench/gpu_bench.py --quick  # on a CPU in seconds: tiny model and sizes, bf16 vs float32

``--budget-s`` bounds the optional parts: a section that would not finish in the time left is skipped
and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

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
)

from depth_inference.attributes import InvocationParams
from depth_inference.codec import decode_rgb
from depth_inference.engine import DepthEngine, DepthOutput, Tuning
from depth_inference.service import DepthService

if not __package__:  # run as a file (python bench/gpu_bench.py): the repository root, as -m would have it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.inference import parity_error, photo_jpegs, save_model, save_processor

# Dense (no sparsity) bf16 tensor-core peak of an H100/H200 SXM: NVIDIA's H200 datasheet lists BF16
# Tensor Core 1,979 TFLOPS "with sparsity"; dense is half.
H200_DENSE_BF16_TFLOPS = 989.0
PARITY_TOLERANCE = 1e-2


@dataclass(frozen=True)
class Plan:
    """What one run measures; --quick shrinks everything to seconds on a CPU."""

    device: torch.device
    dtypes: tuple[str, ...]
    reference_dtype: str
    size: int
    large_size: int
    batches: tuple[int, ...]
    large_batches: tuple[int, ...]
    callers: tuple[int, ...]
    requests: int
    photo: tuple[int, int]
    seconds: float  # per timed row
    compile_backend: str
    cuda_graphs: bool
    compile_large: bool
    compile_estimate_s: float  # before the first compile has been timed
    budget_s: float
    peak_tflops: float | None
    tiny: bool


@dataclass
class Row:
    section: str
    input_size: int
    batch: int
    dtype: str
    mode: str
    images_per_s: float
    tflops: float
    note: str = ""


@dataclass
class Run:
    plan: Plan
    started: float = field(default_factory=time.perf_counter)
    rows: list[Row] = field(default_factory=list)
    matmul_tflops: float | None = None
    flops: dict[int, float] = field(default_factory=dict)

    def left_s(self) -> float:
        return self.plan.budget_s - (time.perf_counter() - self.started)

    def say(self, line: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {line}", flush=True)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        self.say(
            f"{row.section}: {row.input_size} batch {row.batch} {row.dtype} {row.mode}: "
            f"{row.images_per_s:.1f} images/s, {row.tflops:.1f} TFLOP/s{self.shares(row.tflops)}"
            + (f" ({row.note})" if row.note else "")
        )

    def shares(self, tflops: float) -> str:
        parts = []
        if self.plan.peak_tflops:
            parts.append(
                f"{tflops / self.plan.peak_tflops:.1%} of the {self.plan.peak_tflops:.0f} TFLOP/s peak"
            )
        if self.matmul_tflops:
            parts.append(f"{tflops / self.matmul_tflops:.1%} of the measured bf16 matmul rate")
        return (" = " + ", ".join(parts)) if parts else ""


def tiny_config() -> DepthAnythingConfig:
    """A Depth-Anything-V2 small enough for a CPU test to run every section in seconds."""
    backbone_options: dict[str, Any] = {
        "hidden_size": 32,
        "num_hidden_layers": 4,
        "num_attention_heads": 2,
        "mlp_ratio": 2,
        "image_size": 518,
        "patch_size": 14,
        "out_indices": [1, 2, 3, 4],
        "reshape_hidden_states": False,
    }
    return DepthAnythingConfig(
        backbone_config=Dinov2Config(**backbone_options),
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="relative",
    )


def save_tiny_model(directory: Path) -> None:
    torch.manual_seed(0)
    DepthAnythingForDepthEstimation(tiny_config()).save_pretrained(directory)
    save_processor(directory)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(call: Callable[[], object], images: int, device: torch.device, seconds: float) -> float:
    """Images per second of ``call`` (``images`` per call), after a warm-up, for about ``seconds``."""
    for _ in range(2):
        call()
    synchronize(device)
    calls = 0
    started = time.perf_counter()
    while calls < 3 or time.perf_counter() - started < seconds:
        call()
        calls += 1
    synchronize(device)
    return calls * images / (time.perf_counter() - started)


def bf16_matmul_tflops(device: torch.device, size: int) -> float:
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    rate = throughput(lambda: torch.mm(a, b), 1, device, 0.5)
    return 2 * size**3 * rate / 1e12


def flops_per_image(engine: DepthEngine, pixel_values: torch.Tensor) -> float:
    # The math attention kernel: the counter has no formula for the fused ones (same arithmetic).
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        engine.forward(pixel_values[:1])
    return float(counter.get_total_flops())


def forward_of(engine: DepthEngine, pixel_values: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: engine.forward(pixel_values)


def model_inputs(engine: DepthEngine, jpeg: bytes, input_size: int, batch: int) -> torch.Tensor:
    single = engine.model_input(engine.prepare(jpeg, input_size))
    return single.expand(batch, -1, -1, -1).contiguous()


def parity(run: Run, engines: dict[str, DepthEngine], model_dir: Path, jpegs: list[bytes], size: int) -> None:
    """Each precision's depth (the whole engine path, at the photo's size) against the float32
    transformers reference (processor, model, post_process_depth_estimation), and against our own
    float32 engine (the same preprocessing: the numerics alone). TF32 is off for both references."""
    plan = run.plan
    processor = _pil_processor(model_dir, size)
    reference_model = AutoModelForDepthEstimation.from_pretrained(model_dir).to(plan.device).eval()
    # cuDNN allows TF32 in float32 convolutions by default: 10 mantissa bits, no reference.
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        transformers_depth = []
        for jpeg in jpegs:
            inputs = processor(images=Image.open(io.BytesIO(jpeg)), return_tensors="pt").to(plan.device)
            with torch.inference_mode():
                outputs = reference_model(**inputs)
            depth = processor.post_process_depth_estimation(outputs, target_sizes=[plan.photo[::-1]])
            transformers_depth.append(depth[0]["predicted_depth"])
        float32 = engines[plan.reference_dtype]
        float32_depth = [_depth(float32.predict(jpeg, size, plan.photo)) for jpeg in jpegs]
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    for name, engine in engines.items():
        answers = [engine.predict(jpeg, size, plan.photo) for jpeg in jpegs]
        against_transformers = max(
            parity_error(answer, reference)
            for answer, reference in zip(answers, transformers_depth, strict=True)
        )
        against_float32 = max(
            _error(_depth(answer), reference)
            for answer, reference in zip(answers, float32_depth, strict=True)
        )
        verdict = "within" if against_transformers <= PARITY_TOLERANCE else "OVER"
        run.say(
            f"parity at {size}: {name} engine vs float32 transformers ({type(processor).__name__}) = "
            f"{against_transformers:.1e} of the depth range ({verdict} 1e-2), vs our float32 engine "
            f"{against_float32:.1e}, over {len(jpegs)} image(s)"
        )


def _pil_processor(model_dir: Path, size: int) -> Any:
    """The Pillow-based DPT processor where this transformers has one by that name (with torchvision
    installed, AutoImageProcessor may choose a torchvision one, which resizes differently)."""
    options: dict[str, Any] = {"size": {"height": size, "width": size}}
    try:
        from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil
    except ImportError:
        return AutoImageProcessor.from_pretrained(model_dir, **options)  # type: ignore[no-untyped-call]
    return DPTImageProcessorPil.from_pretrained(model_dir, **options)


def _depth(output: DepthOutput) -> np.ndarray:
    with Image.open(io.BytesIO(output.png)) as image:
        values = np.asarray(image).astype(np.float64)
    return output.depth_min + values / 65535 * (output.depth_max - output.depth_min)


def _error(depth: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(depth - reference).max() / np.ptp(reference))


def model_rows(
    run: Run,
    section: str,
    engines: dict[str, DepthEngine],
    jpeg: bytes,
    size: int,
    batches: Sequence[int],
    mode: str,
) -> None:
    plan = run.plan
    for name, engine in engines.items():
        for batch in batches:
            if run.left_s() < 2 * plan.seconds:
                run.say(f"{section}: {size} batch {batch} {name} {mode}: skipped, out of time")
                continue
            rate = throughput(
                forward_of(engine, model_inputs(engine, jpeg, size, batch)), batch, plan.device, plan.seconds
            )
            run.add(Row(section, size, batch, name, mode, rate, run.flops[size] * rate / 1e12))


def compiled_rows(
    run: Run,
    section: str,
    engines: dict[str, DepthEngine],
    jpeg: bytes,
    size: int,
    batches: Sequence[int],
    mode: str | None,
    estimate_s: float,
) -> float:
    """Compiles each engine's model (batches over 1 marked dynamic: one compile serves them all, where
    CUDA graphs still record one graph per shape) and times it; returns the longest compile seen, or
    ``estimate_s`` when none ran."""
    plan = run.plan
    longest = 0.0
    label = f"compiled{'' if mode is None else ' ' + mode}"
    for name, engine in engines.items():
        if run.left_s() < estimate_s + len(batches) * 2 * plan.seconds:
            run.say(
                f"{section}: {size} {name} {label}: skipped, no time (a compile takes ~{estimate_s:.0f} s)"
            )
            continue
        eager = engine.model
        options: dict[str, Any] = {"backend": plan.compile_backend}
        if mode is not None:
            options["mode"] = mode
        engine.model = cast(torch.nn.Module, torch.compile(eager, **options))
        try:
            for batch in batches:
                pixel_values = model_inputs(engine, jpeg, size, batch)
                if batch > 1:  # dynamo specialises a batch of 1 anyway; the others share one graph
                    torch._dynamo.mark_dynamic(pixel_values, 0)
                started = time.perf_counter()
                engine.forward(pixel_values)
                synchronize(plan.device)
                first = time.perf_counter() - started
                longest = max(longest, first)
                rate = throughput(forward_of(engine, pixel_values), batch, plan.device, plan.seconds)
                row = Row(section, size, batch, name, label, rate, run.flops[size] * rate / 1e12)
                row.note = f"first call, compiling included: {first:.1f} s"
                run.add(row)
        except Exception as error:  # a compiler failure is a finding, not the end of the run
            run.say(f"{section}: {size} {name} {label}: failed: {type(error).__name__}: {error}"[:600])
        finally:
            engine.model = eager
    return longest or estimate_s


def cpu_side(run: Run, engine: DepthEngine, jpeg: bytes, size: int) -> None:
    """Per image, on one CPU core: decode, and encode at the working resolution (the API's default)."""
    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        decode_rgb(jpeg)
    decode_ms = (time.perf_counter() - started) / rounds * 1000
    [depth] = engine.infer([engine.prepare(jpeg, size)])
    started = time.perf_counter()
    for _ in range(rounds):
        engine.encode(depth)
    encode_ms = (time.perf_counter() - started) / rounds * 1000
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / (decode_ms + encode_ms)
    run.say(
        f"CPU side at {size}: decode {decode_ms:.1f} ms, PNG encode {encode_ms:.1f} ms per image on one "
        f"core; {cores} cores bound the server near {ceiling:.0f} images/s if nothing else ran on them"
    )


def end_to_end(run: Run, engine: DepthEngine, jpegs: list[bytes], size: int) -> None:
    plan = run.plan
    params = InvocationParams(size)

    async def serve(callers: int) -> float:
        service = DepthService(engine, window_s=0.005)
        service.start()
        slots = asyncio.Semaphore(callers)

        async def call(jpeg: bytes) -> None:
            async with slots:
                await service.predict(jpeg, params)

        try:
            await asyncio.gather(*(call(jpeg) for jpeg in jpegs[: max(callers, 4)]))  # warm-up
            started = time.perf_counter()
            work = [jpegs[i % len(jpegs)] for i in range(max(plan.requests, 2 * callers))]
            await asyncio.gather(*(call(jpeg) for jpeg in work))
            elapsed = time.perf_counter() - started
            histogram = service.batcher.stats.snapshot()["batch_size_histogram"]
        finally:
            await service.stop()
        run.say(f"  batches at {callers} callers: {histogram}")
        return len(work) / elapsed

    for callers in plan.callers:
        if run.left_s() < 4 * plan.seconds:
            run.say(f"server end to end: {callers} callers: skipped, out of time")
            continue
        rate = asyncio.run(serve(callers))
        row = Row("server end to end", size, callers, engine.precision.name, "eager, DepthService", rate, 0.0)
        row.tflops = run.flops[size] * rate / 1e12
        row.note = (
            f"{callers} concurrent callers, {plan.photo[0]}x{plan.photo[1]} JPEGs, answers at working size"
        )
        run.add(row)


def report(run: Run) -> None:
    print()
    print("| section | input | batch or callers | dtype | mode | images/s | TFLOP/s | of peak | note |")
    print("|---|---:|---:|---|---|---:|---:|---:|---|")
    peak = run.plan.peak_tflops
    for row in run.rows:
        share = f"{row.tflops / peak:.1%}" if peak else ""
        print(
            f"| {row.section} | {row.input_size} | {row.batch} | {row.dtype} | {row.mode} | "
            f"{row.images_per_s:.1f} | {row.tflops:.1f} | {share} | {row.note} |"
        )
    print()
    for size, flops in run.flops.items():
        print(f"FLOPs per image at {size}: {flops / 1e9:.1f} GFLOP")
    run.say("done")


def make_plan(args: argparse.Namespace) -> Plan:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.quick:
        # Tiny sizes on whatever device is there; float16 is no CPU choice, so bf16 against float32.
        return Plan(
            device=device,
            dtypes=("float16", "bfloat16") if device.type == "cuda" else ("bfloat16",),
            reference_dtype="float32",
            size=70,
            large_size=140,
            batches=(1, 2),
            large_batches=(2,),
            callers=(1, 4),
            requests=8,
            photo=(320, 240),
            seconds=0.05,
            compile_backend="eager" if device.type == "cpu" else "inductor",
            cuda_graphs=False,
            compile_large=False,
            compile_estimate_s=5,
            budget_s=args.budget_s or 60,
            peak_tflops=args.peak_tflops,
            tiny=True,
        )
    if device.type != "cuda":
        raise SystemExit("this benchmark is for a GPU; on a CPU run it with --quick, or bench/inference.py")
    name = torch.cuda.get_device_name(device)
    peak = args.peak_tflops or (H200_DENSE_BF16_TFLOPS if "H200" in name or "H100" in name else None)
    return Plan(
        device=device,
        dtypes=("float16", "bfloat16"),
        reference_dtype="float32",
        size=518,
        large_size=1036,
        batches=(1, 8, 32),
        large_batches=(1, 8),
        callers=(1, 8, 32, 64),
        requests=256,
        photo=(1440, 1080),
        seconds=args.seconds,
        compile_backend="inductor",
        cuda_graphs=True,
        compile_large=True,
        compile_estimate_s=60,
        budget_s=args.budget_s or 320,
        peak_tflops=peak,
        tiny=False,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny model and sizes: seconds, on a CPU too")
    parser.add_argument("--device", help="default: cuda when there is one")
    parser.add_argument("--budget-s", type=float, help="time for everything (default 320 s; quick 60 s)")
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per row")
    parser.add_argument(
        "--peak-tflops", type=float, help="the GPU's dense bf16 peak (default: H100/H200's 989)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    plan = make_plan(parse_args(argv))
    # Every (engine, mode, shape) compiled here is one cache entry of the same forward: past dynamo's
    # default limit of 8 it would quietly run eager instead.
    for limit in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, limit):
            setattr(torch._dynamo.config, limit, 64)
    run = Run(plan)
    device = plan.device
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    run.say(
        f"{where}; torch {torch.__version__}, Python {sys.version.split()[0]}; "
        f"{'tiny model, quick mode' if plan.tiny else 'Depth-Anything-V2-Small architecture, random weights'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        (save_tiny_model if plan.tiny else save_model)(model_dir)
        jpegs = photo_jpegs(4, plan.photo)

        def load(dtype: str, tuning: Tuning | None = None) -> DepthEngine:
            return DepthEngine.load(str(model_dir), device=str(device), dtype=dtype, tuning=tuning)

        engines = {name: load(name) for name in plan.dtypes}
        if device.type == "cuda":
            run.matmul_tflops = bf16_matmul_tflops(device, 8192)
            run.say(f"bf16 matmul 8192^3 measured here: {run.matmul_tflops:.0f} TFLOP/s")
        if plan.peak_tflops:
            run.say(
                f"peak used for shares: {plan.peak_tflops:.0f} TFLOP/s dense bf16 (NVIDIA H200 datasheet)"
            )
        first = next(iter(engines.values()))
        for size in (plan.size, plan.large_size):
            run.flops[size] = flops_per_image(first, model_inputs(first, jpegs[0], size, 1))
            run.say(f"FLOPs per image at {size}: {run.flops[size] / 1e9:.1f} GFLOP")

        # Cheap and required first, so that a run cut short still answers them; compiling last.
        with_float32 = {plan.reference_dtype: load(plan.reference_dtype), **engines}
        parity(run, with_float32, model_dir, jpegs[:2], plan.size)
        parity(run, with_float32, model_dir, jpegs[:1], plan.large_size)
        del with_float32
        model_rows(run, "model", engines, jpegs[0], plan.size, plan.batches, "eager")
        default = next(iter(engines))
        channels_last = {f"{default} NHWC": load(default, Tuning(channels_last=True))}
        model_rows(run, "model", channels_last, jpegs[0], plan.size, plan.batches[-1:], "eager")
        model_rows(run, "model", engines, jpegs[0], plan.large_size, plan.large_batches, "eager")
        cpu_side(run, engines[default], jpegs[0], plan.size)
        end_to_end(run, engines[default], jpegs, plan.size)
        # Batches 8 and 32 share one compile (the batch dimension dynamic), a batch of 1 needs its own:
        # both precisions' larger batches first, then the batch of 1, CUDA graphs and 1036 as time allows.
        compile_s = plan.compile_estimate_s
        for batches in (plan.batches[1:], plan.batches[:1]):
            compile_s = compiled_rows(run, "model", engines, jpegs[0], plan.size, batches, None, compile_s)
        if plan.cuda_graphs:
            graphs = {default: engines[default]}
            compiled_rows(
                run, "model", graphs, jpegs[0], plan.size, plan.batches[:2], "reduce-overhead", compile_s
            )
        if plan.compile_large:
            compiled_rows(
                run, "model", engines, jpegs[0], plan.large_size, plan.large_batches, None, compile_s
            )
    report(run)


if __name__ == "__main__":
    main()
