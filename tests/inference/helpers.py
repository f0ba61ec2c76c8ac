"""Builders and decoders the inference tests share."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
from PIL import Image
from starlette.testclient import TestClient
from transformers import DepthAnythingConfig, Dinov2Config, DPTImageProcessor

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def tiny_config(
    hidden_size: int = 32,
    num_hidden_layers: int = 8,
    out_indices: tuple[int, ...] = (2, 4, 6, 8),
    depth_estimation_type: str = "relative",
) -> DepthAnythingConfig:
    """Depth-Anything-V2's layout (blocks tapped spread over the depth), by default at a width of 32."""
    backbone_options: dict[str, Any] = {
        "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": 2,
        "mlp_ratio": 2,
        "image_size": 518,
        "patch_size": 14,
        "out_indices": list(out_indices),
        "reshape_hidden_states": False,
    }
    backbone = Dinov2Config(**backbone_options)
    return DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=hidden_size,
        neck_hidden_sizes=[8, 16, 32, hidden_size],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type=depth_estimation_type,
    )


def dpt_processor() -> DPTImageProcessor:
    """Configured as Depth-Anything-V2's published preprocessor_config.json."""
    return DPTImageProcessor(
        do_resize=True,
        size={"height": 518, "width": 518},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        resample=Image.Resampling.BICUBIC,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )


def wait_until_ready(client: TestClient, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get("/ping").status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"/ping never turned 200: {client.get('/ping').text}")
        time.sleep(0.01)


def decode_depth(png: bytes, depth_min: float, depth_max: float) -> np.ndarray:
    """The relative depth a response encodes, back in the model's units."""
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.mode.startswith("I;16")
        values = np.asarray(image).astype(np.float64)
    return depth_min + values / 65535 * (depth_max - depth_min)
