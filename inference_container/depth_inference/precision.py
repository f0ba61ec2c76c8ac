"""Which numerics the model runs in: chosen from what the device offers, overridden by ``DEPTH_DTYPE``.

On a CPU, bfloat16 where the processor multiplies bf16 matrices natively (Intel AMX-BF16 or AVX-512
BF16, and oneDNN can use them), float32 elsewhere: emulated bf16 is slower than float32. On CUDA,
float16 (tensor cores; its 11-bit mantissa keeps far more of the depth for the 16-bit PNG than bf16's 8).

bfloat16 is not the whole model in bf16: see engine.py (the matrix products of the backbone and most
of the neck in bf16 under autocast, the residual stream, the norms, the last fusion layer and the head
in float32), which is what keeps it within 1e-2 of the depth range of the float32 reference.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

ENV_VAR = "DEPTH_DTYPE"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# float16 is no choice on a CPU: no CPU multiplies it faster than float32 here (AVX512-FP16 measured
# at float32's rate), and its narrower range is a risk for nothing.
CHOICES = {"cpu": ("bfloat16", "float32"), "cuda": ("float16", "bfloat16", "float32")}
AUTO = "auto"

# The instructions that make bf16 matrix products faster than float32 ones, by torch.cpu's names.
_BF16_MATRIX_UNITS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


@dataclass(frozen=True)
class Precision:
    """The dtype the model computes in on a device, and why it was chosen."""

    device_type: str
    dtype: torch.dtype
    reason: str

    @property
    def name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def describe(self) -> dict[str, str]:
        """What /ping and the start-up log say about it."""
        return {"device": self.device_type, "dtype": self.name, "reason": self.reason}


def choose_precision(
    device: torch.device, requested: str | None = None, environ: Mapping[str, str] = os.environ
) -> Precision:
    """``requested`` (else ``DEPTH_DTYPE``) when given and not ``auto``, else the device's best choice.
    Raises ValueError naming the choices for a value this device does not take."""
    kind = "cuda" if device.type == "cuda" else "cpu"
    choices = CHOICES[kind]
    name = (requested or environ.get(ENV_VAR) or AUTO).strip().lower()
    if name != AUTO:
        if name not in choices:
            raise ValueError(
                f"{ENV_VAR} must be one of {AUTO}, {', '.join(choices)} on {kind}, not {name!r}"
                + (" (float16 runs no faster than float32 on a CPU)" if name == "float16" else "")
            )
        reason = f"asked for {name}" if requested else f"{ENV_VAR}={name}"
        if kind == "cpu" and name == "bfloat16" and not all(cpu_bf16_support()):
            reason += " (emulated: this CPU has no bf16 matrix units, slower than float32)"
        return Precision(kind, DTYPES[name], reason)
    if kind == "cuda":
        return Precision(
            kind,
            torch.float16,
            "CUDA default: float16 tensor cores, and its 11-bit mantissa keeps the depth for a 16-bit PNG",
        )
    units, supported = cpu_bf16_support()
    if units and supported:
        return Precision(
            kind,
            torch.bfloat16,
            f"this CPU multiplies bf16 matrices natively ({', '.join(units)}) and oneDNN uses them",
        )
    if units:
        return Precision(kind, torch.float32, f"this CPU has {', '.join(units)} but oneDNN reports no bf16")
    return Precision(kind, torch.float32, "this CPU has no bf16 matrix instructions (AMX-BF16, AVX512-BF16)")


def cpu_bf16_support() -> tuple[list[str], bool]:
    """This CPU's bf16 matrix instructions (e.g. ["AMX-BF16", "AVX512-BF16"]) and whether oneDNN,
    which runs PyTorch's CPU matrix products and convolutions, reports bf16 support."""
    capabilities = cpu_capabilities()
    units = [label for key, label in _BF16_MATRIX_UNITS.items() if capabilities.get(key)]
    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - a build without oneDNN
        supported = False
    return units, supported


def cpu_capabilities() -> Mapping[str, Any]:
    """torch.cpu.get_capabilities() where this torch has it, else the flags of /proc/cpuinfo."""
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        capabilities: Mapping[str, Any] = get_capabilities()
        return capabilities
    return dict.fromkeys(_proc_cpuinfo_flags(), True)  # pragma: no cover - older torch


def cpu_model_name() -> str:
    """The processor's model name as lscpu prints it (from /proc/cpuinfo), or torch's name for it."""
    for line in _proc_cpuinfo_lines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return str(cpu_capabilities().get("cpu_name", "unknown CPU"))


def _proc_cpuinfo_flags() -> set[str]:
    for line in _proc_cpuinfo_lines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def _proc_cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []
