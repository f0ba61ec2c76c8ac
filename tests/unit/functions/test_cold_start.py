"""A Lambda's cold start pays for every module its handler imports. Each handler is imported in a fresh
interpreter, as Lambda's init does, and what it pulled in is checked: the API handlers never load the
image stack, and no function ever loads torch (the model runs on the SageMaker endpoint).

The import times are printed (`pytest -s`) for docs/reliability.md; they depend on the
machine, so nothing here asserts on them."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from functools import cache
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

HANDLERS = (
    "functions.media_api.app",
    "functions.immich_import.app",
    "functions.upload_ingest.app",
    "functions.depth_processor.app",
    "functions.depth_eviction.app",
    "functions.immich_webhook.app",
    "functions.immich_sync.app",
    "functions.immich_import_worker.app",
    "functions.inference_completion.app",
)
HEAVY = ("numpy", "PIL", "pillow_heif", "torch", "transformers")
RUNS = 3

_PROBE = """
import json, sys, time
started = time.perf_counter()
import importlib
importlib.import_module(sys.argv[1])
elapsed_ms = (time.perf_counter() - started) * 1000
print(json.dumps({"ms": elapsed_ms, "loaded": [m for m in sys.argv[2:] if m in sys.modules],
                  "modules": len(sys.modules)}))
"""


def _import_once(module: str, importtime: bool = False) -> tuple[dict[str, Any], str]:
    # The environment the template gives the functions, minus AWS: an import must not need the network.
    env = os.environ | {"MEDIA_BUCKET": "bucket", "PROCESSING_QUEUE_URL": "https://sqs.invalid/q"}
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [sys.executable, *flags, "-c", _PROBE, module, *HEAVY],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _heaviest_packages(importtime_log: str, count: int = 4) -> list[tuple[str, float]]:
    """Third-party packages by cumulative import time (ms), from `python -X importtime`'s report:
    a package is imported once, so its own line holds its whole cost wherever it is nested."""
    ours = {"functions", "immichvr_depth"}
    totals: dict[str, float] = {}
    for line in importtime_log.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue
        name = fields[2].strip()
        if "." in name or name in ours or name in sys.stdlib_module_names or name.startswith("_"):
            continue
        totals[name] = int(fields[1]) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:count]


@cache
def measured(module: str) -> dict[str, Any]:
    runs = [_import_once(module)[0] for _ in range(RUNS)]
    _, importtime_log = _import_once(module, importtime=True)
    result = {
        "median_ms": statistics.median(run["ms"] for run in runs),
        "min_ms": min(run["ms"] for run in runs),
        "loaded": runs[0]["loaded"],
        "modules": runs[0]["modules"],
        "heaviest": _heaviest_packages(importtime_log),
    }
    heaviest = ", ".join(f"{name} {ms:.0f} ms" for name, ms in result["heaviest"])
    print(
        f"\n{module}: median {result['median_ms']:.0f} ms (min {result['min_ms']:.0f}) over {RUNS} fresh "
        f"interpreters, {result['modules']} modules; heavy: {result['loaded'] or 'none'}; "
        f"heaviest packages: {heaviest}"
    )
    return result


def test_the_media_api_loads_neither_the_image_stack_nor_torch() -> None:
    # It presigns uploads and serves stored PNGs: it never decodes an image.
    assert measured("functions.media_api.app")["loaded"] == []


def test_the_eviction_handler_loads_neither_the_image_stack_nor_torch() -> None:
    # It reads records and deletes files: nothing to decode.
    assert measured("functions.depth_eviction.app")["loaded"] == []


@pytest.mark.parametrize(
    "module",
    ["functions.immich_webhook.app", "functions.immich_sync.app", "functions.immich_import_worker.app"],
)
def test_the_immich_automation_handlers_load_nothing_heavy_at_init(module: str) -> None:
    # The webhook and the sync read a payload or a search result and send messages; the worker
    # shares their queue module and loads the importer (and Pillow with it) on its first message.
    assert measured(module)["loaded"] == []


def test_the_import_handler_loads_pillow_to_probe_originals_but_never_numpy_or_torch() -> None:
    loaded = set(measured("functions.immich_import.app")["loaded"])

    # Every import probes the original's size and orientation with Pillow, so Pillow at init is
    # paid once per instance either way; the depth code's numpy is not.
    assert {"PIL", "pillow_heif"} <= loaded
    assert not loaded & {"numpy", "torch", "transformers"}


@pytest.mark.parametrize(
    "module",
    ["functions.upload_ingest.app", "functions.depth_processor.app", "functions.inference_completion.app"],
)
def test_the_image_handlers_load_pillow_and_numpy_but_never_torch(module: str) -> None:
    loaded = set(measured(module)["loaded"])

    assert {"PIL", "numpy"} <= loaded
    assert not loaded & {"torch", "transformers"}
