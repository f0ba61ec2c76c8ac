"""bench/gpu.sh, the prepared GPU run, in its quick mode on a CPU: every section runs and says so.
Nothing here checks a timing; the GPU figures come from the run on a GPU (docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import gpu_bench

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_section_runs_in_quick_mode_on_a_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    gpu_bench.main(["--quick", "--device", "cpu"])

    out = capsys.readouterr().out
    for line in (
        "parity at 70: float32 engine vs float32 transformers",
        "parity at 70: bfloat16 engine vs float32 transformers",
        "parity at 140: bfloat16 engine",
        "model: 70 batch 1 bfloat16 eager:",
        "model: 70 batch 2 bfloat16 eager:",
        "model: 70 batch 2 bfloat16 NHWC eager:",
        "model: 140 batch 2 bfloat16 eager:",
        "model: 70 batch 1 bfloat16 compiled:",
        "model: 70 batch 2 bfloat16 compiled:",
        "CPU side at 70: decode",
        "server end to end: 70 batch 4 bfloat16 eager, DepthService:",
        "| section | input | batch or callers | dtype | mode | images/s | TFLOP/s | of peak | note |",
    ):
        assert line in out, f"{line!r} missing from:\n{out}"
    assert "OVER 1e-2" not in out
    assert "failed" not in out
    assert out.rstrip().endswith("done")


def test_gpu_sh_prepares_the_environment_and_passes_its_arguments_on(tmp_path: Path) -> None:
    environment = os.environ | {"PYTHON": sys.executable, "OUT": str(tmp_path)}

    result = subprocess.run(
        ["bash", "bench/gpu.sh", "--help"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "--quick" in result.stdout
    assert "--quick" in (tmp_path / "gpu_bench.log").read_text()
