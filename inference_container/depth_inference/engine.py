"""The depth model behind one lock: image bytes in, a 16-bit depth PNG out, several images per forward.

``predict`` is the whole path for one image. The server splits it so that decoding and PNG encoding run
in parallel request threads while ``infer`` runs one batch at a time on the device.

Numerics (precision.py chooses the dtype): float32; float16 (CUDA), the whole model in float16; or
bfloat16, where the ViT backbone's matrix products and attention run in bf16 under autocast (their
weights cast once, at load) while its residual stream, norms and layer scales, the patch embedding and
the whole DPT neck and head stay float32. bf16 everywhere puts the depth 1.3e-2 of its range from the
float32 transformers reference, over the 1e-2 this container holds to; mixed so, 4e-3 (Small at 518,
bench/inference.py), four fifths of the FLOPs in bf16: 1.8-1.9x the float32 path on a Xeon with AMX.

Compiling (compiling.py chooses, ``DEPTH_COMPILE``): where it pays, each working size is compiled with
``torch.compile`` in the background while its requests run eagerly, then runs compiled (1.25x the eager
forward in bf16 on that Xeon). Neither start nor any request waits for a compile.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional
from transformers import PreTrainedModel

from depth_inference.codec import decode_rgb, encode_png16
from depth_inference.compiling import (
    DEFAULT_BACKEND,
    Backend,
    BackgroundCompiler,
    CompilePlan,
    choose_compile,
)
from depth_inference.compiling import compile_mode as check_compile_mode
from depth_inference.loading import ModelMetadata, describe, load_pretrained
from depth_inference.model_source import resolve_model_source
from depth_inference.precision import Precision, choose_precision
from depth_inference.sizing import DEFAULT_INPUT_SIZE, check_output_size, effective_input_size, working_size

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UINT16_MAX = 65535

# Kept in float32 when the model computes in bf16: the patch embedding (the input image itself would be
# rounded to 8 bits) and the DPT neck and head (convolutions of 32 to 64 channels that average little
# rounding away, up to the full resolution). Paths into the model; a list index may count from the end.
BF16_FLOAT32_PARTS = ("backbone.embeddings", "neck", "head")

Resize = Literal["pillow", "float"]


@dataclass(frozen=True)
class Tuning:
    """How the engine runs the model beyond its dtype. The defaults are what bench/inference.py measured
    fastest while keeping parity (its --variants rows time the others, side by side)."""

    # The neck's and head's convolutions in NHWC, oneDNN's fast layout: the whole CPU path 1.12x.
    channels_last: bool = True
    # Modules kept in float32 when computing in bf16 (see BF16_FLOAT32_PARTS).
    float32_parts: tuple[str, ...] = BF16_FLOAT32_PARTS
    # "pillow": resize as Pillow's BICUBIC does, uint8 to uint8 (see _resize). "float": one float pass.
    resize: Resize = "pillow"

    @classmethod
    def for_device(cls, device: torch.device) -> Tuning:
        # NHWC measured on a CPU only; on CUDA the layout stays what it was until a GPU run says otherwise.
        return cls(channels_last=device.type != "cuda")


@dataclass(frozen=True)
class DepthOutput:
    png: bytes  # 16-bit grayscale, 0..65535 over depth_min..depth_max, near is bright
    width: int
    height: int
    depth_min: float
    depth_max: float
    model_name: str
    model_version: str
    input_size: int


@dataclass(frozen=True)
class PreparedImage:
    """A decoded, validated request: what ``infer`` needs and nothing it has to check again."""

    pixels: npt.NDArray[np.uint8]  # H x W x 3, upright RGB
    input_size: int
    working_size: tuple[int, int]  # (width, height) of the model input; images batch together by it
    output_size: tuple[int, int]  # (width, height) of the answer


@dataclass(frozen=True)
class DepthMap:
    values: npt.NDArray[np.uint16]  # H x W, 0..65535 over depth_min..depth_max
    depth_min: float
    depth_max: float
    input_size: int


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class DepthEngine:
    def __init__(
        self,
        model: PreTrainedModel,
        metadata: ModelMetadata,
        device: torch.device,
        precision: Precision,
        tuning: Tuning | None = None,
        compilation: CompilePlan | None = None,
    ) -> None:
        self._tuning = tuning or Tuning.for_device(device)
        self._model = _prepared_model(model, device, precision.dtype, self._tuning)
        self._device = device
        self._precision = precision
        self._dtype = precision.dtype
        # float16 runs the whole model in it; bfloat16 runs under autocast, which casts at each product.
        self._input_dtype = torch.float16 if precision.dtype == torch.float16 else torch.float32
        self._metadata = metadata
        # Normalising 0..255 pixels in one pass: (x/255 - m)/s = x * 1/(255s) + (-m/s), one addcmul.
        mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        self._scale = 1 / (255 * std)
        self._shift = -mean / std
        self._lock = threading.Lock()
        self._compilation = compilation or CompilePlan(False, "off: not asked for")
        self._compiler = (
            BackgroundCompiler(self._model, self._compilation, self._model_context)
            if self._compilation.enabled
            else None
        )

    @classmethod
    def load(
        cls,
        model_source: str | None = None,
        device: str | None = None,
        *,
        dtype: str | None = None,
        tuning: Tuning | None = None,
        warm_up: bool = True,
        compile_mode: str | None = None,
        compile_backend: Backend = DEFAULT_BACKEND,
    ) -> DepthEngine:
        """The engine for ``model_source`` (resolved as described in loading.resolve_model_source) on
        ``device`` (CUDA when available) in ``dtype`` (else ``DEPTH_DTYPE``, else the device's best: see
        precision.py), warmed up so that the first request is not the slow one. ``compile_mode`` (else
        ``DEPTH_COMPILE``, else auto: see compiling.py) says whether working sizes are compiled in the
        background, with ``compile_backend`` (inductor; the tests pass a quicker one)."""
        started = time.perf_counter()
        target = torch.device(device or default_device())
        precision = choose_precision(target, dtype)  # a bad DEPTH_DTYPE fails before the model loads
        check_compile_mode(compile_mode)  # and so does a bad DEPTH_COMPILE
        logger.info("depth engine on %s in %s: %s", target, precision.name, precision.reason)
        model = load_pretrained(resolve_model_source(model_source))
        parameters = sum(parameter.numel() for parameter in model.parameters())
        compilation = choose_compile(
            target, precision.dtype, parameters, compile_mode, backend=compile_backend
        )
        logger.info(
            "depth engine torch.compile %s (%s): %s",
            compilation.state,
            compilation.backend_name,
            compilation.reason,
        )
        engine = cls(model, describe(model.config), target, precision, tuning, compilation)
        if warm_up:
            engine.warm_up()
        logger.info(
            "depth engine %s/%s ready on %s in %s in %.1fs, compile %s",
            engine.model_name,
            engine.model_version,
            target,
            precision.name,
            time.perf_counter() - started,
            compilation.state,
        )
        return engine

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def precision(self) -> Precision:
        return self._precision

    @property
    def tuning(self) -> Tuning:
        return self._tuning

    @property
    def compilation(self) -> CompilePlan:
        return self._compilation

    def compile_status(self) -> dict[str, Any]:
        """What /ping says about compiling: on or off and why, and each size queued, compiling,
        compiled (with its seconds) or failed (with its error)."""
        status: dict[str, Any] = {"state": self._compilation.state, "reason": self._compilation.reason}
        if self._compiler is not None:
            status["backend"] = self._compilation.backend_name
            status["sizes"] = self._compiler.status()
        return status

    def wait_for_compiles(self, timeout_s: float | None = None) -> bool:
        """Waits until no working size is queued or compiling (benchmarks and tests: serving never
        waits); False if ``timeout_s`` passed first."""
        return self._compiler is None or self._compiler.wait(timeout_s)

    def compile_seconds(self, working_size: tuple[int, int], batch: int = 1) -> float | None:
        """How long the background compile of ``working_size`` (width, height) took, once it ran."""
        if self._compiler is None:
            return None
        width, height = working_size
        return self._compiler.seconds((batch, 3, height, width))

    @property
    def model(self) -> torch.nn.Module:
        """The prepared model, eager, as ``infer`` calls it where no compiled code serves (benchmarks
        compile or count it)."""
        return self._model

    @model.setter
    def model(self, module: torch.nn.Module) -> None:
        # The caller's model from now on, as given: the compiled code of the former one no longer applies.
        self._model = module
        if self._compiler is not None:
            self._compiler = None
            self._compilation = CompilePlan(False, "off: the model was replaced (engine.model = ...)")

    @property
    def model_name(self) -> str:
        return self._metadata.name

    @property
    def model_version(self) -> str:
        return self._metadata.version

    def predict(
        self,
        image_bytes: bytes,
        input_size: int = DEFAULT_INPUT_SIZE,
        output_size: tuple[int, int] | None = None,
    ) -> DepthOutput:
        """Relative inverse depth of one image; ``output_size`` is (width, height), default the working size.
        Raises InvalidInput for anything wrong with the image or the sizes. Safe to call from many threads."""
        [depth] = self.infer([self.prepare(image_bytes, input_size, output_size)])
        return self.encode(depth)

    def prepare(
        self,
        image_bytes: bytes,
        input_size: int = DEFAULT_INPUT_SIZE,
        output_size: tuple[int, int] | None = None,
    ) -> PreparedImage:
        size = effective_input_size(input_size)
        wanted = check_output_size(output_size) if output_size is not None else None
        pixels = decode_rgb(image_bytes)
        height, width = pixels.shape[:2]
        work = working_size(width, height, size)
        return PreparedImage(pixels, size, work, wanted or work)

    def infer(self, batch: Sequence[PreparedImage]) -> list[DepthMap]:
        """One forward pass over images that share a working size."""
        if not batch:
            return []
        if len({item.working_size for item in batch}) > 1:
            raise ValueError("a batch must share one working size; group by PreparedImage.working_size")
        with self._lock, torch.inference_mode():
            pixel_values = torch.cat([self.model_input(item) for item in batch])
            predicted = self.forward(pixel_values)
            return [self._depth_map(depth, item) for depth, item in zip(predicted, batch, strict=True)]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The model alone on normalised inputs (N x 3 x H x W, from ``model_input``), in the engine's
        precision: N x H x W relative depth. What ``infer`` runs between its pre- and post-processing,
        without its lock (benchmarks time it from one thread)."""
        with self._model_context():
            if self._compiler is not None:
                return self._compiler.forward(pixel_values)
            predicted: torch.Tensor = self._model(pixel_values=pixel_values).predicted_depth
        return predicted

    def _model_context(self) -> contextlib.AbstractContextManager[Any]:
        """What the model runs under: inference mode and the precision's autocast (the background
        compiles too, so that their guards match the requests')."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        stack.enter_context(self._autocast())
        return stack

    def model_input(self, item: PreparedImage) -> torch.Tensor:
        """One prepared image resized and normalised on the device: 1 x 3 x H x W at its working size."""
        # Resizing and normalising as tensors on the device: uint8 crosses the bus, not float32.
        image = torch.from_numpy(item.pixels).to(self._device).permute(2, 0, 1).unsqueeze(0)
        width, height = item.working_size
        resized = _resize(image, height, width, self._tuning.resize)
        return torch.addcmul(self._shift, resized, self._scale).to(self._input_dtype)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self._dtype == torch.bfloat16:
            return torch.autocast(self._device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def encode(self, depth: DepthMap) -> DepthOutput:
        height, width = depth.values.shape
        provenance = {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "input_size": str(depth.input_size),
            "depth_min": repr(depth.depth_min),
            "depth_max": repr(depth.depth_max),
        }
        return DepthOutput(
            png=encode_png16(depth.values, text=provenance),
            width=width,
            height=height,
            depth_min=depth.depth_min,
            depth_max=depth.depth_max,
            model_name=self.model_name,
            model_version=self.model_version,
            input_size=depth.input_size,
        )

    def warm_up(self) -> None:
        """One pass at the default size: kernels, allocator pools and lazy initialisation are paid here.
        Where the engine compiles, that size (518 on a 4:3 landscape photo, the commonest request) is
        queued for compiling at once, in the background: the engine is ready without waiting for it."""
        gradient = np.linspace(0, 255, 640, dtype=np.float32)
        pixels = np.broadcast_to(gradient[None, :, None], (480, 640, 3)).astype(np.uint8)
        work = working_size(640, 480, DEFAULT_INPUT_SIZE)
        prepared = PreparedImage(pixels, DEFAULT_INPUT_SIZE, work, work)
        self.infer([prepared])
        if self._compiler is not None:
            with torch.inference_mode():  # the input exactly as infer makes it, strides included
                self._compiler.compile_soon(torch.cat([self.model_input(prepared)]))

    def _depth_map(self, depth: torch.Tensor, item: PreparedImage) -> DepthMap:
        depth = depth.float()
        width, height = item.output_size
        if depth.shape != (height, width):
            # As post_process_depth_estimation resizes (bicubic, no antialiasing).
            resized = functional.interpolate(
                depth[None, None], size=(height, width), mode="bicubic", align_corners=False
            )
            depth = resized[0, 0]
        low, high = torch.aminmax(depth)
        span = high - low
        # A flat map has no range to spread; it becomes all zeros instead of a division by zero.
        scale = torch.where(span > 0, UINT16_MAX / span, torch.zeros_like(span))
        # In place after the one subtraction: four passes over the map became two (14 to 1 ms, 1440x1080).
        levels = torch.sub(depth, low).mul_(scale).round_()
        if levels.device.type == "cpu":
            quantised = levels.to(torch.uint16).numpy()
        else:  # uint16 has few CUDA kernels; int32 crosses the bus and NumPy narrows it
            quantised = levels.to(torch.int32).cpu().numpy().astype(np.uint16)
        depth_min, depth_max = float(low), float(high)
        if not (math.isfinite(depth_min) and math.isfinite(depth_max)):
            raise RuntimeError(
                f"the model produced non-finite depth in {self._precision.name}; try DEPTH_DTYPE=float32"
            )
        return DepthMap(quantised, depth_min, depth_max, item.input_size)


def _resize(image: torch.Tensor, height: int, width: int, how: Resize) -> torch.Tensor:
    """A 1x3xHxW uint8 image as a float32 tensor at (height, width), 0..255.

    Antialiased bicubic is Pillow's BICUBIC (a=-0.5), which DPTImageProcessor resizes with. Pillow
    resizes uint8 to uint8 in two passes, horizontal then vertical, rounding and saturating after each.
    "pillow" does the same: torch's uint8 kernel on a CPU (written to match Pillow, and 10x faster than a
    float pass), two rounded float passes elsewhere; either is within a level of Pillow, and 0.3% of the
    pixels differ at all. "float", one unrounded float pass, is off by up to 1.2 levels on many pixels,
    which put the depth 3e-3 of its range from the reference's (bench/inference.py, Small at 518).
    """
    if image.shape[-2:] == (height, width):
        return image.float()
    if how == "float":
        return functional.interpolate(
            image.float(), size=(height, width), mode="bicubic", align_corners=False, antialias=True
        ).clamp_(0, 255)
    if image.device.type == "cpu":
        return _resize_uint8(image, height, width).float()
    return _resize_two_passes(image.float(), height, width)


def _resize_uint8(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return functional.interpolate(
        image, size=(height, width), mode="bicubic", align_corners=False, antialias=True
    )


def _resize_two_passes(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pillow's horizontal, then vertical pass on float pixels, rounded to whole levels after each."""
    for size in ((pixels.shape[-2], width), (height, width)):
        if pixels.shape[-2:] != size:
            pixels = functional.interpolate(
                pixels, size=size, mode="bicubic", align_corners=False, antialias=True
            )
            pixels = pixels.clamp_(0, 255).round_()
    return pixels


