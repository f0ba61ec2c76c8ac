"""Bad input is the caller's 4xx with a JSON message, never a 500 or a dead worker."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image
from starlette.testclient import TestClient

from depth_inference.attributes import HEADER
from depth_inference.engine import DepthEngine
from depth_inference.errors import InvalidInput
from depth_inference.server import ServerSettings, create_app
from tests.inference.helpers import wait_until_ready
from tests.support.images import jpeg_bytes

JPEG = jpeg_bytes(160, 120)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size without carrying its pixels: how a decompression bomb starts."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "GIF")
    return buffer.getvalue()


CASES = {
    "empty body": (b"", "image/jpeg", "", 400, "invalid_input"),
    "truncated jpeg": (JPEG[: len(JPEG) // 2], "image/jpeg", "", 400, "invalid_input"),
    "not an image": (b"hello, I am text", "image/jpeg", "", 400, "invalid_input"),
    "gif body sent as png": (gif(), "image/png", "", 400, "invalid_input"),
    "unsupported content type": (JPEG, "text/plain", "", 415, "unsupported_media_type"),
    "gif content type": (gif(), "image/gif", "", 415, "unsupported_media_type"),
    "no content type": (JPEG, "", "", 415, "unsupported_media_type"),
    "bomb beyond twice the pixel limit": (
        png_header_only(20_000, 20_000),
        "image/png",
        "",
        413,
        "payload_too_large",
    ),
    "bomb between one and two limits": (
        png_header_only(10_000, 10_000),
        "image/png",
        "",
        413,
        "payload_too_large",
    ),
    "input size too small": (JPEG, "image/jpeg", "input_size=62", 400, "invalid_input"),
    "input size too large": (JPEG, "image/jpeg", "input_size=2052", 400, "invalid_input"),
    "input size not a number": (JPEG, "image/jpeg", "input_size=big", 400, "invalid_input"),
    "attribute without value": (JPEG, "image/jpeg", "input_size", 400, "invalid_input"),
    "unknown attribute": (JPEG, "image/jpeg", "input_sise=518", 400, "invalid_input"),
    "output width alone": (JPEG, "image/jpeg", "output_width=64", 400, "invalid_input"),
    "output size zero": (JPEG, "image/jpeg", "output_width=0,output_height=10", 400, "invalid_input"),
    "panorama too wide for its input size": (
        jpeg_bytes(2000, 20),
        "image/jpeg",
        "input_size=518",
        400,
        "invalid_input",
    ),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("body", "content_type", "attributes", "status", "code"), CASES.values(), ids=CASES)
def test_bad_input_is_a_4xx_with_json(
    client: TestClient, body: bytes, content_type: str, attributes: str, status: int, code: str
) -> None:
    headers = {"Content-Type": content_type, HEADER: attributes}

    response = client.post("/invocations", content=body, headers=headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["error"] == code
    assert answer["message"]
    # The worker is alive and well afterwards.
    assert client.get("/ping").status_code == 200
    healthy = client.post(
        "/invocations", content=JPEG, headers={"Content-Type": "image/jpeg", HEADER: "input_size=70"}
    )
    assert healthy.status_code == 200


def test_the_engine_raises_invalid_input_for_the_local_runner(engine: DepthEngine) -> None:
    with pytest.raises(InvalidInput) as raised:
        engine.predict(b"")
    assert raised.value.status == 400

    with pytest.raises(InvalidInput) as raised:
        engine.predict(png_header_only(20_000, 20_000))
    assert raised.value.status == 413

    with pytest.raises(InvalidInput) as raised:
        engine.predict(JPEG, input_size=5000)
    assert raised.value.status == 400


def test_invalid_input_accepts_only_client_error_statuses() -> None:
    assert InvalidInput("too big", 413).code == "payload_too_large"
    with pytest.raises(ValueError, match="InvalidInput"):
        InvalidInput("oops", 500)


def test_an_unexpected_failure_is_a_json_500(engine: DepthEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_infer(batch: object) -> object:
        raise RuntimeError("device lost")

    monkeypatch.setattr(engine, "infer", broken_infer)
    with TestClient(create_app(lambda: engine, ServerSettings()), raise_server_exceptions=False) as client:
        wait_until_ready(client)
        response = client.post("/invocations", content=JPEG, headers={"Content-Type": "image/jpeg"})

    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "RuntimeError: device lost"}
