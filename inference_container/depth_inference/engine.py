"""The depth model behind one lock: image bytes in, a 16-bit depth PNG out, several images per forward.

``predict`` is the whole path for one image. The server splits it so that decoding and PNG encoding run
in parallel request threads while ``infer`` runs one batch at a time on the device.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional
from transformers import PreTrainedModel

from depth_inference.codec import decode_rgb, encode_png16
from depth_inference.loading import ModelMetadata, describe, load_pretrained
from depth_inference.model_source import resolve_model_source
from depth_inference.sizing import DEFAULT_INPUT_SIZE, check_output_size, effective_input_size, working_size

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UINT16_MAX = 65535

# fp16 rather than bf16 by default: the depth leaves the model in this precision, and fp16's 11-bit
# mantissa keeps far more of it for the 16-bit PNG than bf16's 8 bits, at the same tensor-core speed.
_CUDA_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


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


def _dtype_for(device: torch.device) -> torch.dtype:
    if device.type != "cuda":
        return torch.float32
    name = os.environ.get("DEPTH_DTYPE", "float16")
    if name not in _CUDA_DTYPES:
        raise ValueError(f"DEPTH_DTYPE must be one of {', '.join(_CUDA_DTYPES)}, not {name!r}")
    return _CUDA_DTYPES[name]


class DepthEngine:
    def __init__(
        self, model: PreTrainedModel, metadata: ModelMetadata, device: torch.device, dtype: torch.dtype
    ) -> None:
        # As a plain Module: PreTrainedModel.to's decorator hides its signature from the type checker.
        module: torch.nn.Module = model
        self._model = module.to(device=device, dtype=dtype).eval().requires_grad_(False)
        self._device = device
        self._dtype = dtype
        self._metadata = metadata
        # Normalising 0..255 pixels directly saves a pass over the image: (x/255 - m)/s = (x - 255m)/(255s).
        self._mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, model_source: str | None = None, device: str | None = None, *, warm_up: bool = True
    ) -> DepthEngine:
        """The engine for ``model_source`` (resolved as described in loading.resolve_model_source) on
        ``device`` (CUDA when available), warmed up so that the first request is not the slow one."""
        started = time.perf_counter()
        model = load_pretrained(resolve_model_source(model_source))
        target = torch.device(device or default_device())
        engine = cls(model, describe(model.config), target, _dtype_for(target))
        if warm_up:
            engine.warm_up()
        logger.info(
            "depth engine %s/%s ready on %s (%s) in %.1fs",
            engine.model_name,
            engine.model_version,
            target,
            engine._dtype,
            time.perf_counter() - started,
        )
        return engine

    @property
    def device(self) -> torch.device:
        return self._device

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
            pixel_values = torch.cat([self._model_input(item) for item in batch])
            predicted = self._model(pixel_values=pixel_values).predicted_depth
            return [self._depth_map(depth, item) for depth, item in zip(predicted, batch, strict=True)]

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
        """One pass at the default size: kernels, allocator pools and lazy initialisation are paid here."""
        gradient = np.linspace(0, 255, 640, dtype=np.float32)
        pixels = np.broadcast_to(gradient[None, :, None], (480, 640, 3)).astype(np.uint8)
        work = working_size(640, 480, DEFAULT_INPUT_SIZE)
        self.infer([PreparedImage(pixels, DEFAULT_INPUT_SIZE, work, work)])

    def _model_input(self, item: PreparedImage) -> torch.Tensor:
        # Resizing and normalising as tensors on the device: uint8 crosses the bus, not float32.
        image = torch.from_numpy(item.pixels).to(self._device).permute(2, 0, 1).unsqueeze(0).float()
        width, height = item.working_size
        if image.shape[-2:] != (height, width):
            # Antialiased bicubic is Pillow's BICUBIC (a=-0.5), which DPTImageProcessor resizes with;
            # the clamp stands in for Pillow's saturation to 0..255.
            image = functional.interpolate(
                image, size=(height, width), mode="bicubic", align_corners=False, antialias=True
            ).clamp_(0, 255)
        return ((image - self._mean) / self._std).to(self._dtype)

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
        quantised = ((depth - low) * scale).round_().to(torch.int32).cpu().numpy().astype(np.uint16)
        depth_min, depth_max = float(low), float(high)
        if not (math.isfinite(depth_min) and math.isfinite(depth_max)):
            raise RuntimeError(
                f"the model produced non-finite depth in {self._dtype}; try DEPTH_DTYPE=float32"
            )
        return DepthMap(quantised, depth_min, depth_max, item.input_size)