class _Float32(torch.nn.Module):
    """A submodule run in float32 whatever autocast says, its floating inputs cast to float32 first."""

    def __init__(self, inner: torch.nn.Module, device_type: str) -> None:
        super().__init__()
        self.inner = inner
        self._device_type = device_type

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(self._device_type, enabled=False):
            return self.inner(*_float32(list(args)), **{key: _float32(v) for key, v in kwargs.items()})


def _float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, list | tuple):
        return type(value)(_float32(item) for item in value)
    return value


_MATRIX_LAYERS = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)


def _prepared_model(
    model: PreTrainedModel, device: torch.device, dtype: torch.dtype, tuning: Tuning
) -> torch.nn.Module:
    # As a plain Module: PreTrainedModel.to's decorator hides its signature from the type checker.
    module: torch.nn.Module = model
    module = module.to(device=device, dtype=torch.float16 if dtype == torch.float16 else torch.float32)
    if tuning.channels_last:
        for name in ("neck", "head"):
            part = getattr(module, name, None)
            if isinstance(part, torch.nn.Module):
                _to_channels_last(part)
    if dtype == torch.bfloat16:
        kept = [_wrap_float32(module, path, device.type) for path in tuning.float32_parts]
        in_float32 = {id(parameter) for part in kept for parameter in part.parameters()}
        for layer in module.modules():
            # Cast once here what autocast would cast at every call; the float32 parts keep theirs.
            if isinstance(layer, _MATRIX_LAYERS) and id(layer.weight) not in in_float32:
                layer.to(torch.bfloat16)
    return module.eval().requires_grad_(False)


def _to_channels_last(module: torch.nn.Module) -> None:
    # What Module.to(memory_format=...) does, which its type stubs do not know.
    for parameter in module.parameters():
        if parameter.dim() == 4:
            parameter.data = parameter.data.contiguous(memory_format=torch.channels_last)


def _wrap_float32(model: torch.nn.Module, path: str, device_type: str) -> torch.nn.Module:
    """Replaces the submodule at ``path`` (dotted; ModuleList indices may be negative) by a _Float32."""
    *parents, last = path.split(".")
    owner = model
    for part in parents:
        owner = _child(owner, part)
    target = _child(owner, last)
    wrapped = _Float32(target, device_type)
    if isinstance(owner, torch.nn.ModuleList):
        owner[int(last)] = wrapped
    else:
        setattr(owner, last, wrapped)
    return target


def _child(module: torch.nn.Module, name: str) -> torch.nn.Module:
    if isinstance(module, torch.nn.ModuleList):
        child: torch.nn.Module = module[int(name)]
        return child
    return module.get_submodule(name)
