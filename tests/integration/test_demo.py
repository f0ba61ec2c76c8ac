"""`immichvr-local demo` and `immichvr-local import` as a newcomer runs them: a second process against
a running stack, found through its runtime.json, leaving depth maps, previews and a table."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from immichvr_local.demo import answers
from immichvr_local.preview import fit, preview_size
from immichvr_local.runtime import STATE_DIR_VARIABLE, RuntimeInfo
from immichvr_local.samples import SAMPLES
from immichvr_local.stack import free_port
from tests.fakes.fake_immich import FakeImmich

pytestmark = pytest.mark.slow

IMMICH_KEY = "demo-immich-key"
THUMBNAIL_LONG_SIDE = 1440
VERSIONS = ("thumbnail", "full_resolution")


@dataclass
class Stack:
    workdir: Path
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def immich() -> Iterator[FakeImmich]:
    with FakeImmich(version="2.7.5", api_key=IMMICH_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(
    immich: FakeImmich, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The runner in a temporary working directory, its runtime.json in a temporary state directory."""
    workdir = tmp_path_factory.mktemp("demo")
    log = workdir / "runner.log"
    env = os.environ | {
        STATE_DIR_VARIABLE: str(workdir / "state"),
        "IMMICH_URL": immich.url,
        "IMMICH_API_KEY": IMMICH_KEY,
        "DEPTH_MODEL": str(tiny_model_dir),
        # Small model inputs keep the tiny model quick on a CPU; sizes of the answers do not change.
        "THUMBNAIL_INPUT_SIZE": "126",
        "FULL_RESOLUTION_INPUT_SIZE": "252",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("MEDIA_TABLE", "DEPTH_MAPS_TABLE", "API_KEY"):
        env.pop(name, None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "immichvr_local", "--port", str(free_port())],
            cwd=workdir,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(workdir / "state" / "runtime.json", process, log)
        # The clients get none of the runner's settings: they find it through runtime.json alone.
        client_env = {
            name: value for name, value in env.items() if not name.startswith(("IMMICH_", "DEPTH_"))
        }
        yield Stack(workdir, client_env, log)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert not (workdir / "state" / "runtime.json").exists(), "the runner leaves no stale runtime.json"


def _wait_until_serving(
    runtime: Path, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"runner exited early:\n{log.read_text()}")
        info = RuntimeInfo.read(runtime)
        if info is not None and answers(info):
            return
        time.sleep(0.3)
    raise AssertionError(f"runner did not start:\n{log.read_text()}")


def _client(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("immichvr-local")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "immichvr_local"]
    return subprocess.run(
        [*command, *args],
        check=False,
        cwd=stack.workdir,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """The printed table's rows by filename (its second column)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("item "))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip() or line.startswith(" "):
            break
        cells = line.split()
        rows[cells[1]] = cells
    return rows


def _assert_outputs(out: Path, stem: str, full_size: tuple[int, int]) -> None:
    expected = {"full_resolution": full_size, "thumbnail": fit(full_size, THUMBNAIL_LONG_SIDE)}
    for version in VERSIONS:
        with Image.open(out / f"{stem}.{version}.depth.png") as depth:
            assert depth.format == "PNG"
            assert depth.size == expected[version], (stem, version)
        with Image.open(out / f"{stem}.{version}.preview.png") as preview:
            assert (preview.format, preview.mode) == ("PNG", "RGB")
            assert preview.size == preview_size(expected[version]), (stem, version)


def test_demo_uploads_the_samples_and_leaves_depth_maps_previews_and_a_table(stack: Stack) -> None:
    out = stack.workdir / "demo-out"

    result = _client(stack, "demo", "--out", str(out))

    assert result.returncode == 0, result.stdout + result.stderr + stack.log.read_text()[-3000:]
    assert "Using the stack running at" in result.stdout
    rows = _table_rows(result.stdout)
    for spec in SAMPLES:
        assert rows[spec.filename][2:4] == ["completed", "2/2"], result.stdout
        # Upright: the EXIF-rotated samples come back in their displayed shape.
        _assert_outputs(out, Path(spec.filename).stem, spec.upright_size)
    assert len(list(out.iterdir())) == 4 * len(SAMPLES)


def test_import_follows_immich_assets_to_their_depth_maps(stack: Stack, immich: FakeImmich) -> None:
    sideways = immich.add_image(width=1200, height=900, orientation=6, file_name="sideways.jpg")
    flat = immich.add_image(width=1000, height=750, file_name="flat.jpg")
    out = stack.workdir / "import-out"

    result = _client(stack, "import", sideways, flat, "--out", str(out))

    assert result.returncode == 0, result.stdout + result.stderr + stack.log.read_text()[-3000:]
    rows = _table_rows(result.stdout)
    assert rows["sideways.jpg"][2:4] == ["completed", "2/2"], result.stdout
    assert rows["flat.jpg"][2:4] == ["completed", "2/2"], result.stdout
    _assert_outputs(out, "sideways", (900, 1200))
    _assert_outputs(out, "flat", (1000, 750))


def test_import_exits_non_zero_and_says_why_when_an_asset_is_refused(
    stack: Stack, immich: FakeImmich
) -> None:
    video = immich.add_video()

    result = _client(stack, "import", video, "--out", str(stack.workdir / "refused-out"))

    assert result.returncode == 1, result.stdout + result.stderr
    row = _table_rows(result.stdout)[video]
    assert row[2] == "refused"
    assert "HTTP 422" in result.stdout
