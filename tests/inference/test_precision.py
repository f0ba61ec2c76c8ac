"""The engine's numerics: chosen from what the processor offers, overridden by DEPTH_DTYPE, validated,
and applied as engine.py says (bf16 products in the backbone, float32 where parity needs it)."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from depth_inference import precision
from depth_inference.engine import DepthEngine, Tuning, _resize, _resize_two_passes, _resize_uint8
from depth_inference.precision import choose_precision
from tests.support.images import jpeg_bytes

CPU = torch.device("cpu")
CUDA = torch.device("cuda")  # a device object only: nothing here needs a GPU


def fake_cpu(monkeypatch: pytest.MonkeyPatch, capabilities: Mapping[str, Any], onednn_bf16: bool) -> None:
    monkeypatch.setattr(precision, "cpu_capabilities", lambda: capabilities)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16, raising=False)


@pytest.mark.parametrize(
    ("capabilities", "expected_units"),
    [
        ({"amx_bf16": True, "avx512_bf16": True}, "AMX-BF16, AVX512-BF16"),
        ({"amx_bf16": False, "avx512_bf16": True}, "AVX512-BF16"),
    ],
)
def test_a_cpu_with_bf16_matrix_units_computes_in_bfloat16(
    monkeypatch: pytest.MonkeyPatch, capabilities: dict[str, bool], expected_units: str
) -> None:
    fake_cpu(monkeypatch, capabilities, onednn_bf16=True)

    chosen = choose_precision(CPU, environ={})

    assert chosen.dtype == torch.bfloat16
    assert expected_units in chosen.reason
    assert chosen.describe() == {"device": "cpu", "dtype": "bfloat16", "reason": chosen.reason}


def test_a_cpu_without_them_computes_in_float32_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # AVX-512 without BF16 (Skylake) or AVX2 (the AMD EPYC of the earlier benchmark): oneDNN may still
    # report bf16, emulated and slower than float32.
    fake_cpu(monkeypatch, {"avx512_f": True, "avx2": True, "amx_bf16": False}, onednn_bf16=True)

    chosen = choose_precision(CPU, environ={})

    assert chosen.dtype == torch.float32
    assert "no bf16 matrix instructions" in chosen.reason


def test_units_that_onednn_does_not_use_are_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cpu(monkeypatch, {"amx_bf16": True}, onednn_bf16=False)

    assert choose_precision(CPU, environ={}).dtype == torch.float32


@pytest.mark.parametrize(
    ("device", "value", "expected"),
    [
        (CPU, "float32", torch.float32),
        (CPU, "bfloat16", torch.bfloat16),
        (CPU, " BFloat16 ", torch.bfloat16),
        (CUDA, "float16", torch.float16),
        (CUDA, "bfloat16", torch.bfloat16),
        (CUDA, "float32", torch.float32),
    ],
)
def test_depth_dtype_overrides_on_cpu_and_gpu_alike(
    monkeypatch: pytest.MonkeyPatch, device: torch.device, value: str, expected: torch.dtype
) -> None:
    fake_cpu(monkeypatch, {"amx_bf16": True}, onednn_bf16=True)

    chosen = choose_precision(device, environ={"DEPTH_DTYPE": value})

    assert chosen.dtype == expected
    assert chosen.reason == f"DEPTH_DTYPE={value.strip().lower()}"


def test_auto_and_an_empty_value_leave_the_choice_to_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cpu(monkeypatch, {}, onednn_bf16=True)

    assert choose_precision(CPU, environ={"DEPTH_DTYPE": "auto"}).dtype == torch.float32
    assert choose_precision(CPU, environ={"DEPTH_DTYPE": ""}).dtype == torch.float32
    cuda_default = choose_precision(CUDA, environ={})
    assert cuda_default.dtype == torch.float16
    assert "float16" in cuda_default.reason


def test_forcing_bfloat16_on_a_cpu_without_bf16_units_says_it_is_emulated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_cpu(monkeypatch, {"avx2": True}, onednn_bf16=True)

    chosen = choose_precision(CPU, environ={"DEPTH_DTYPE": "bfloat16"})

    assert chosen.dtype == torch.bfloat16
    assert chosen.reason == (
        "DEPTH_DTYPE=bfloat16 (emulated: this CPU has no bf16 matrix units, slower than float32)"
    )


def test_an_argument_beats_the_environment() -> None:
    chosen = choose_precision(CPU, "float32", environ={"DEPTH_DTYPE": "bfloat16"})

    assert chosen.dtype == torch.float32
    assert chosen.reason == "asked for float32"


@pytest.mark.parametrize(
    ("device", "value", "choices"),
    [
        (CPU, "fp16", "auto, bfloat16, float32 on cpu"),
        (CPU, "float16", "auto, bfloat16, float32 on cpu"),
        (CUDA, "half", "auto, float16, bfloat16, float32 on cuda"),
    ],
)
def test_a_bad_depth_dtype_is_an_error_naming_the_choices(
    device: torch.device, value: str, choices: str
) -> None:
    with pytest.raises(ValueError, match="DEPTH_DTYPE must be one of") as refused:
        choose_precision(device, environ={"DEPTH_DTYPE": value})

    assert choices in str(refused.value)
    assert repr(value) in str(refused.value)


def test_the_engine_refuses_a_bad_depth_dtype_before_loading_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPTH_DTYPE", "int8")

    with pytest.raises(ValueError, match="bfloat16, float32"):
        DepthEngine.load("/nonexistent/model", device="cpu")


def test_the_engine_logs_its_precision_and_the_reason_at_start(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DEPTH_DTYPE", "bfloat16")

    with caplog.at_level(logging.INFO, logger="depth_inference.engine"):
        engine = DepthEngine.load(str(tiny_model_dir), device="cpu", warm_up=False)

    assert engine.precision.dtype == torch.bfloat16
    assert "on cpu in bfloat16: DEPTH_DTYPE=bfloat16" in caplog.text


def test_bfloat16_runs_the_backbone_products_in_bf16_and_keeps_the_rest_float32(
    tiny_model_dir: Path,
) -> None:
    engine = DepthEngine.load(str(tiny_model_dir), device="cpu", dtype="bfloat16", warm_up=False)
    encoder = engine.model.get_submodule("backbone.encoder")

    parameters = dict(encoder.named_parameters())
    matrices = {name: p.dtype for name, p in parameters.items() if p.dim() == 2}
    assert len(matrices) == 8 * 6  # in each of the 8 layers: query, key, value, output, fc1, fc2
    assert set(matrices.values()) == {torch.bfloat16}
    scales = {p.dtype for name, p in parameters.items() if "norm" in name or "layer_scale" in name}
    assert scales == {torch.float32}  # the norms and layer scales, with the residual stream
    kept = [
        parameter
        for name, parameter in engine.model.named_parameters()
        if name.startswith(("backbone.embeddings", "neck", "head"))
    ]
    assert kept
    assert {parameter.dtype for parameter in kept} == {torch.float32}
    output = engine.predict(jpeg_bytes(320, 240), input_size=140)
    assert output.depth_min < output.depth_max


def test_float32_keeps_every_weight_float32(tiny_model_dir: Path) -> None:
    engine = DepthEngine.load(str(tiny_model_dir), device="cpu", dtype="float32", warm_up=False)

    assert {parameter.dtype for parameter in engine.model.parameters()} == {torch.float32}


def test_channels_last_convolutions_answer_as_nchw_ones(tiny_model_dir: Path) -> None:
    jpeg = jpeg_bytes(400, 300, seed=5)
    answers = [
        DepthEngine.load(
            str(tiny_model_dir), device="cpu", dtype="float32", tuning=Tuning(channels_last=layout)
        ).predict(jpeg, input_size=266)
        for layout in (True, False)
    ]

    channels_last, nchw = (np.asarray(Image.open(io.BytesIO(a.png))) for a in answers)
    assert np.abs(channels_last.astype(int) - nchw.astype(int)).max() <= 2  # float32 summation order


@pytest.mark.parametrize(("width", "height"), [(686, 518), (345, 259), (2000, 1500)])
def test_the_pillow_resizes_agree_with_pillow_within_a_level_and_the_float_one_does_not(
    width: int, height: int
) -> None:
    with Image.open(io.BytesIO(jpeg_bytes(1440, 1080, seed=width))) as photo:
        rgb = photo.convert("RGB")
        expected = np.asarray(rgb.resize((width, height), Image.Resampling.BICUBIC)).astype(np.float32)
        pixels = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).unsqueeze(0)

    def error(resized: torch.Tensor) -> np.ndarray:
        return np.abs(resized[0].permute(1, 2, 0).float().numpy() - expected)

    # The CPU's uint8 kernel, and the two rounded float passes CUDA runs (here on the CPU).
    for pillow_like in (
        _resize_uint8(pixels, height, width),
        _resize_two_passes(pixels.float(), height, width),
    ):
        assert error(pillow_like).max() <= 2
        assert error(pillow_like).mean() < 0.01
    assert torch.equal(_resize(pixels, height, width, "pillow"), _resize_uint8(pixels, height, width).float())
    if width < 1440:  # downscaling: one unrounded float pass, what the engine did before, is further off
        assert error(_resize(pixels, height, width, "float")).mean() > 0.05
