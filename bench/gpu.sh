#!/usr/bin/env bash
# The GPU benchmark as one prepared run on a bare GPU machine (bench/gpu_bench.py says what it prints;
# docs/benchmarks.md, how to run it and what it needs):
#   bench/gpu.sh           the full run, under 6 minutes on an H200 (the Python part stops itself at 320 s)
#   bench/gpu.sh --quick   tiny model and sizes, seconds, on a CPU too (PYTHON=.venv/bin/python here)
# Python packages the machine lacks (isal, for the PNG encoder) travel as wheels in .whl/ at the
# repository's root and are installed into a temporary folder first. The log is also written to
# $OUT/gpu_bench.log when OUT is set (the device tool brings that folder back), else /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu-bench-site .whl/*.whl
    export PYTHONPATH=/tmp/gpu-bench-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/inference_container:$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
missing=$("$PYTHON" -c '
import importlib.util
names = ("torch", "transformers", "PIL", "numpy", "isal")
print(" ".join(name for name in names if importlib.util.find_spec(name) is None))')
if [ -n "$missing" ]; then
    echo "missing Python packages: $missing; carry them as wheels in .whl/ (docs/benchmarks.md)" >&2
    exit 2
fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
fi
log=${OUT:-/tmp}/gpu_bench.log
timeout "${GPU_BENCH_TIMEOUT_S:-345}" "$PYTHON" -m bench.gpu_bench "$@" 2>&1 | tee "$log"
