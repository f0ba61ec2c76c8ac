"""The SageMaker hosting contract: /ping, /invocations and their headers, in-process and over a socket."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from depth_inference.attributes import HEADER
from depth_inference.engine import DepthEngine
from depth_inference.errors import ModelLoadError
from depth_inference.server import ServerSettings, create_app
from tests.inference.helpers import decode_depth, wait_until_ready
from tests.support.images import jpeg_bytes


def parse_attributes(header: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in header.split(","))


def test_ping_is_503_while_the_model_loads_and_200_once_it_is_warm(engine: DepthEngine) -> None:
    release = threading.Event()

    def slow_load() -> DepthEngine:
        release.wait(timeout=30)
        return engine

    with TestClient(create_app(slow_load, ServerSettings())) as client:
        loading = client.get("/ping")
        assert loading.status_code == 503
        assert loading.json() == {"status": "loading"}
        early = client.post(
            "/invocations", content=jpeg_bytes(64, 48), headers={"Content-Type": "image/jpeg"}
        )
        assert early.status_code == 503
        assert early.json()["error"] == "model_not_ready"

        release.set()
        wait_until_ready(client)
        ready = client.get("/ping")
        assert ready.status_code == 200
        # What serves, in which precision and why: the engine's own account of it.
        assert ready.json() == {
            "status": "healthy",
            "model_name": "depth-anything-v2",
            "model_version": "custom-32",
            "device": "cpu",
            "dtype": engine.precision.name,
            "reason": engine.precision.reason,
            "compile": engine.compile_status(),
        }
        assert ready.json()["dtype"] in ("bfloat16", "float32")
        assert ready.json()["reason"]
        # The tiny model is far too quick to repay a compile: auto leaves it off, and says so.
        assert ready.json()["compile"]["state"] == "off"
        assert "parameters" in ready.json()["compile"]["reason"]


def test_ping_explains_a_failed_load() -> None:
    def failing_load() -> DepthEngine:
        raise ModelLoadError("could not load the depth model 'x'; set DEPTH_MODEL")

    with TestClient(create_app(failing_load, ServerSettings())) as client:
        deadline = time.monotonic() + 10
        while (answer := client.get("/ping")).json().get("status") == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert answer.status_code == 503
        assert answer.json()["error"] == "model_load_failed"
        assert "DEPTH_MODEL" in answer.json()["message"]


def test_ping_says_which_precision_serves_and_why(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_DTYPE", "bfloat16")
    engine = DepthEngine.load(str(tiny_model_dir), device="cpu", warm_up=False)

    with TestClient(create_app(lambda: engine, ServerSettings())) as client:
        wait_until_ready(client)
        body = client.get("/ping").json()

    assert (body["status"], body["device"], body["dtype"]) == ("healthy", "cpu", "bfloat16")
    assert body["reason"].startswith("DEPTH_DTYPE=bfloat16")  # "(emulated: ...)" on a CPU without bf16 units


def test_a_bad_depth_dtype_keeps_ping_at_503_naming_the_choices(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_DTYPE", "float8")

    with TestClient(create_app(lambda: DepthEngine.load(str(tiny_model_dir), device="cpu"))) as client:
        deadline = time.monotonic() + 10
        while (answer := client.get("/ping")).json().get("status") == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.01)

    assert answer.status_code == 503
    assert answer.json()["error"] == "model_load_failed"
    assert (
        "DEPTH_DTYPE must be one of auto, bfloat16, float32 on cpu, not 'float8'" in answer.json()["message"]
    )


def test_invocation_answers_a_16_bit_png_at_the_working_resolution_with_its_facts(client: TestClient) -> None:
    response = client.post(
        "/invocations", content=jpeg_bytes(800, 600), headers={"Content-Type": "image/jpeg"}
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.mode == "I;16"
        # 800x600 at input 518: the short side becomes 518, the long one the nearest multiple of 14.
        assert image.size == (686, 518)
    headers = response.headers
    assert headers["X-Model-Name"] == "depth-anything-v2"
    assert headers["X-Model-Version"] == "custom-32"
    assert headers["X-Input-Size"] == "518"
    depth_min, depth_max = float(headers["X-Depth-Min"]), float(headers["X-Depth-Max"])
    assert depth_min < depth_max
    # The only response header InvokeEndpoint passes back carries the same facts, floats exactly.
    facts = parse_attributes(headers[HEADER])
    assert facts == {
        "model_name": "depth-anything-v2",
        "model_version": "custom-32",
        "depth_min": repr(depth_min),
        "depth_max": repr(depth_max),
        "input_size": "518",
    }
    depth = decode_depth(response.content, depth_min, depth_max)
    assert depth.min() == pytest.approx(depth_min)
    assert depth.max() == pytest.approx(depth_max)
    # The PNG carries the same facts itself: an asynchronous endpoint keeps the body, not the headers.
    with Image.open(io.BytesIO(response.content)) as image:
        assert {key: image.info.get(key) for key in facts} == facts


def test_custom_attributes_choose_input_and_output_size(client: TestClient) -> None:
    response = client.post(
        "/invocations",
        content=jpeg_bytes(800, 600),
        headers={"Content-Type": "image/jpeg", HEADER: "input_size=140,output_width=320,output_height=240"},
    )

    assert response.status_code == 200, response.text
    assert response.headers["X-Input-Size"] == "140"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (320, 240)


def test_input_size_is_rounded_to_a_multiple_of_14(client: TestClient) -> None:
    response = client.post(
        "/invocations",
        content=jpeg_bytes(400, 300),
        headers={"Content-Type": "image/jpeg; charset=binary", HEADER: "input_size=100"},
    )

    assert response.status_code == 200, response.text
    assert response.headers["X-Input-Size"] == "98"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (126, 98)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_png_webp_and_heic_are_accepted(client: TestClient, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg_bytes(160, 120))).save(buffer, fmt)
    content_type = {"PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}[fmt]

    response = client.post(
        "/invocations",
        content=buffer.getvalue(),
        headers={"Content-Type": content_type, HEADER: "input_size=70"},
    )

    assert response.status_code == 200, response.text


def test_exif_orientation_is_applied_before_inference(client: TestClient) -> None:
    # Orientation 6: stored landscape, shown portrait; the depth map must match what people see.
    response = client.post(
        "/invocations",
        content=jpeg_bytes(280, 210, orientation=6),
        headers={"Content-Type": "image/jpeg", HEADER: "input_size=70"},
    )

    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (70, 98)


def test_metrics_report_batches(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post(
        "/invocations",
        content=jpeg_bytes(96, 72),
        headers={"Content-Type": "image/jpeg", HEADER: "input_size=70"},
    )

    metrics = client.get("/metrics").json()

    assert metrics["ready"] is True
    assert metrics["batches"] == 1
    assert metrics["images"] == 1
    assert metrics["batch_size_histogram"] == {"1": 1}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_python_m_depth_inference_serve_runs_uvicorn_and_stops_on_sigterm(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    port = _free_port()
    environment = os.environ | {
        "DEPTH_MODEL": str(tiny_model_dir),
        "SM_MODEL_DIR": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "depth_inference", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.communicate()[0].decode()
            assert time.monotonic() < deadline, "the server never became ready"
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)

        response = httpx.post(
            f"{base}/invocations",
            content=jpeg_bytes(320, 240),
            headers={"Content-Type": "image/jpeg", HEADER: "input_size=140"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert parse_attributes(response.headers[HEADER])["model_name"] == "depth-anything-v2"
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.size == (182, 140)
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    # A graceful shutdown: uvicorn finishes the lifespan, then re-raises SIGTERM so the exit status says why.
    assert "Application shutdown complete" in output, output
    assert server.returncode in (0, -signal.SIGTERM), output
