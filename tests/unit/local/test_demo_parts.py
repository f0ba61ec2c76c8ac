"""The demo's parts without a stack: samples, previews, the runtime file, the command line, the table."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from immichvr_local import cli, demo
from immichvr_local.preview import TURBO, colorize, fit, preview_png, preview_size
from immichvr_local.runtime import STATE_DIR_VARIABLE, RuntimeInfo, runtime_file, state_dir
from immichvr_local.samples import EXIF_ORIENTATION, SAMPLES, demo_samples


def _depth_png(width: int, height: int) -> bytes:
    ramp = np.linspace(0, 65535, height)[:, None].repeat(width, axis=1).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, "PNG")
    return out.getvalue()


def test_samples_are_upright_once_their_exif_orientation_is_applied() -> None:
    samples = demo_samples()

    assert [sample.filename for sample in samples] == [spec.filename for spec in SAMPLES]
    assert {sample.orientation for sample in samples} == {1, 3, 6}
    for sample in samples:
        with Image.open(io.BytesIO(sample.data)) as image:
            assert Image.MIME.get(image.format or "") == sample.content_type
            assert image.getexif().get(EXIF_ORIENTATION, 1) == sample.orientation
            assert ImageOps.exif_transpose(image).size == sample.upright_size
    assert any(sample.content_type == "image/png" for sample in samples)


def test_a_preview_is_the_photo_beside_the_coloured_depth_map() -> None:
    photo = demo_samples()[1]  # the EXIF-6 portrait, 1200x1600 upright

    png = preview_png(photo.data, _depth_png(1200, 1600))

    with Image.open(io.BytesIO(png)) as preview:
        assert (preview.format, preview.mode) == ("PNG", "RGB")
        assert preview.size == preview_size((1200, 1600)) == (2160, 1440)  # each half fitted to 1440
        # The right half runs from far (top, blue end) to near (bottom, red end).
        assert preview.getpixel((1080 + 540, 5)) == tuple(TURBO[0])
        assert preview.getpixel((1080 + 540, 1434)) == tuple(TURBO[255])
        # The photo is upright: sky at the top, ground at the bottom.
        sky, ground = preview.getpixel((540, 20)), preview.getpixel((540, 1420))
        assert isinstance(sky, tuple)
        assert isinstance(ground, tuple)
        assert sky[2] > sky[1]  # blue sky
        assert ground[1] > ground[2]  # green ground


def test_without_a_photo_the_left_half_is_grey_and_small_maps_are_not_enlarged() -> None:
    with Image.open(io.BytesIO(preview_png(None, _depth_png(300, 200)))) as preview:
        assert preview.size == (600, 200)
        assert preview.getpixel((10, 10)) == (128, 128, 128)
    assert fit((300, 200)) == (300, 200)


def test_a_flat_depth_map_colours_without_dividing_by_zero() -> None:
    flat = Image.fromarray(np.full((4, 4), 1000, np.uint16))

    assert np.asarray(colorize(flat)).shape == (4, 4, 3)


def test_the_runtime_file_round_trips_and_its_place_can_be_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path / "state"))
    info = RuntimeInfo("http://127.0.0.1:1", "key", "http://127.0.0.1:2", "bucket", "", 42)

    info.write(runtime_file())

    assert state_dir() == tmp_path / "state"
    assert RuntimeInfo.read(tmp_path / "state" / "runtime.json") == info
    (tmp_path / "garbage.json").write_text("{not json")
    assert RuntimeInfo.read(tmp_path / "garbage.json") is None
    assert RuntimeInfo.read(tmp_path / "missing.json") is None


def test_a_runner_removes_only_its_own_runtime_file(tmp_path: Path) -> None:
    path = tmp_path / "runtime.json"
    RuntimeInfo("http://a", "k", pid=os.getpid() + 1).write(path)
    cli._forget_runtime(path)
    assert path.exists()

    RuntimeInfo("http://a", "k", pid=os.getpid()).write(path)
    cli._forget_runtime(path)
    assert not path.exists()


def test_no_command_still_means_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    called: dict[str, object] = {}
    monkeypatch.setattr(cli, "serve", lambda args: called.update(serve=args.port) or 0)
    monkeypatch.setattr(demo, "run_demo", lambda out, timeout_s: called.update(demo=(out, timeout_s)) or 0)
    monkeypatch.setattr(demo, "run_import", lambda ids, out, timeout_s: called.update(ids=ids) or 0)

    assert cli.main(["--port", "3123"]) == 0
    assert cli.main(["demo", "--out", "x", "--timeout", "5"]) == 0
    assert cli.main(["import", "a", "b"]) == 0

    assert called == {"serve": 3123, "demo": (Path("x"), 5.0), "ids": ["a", "b"]}


def test_import_says_what_to_do_when_no_stack_has_an_immich(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path))
    monkeypatch.delenv("IMMICH_URL", raising=False)
    out = io.StringIO()
    console = demo.Console(out=out, err=out)

    # Nothing running, and no IMMICH_URL here to start one with.
    assert demo.run_import(["x"], tmp_path / "out", console=console) == 2
    assert "IMMICH_URL" in out.getvalue()

    # A running stack started without an Immich.
    RuntimeInfo("http://127.0.0.1:9", "k", immich_url="").write(runtime_file())
    monkeypatch.setattr(demo, "answers", lambda stack: True)
    assert demo.run_import(["x"], tmp_path / "out", console=console) == 2
    assert "has no Immich" in out.getvalue()


def test_the_table_names_every_item_its_status_versions_sizes_and_seconds() -> None:
    done = demo.Tracked(
        "a.jpg", "a.jpg", started=10.0, media_item_id="id-a", status="completed", finished=12.5
    )
    done.sizes = {"thumbnail": (1440, 1080), "full_resolution": (1600, 1200)}
    refused = demo.Tracked("asset", "asset", started=0.0, status="refused", finished=0.1, error="HTTP 422")

    lines = demo.table([done, refused]).splitlines()

    assert lines[0].split()[:4] == ["item", "filename", "status", "versions"]
    assert lines[2].split() == ["id-a", "a.jpg", "completed", "2/2", "1440x1080", "|", "1600x1200", "2.5"]
    assert lines[3].split() == ["asset", "asset", "refused", "0/2", "-", "|", "-", "0.1"]
    assert done.ok
    assert not refused.ok


def test_output_names_are_safe_and_unique() -> None:
    taken: set[str] = set()

    names = [demo._stem(name, taken) for name in ("IMG 0001.JPG", "IMG 0001.jpg", "../../etc", "....")]

    assert names == ["IMG_0001", "IMG_0001-2", "etc", "photo"]
